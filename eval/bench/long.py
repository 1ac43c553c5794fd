"""Long-document benchmark: truncation to the model's input against chunking (+ max aggregation for dense,
concatenated chunk tokens for multi-vector), nDCG@10, p50 and build time, for a dense and a multi-vector model; then
the multi-vector engine on the chunked documents' token vectors against exact MaxSim over the same vectors."""

from __future__ import annotations

import dataclasses
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from eval.beir import BeirDataset, evaluate_searcher, load_beir
from retrieval.build.builder import build_index
from retrieval.config import BuildConfig
from retrieval.registry import DENSE, MULTIVECTOR
from retrieval.search.searcher import Searcher

SETUPS = (("minilm", DENSE), ("minilm-colbert", MULTIVECTOR))
CODECS = ("pq", "pq64")
DEPTH = 100


def run_long_benchmark(
    dataset_dir: Path | str,
    setups: tuple[tuple[str, str], ...] = SETUPS,
    queries: int | None = 200,
    progress: bool = True,
    codecs: tuple[str, ...] = CODECS,
) -> dict[str, Any]:
    """Build and evaluate each (model, mode) twice on the dataset: ``--long-docs truncate`` and ``chunk``, on the
    same seeded sample of ``queries`` judged queries (all with ``None``). The chunked multi-vector build keeps its
    exact token vectors, so the engine rows (each codec in ``codecs`` at its recorded knobs, the default codec also at
    other knob settings) are compared with exact MaxSim over the very same vectors."""
    dataset = _sample(load_beir(dataset_dir), queries)
    results: list[dict[str, Any]] = []
    engine: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="modernsearch-bench-long-") as scratch:
        for model, mode in setups:
            for long_docs in ("truncate", "chunk"):
                folder = Path(scratch) / f"{model}-{long_docs}"
                with_engine = mode == MULTIVECTOR and long_docs == "chunk"
                config = BuildConfig(
                    model=model, mode=mode, long_docs=long_docs, multivector_codec="none" if with_engine else "pq"
                )
                started = time.perf_counter()
                summary = build_index(dataset.corpus_path, folder, config, progress=progress, resume=False)
                seconds = time.perf_counter() - started
                searcher = Searcher.load(folder)
                row = {
                    "model": model,
                    "mode": mode,
                    "long_docs": long_docs,
                    "build_seconds": round(seconds, 1),
                    "documents": summary.documents,
                    **summary.long_documents.get(mode, {}),
                }
                if with_engine:
                    engine = _engine_rows(
                        folder, searcher.multivector_encoder, dataset, Path(scratch) / "engine", codecs
                    )
                    default = next(r for r in engine if r["system"] == "modernsearch")  # default codec and knobs
                    row |= {
                        "metrics": default["metrics"],
                        "p50_ms": default["p50_ms"],
                        "system": default["system"],
                        "vs_exact": default["vs_exact"],
                    }
                else:
                    report = evaluate_searcher(searcher, dataset, mode=mode)
                    row |= {
                        "metrics": {k: round(v, 4) for k, v in report.metrics.items()},
                        "p50_ms": _p50_ms(searcher, dataset, mode),
                    }
                searcher.close()
                results.append(row)
    return {
        "dataset": str(dataset_dir),
        "queries": len(dataset.judged_queries),
        "query_sample_seed": 0,
        "k": DEPTH,
        "results": results,
        "engine": engine,
    }


def _sample(dataset: BeirDataset, queries: int | None) -> BeirDataset:
    """A seeded sample of ``queries`` judged queries (exact MaxSim over every token of ~200 whole meeting
    transcripts takes seconds per query on two cores)."""
    if queries is None or queries >= len(dataset.judged_queries):
        return dataset
    chosen = sorted(random.Random(0).sample(sorted(dataset.judged_queries), queries))
    return dataclasses.replace(
        dataset, queries={q: dataset.queries[q] for q in chosen}, qrels={q: dataset.qrels[q] for q in chosen}
    )


def _p50_ms(searcher: Searcher, dataset: BeirDataset, mode: str) -> float:
    """Median milliseconds of one query at a time (encoding included), ``k`` = :data:`DEPTH`."""
    latencies = []
    for qid in dataset.judged_queries:
        started = time.perf_counter()
        searcher.search(dataset.queries[qid], k=DEPTH, mode=mode)
        latencies.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(latencies), 1)


def _engine_rows(
    folder: Path, encoder: Any, dataset: BeirDataset, scratch: Path, codecs: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Exact MaxSim, then each codec's index, on the exact token vectors stored in the index ``folder`` (``bench
    multivector``'s systems: same latency measure, nDCG ratio with its interval, top-10 agreement)."""
    from eval.bench.collections import Collection
    from eval.bench.multivector import SystemResult, _compare_with_exact, _exact, _modernsearch
    from retrieval.search.opening import open_committed

    opened = open_committed(folder)
    stored = opened.components[MULTIVECTOR].index
    documents = opened.store.get(np.asarray(stored.doc_ids).tolist())
    query_ids, vectors, encode_ms = list(dataset.judged_queries), [], []
    for qid in query_ids:
        started = time.perf_counter()
        vectors.append(encoder.encode_queries([dataset.queries[qid]])[0])
        encode_ms.append((time.perf_counter() - started) * 1000)
    collection = Collection(
        [d.id for d in documents],
        stored.token_vectors,
        np.asarray(stored.doc_offsets),
        query_ids,
        vectors,
        encode_ms,
        len(documents),
    )
    scratch.mkdir(parents=True, exist_ok=True)
    measured: list[SystemResult] = _exact(collection, dataset.qrels, scratch)
    for codec in codecs:
        measured += _modernsearch(collection, dataset.qrels, scratch, codec=codec)
    _compare_with_exact(measured)
    opened.close()
    keep = (
        "system",
        "metrics",
        "build_seconds",
        "bytes_per_token",
        "p50_ms",
        "p95_ms",
        "notes",
        "search_rss_mib",
        "vs_exact",
    )
    return [{"mode": MULTIVECTOR, **{key: getattr(r, key) for key in keep}} for r in measured]
