"""Long-document benchmark: truncation to the model's input against chunking (+ max aggregation for dense,
concatenated chunk tokens for multi-vector), nDCG@10 and build time, for a dense and a multi-vector model."""

from __future__ import annotations

import dataclasses
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from eval.beir import evaluate_searcher, load_beir
from retrieval.builder import build_index
from retrieval.config import BuildConfig
from retrieval.searcher import Searcher

SETUPS = (("minilm", "dense"), ("minilm-colbert", "multivector"))


def run_long_benchmark(
    dataset_dir: Path | str, setups: tuple[tuple[str, str], ...] = SETUPS, queries: int | None = 200, progress: bool = True
) -> dict[str, Any]:
    """Build and evaluate each (model, mode) twice on the dataset: ``--long-docs truncate`` and ``chunk``, on the
    same seeded sample of ``queries`` judged queries (all with ``None``): exact MaxSim over every token of
    ~200 whole meeting transcripts takes seconds per query on two cores."""
    dataset = load_beir(dataset_dir)
    if queries is not None and queries < len(dataset.judged_queries):
        chosen = sorted(random.Random(0).sample(sorted(dataset.judged_queries), queries))
        dataset = dataclasses.replace(dataset, queries={q: dataset.queries[q] for q in chosen},
                                      qrels={q: dataset.qrels[q] for q in chosen})
    results = []
    with tempfile.TemporaryDirectory(prefix="modernsearch-bench-long-") as scratch:
        for model, mode in setups:
            for long_docs in ("truncate", "chunk"):
                folder = Path(scratch) / f"{model}-{long_docs}"
                config = BuildConfig(model=model, mode=mode, long_docs=long_docs)
                started = time.perf_counter()
                summary = build_index(dataset.corpus_path, folder, config, progress=progress, resume=False)
                seconds = time.perf_counter() - started
                searcher = Searcher.load(folder)
                report = evaluate_searcher(searcher, dataset, mode=mode)
                searcher.close()
                results.append({
                    "model": model, "mode": mode, "long_docs": long_docs, "build_seconds": round(seconds, 1),
                    "documents": summary.documents, **summary.long_documents.get(mode, {}),
                    "metrics": {k: round(v, 4) for k, v in report.metrics.items()},
                    "query_ms": report.latency_ms["mean_per_query_batched"],
                })
    return {"dataset": str(dataset_dir), "queries": len(dataset.judged_queries), "query_sample_seed": 0, "results": results}
