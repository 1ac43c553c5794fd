"""Encoding speed benchmark: plain ``SentenceTransformer.encode`` (the baseline) against this project's encoder
(token-budget batching) on each backend, on the same texts, each variant in a fresh process so its peak
memory is its own. Every variant's vectors are searched exactly (FAISS Flat) and scored with pytrec_eval, and its
query encoder is timed one query at a time (what a search pays)."""

from __future__ import annotations

import multiprocessing
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from eval.beir import evaluate_run, load_beir, read_corpus_records
from eval.bench.process_memory import peak_rss_mib
from index.documents import embedded_text
from retrieval.config import BACKENDS

VARIANTS = ("baseline", *BACKENDS)
LATENCY_QUERIES = 100  # encoded one at a time for the query p50


def run_encode_benchmark(
    dataset_dir: Path | str, model: str = "minilm", variants: tuple[str, ...] = VARIANTS, limit: int | None = None
) -> dict[str, Any]:
    """Measure every variant on the dataset (the first ``limit`` documents if given); the baseline first."""
    context = multiprocessing.get_context("spawn")
    results = []
    for variant in variants:
        with context.Pool(1) as pool:
            results.append(pool.apply(_measure, (variant, str(dataset_dir), model, limit)))
    return {
        "dataset": str(dataset_dir),
        "model": model,
        "documents": results[0]["documents"],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "results": results,
    }


def _measure(variant: str, dataset_dir: str, model: str, limit: int | None) -> dict[str, Any]:
    import faiss

    from retrieval.config import BuildConfig
    from retrieval.encode.chunking import ChunkPolicy
    from retrieval.encode.dense import DenseEncoder
    from retrieval.encode.documents import encode_dense

    dataset = load_beir(dataset_dir)
    records = list(read_corpus_records(dataset.corpus_path))[:limit]
    texts = [embedded_text(r.get("title") or "", r["text"]) for r in records]
    backend = "torch" if variant == "baseline" else variant
    encoder = DenseEncoder.load(model, device="cpu", backend=backend)  # exports and caches ONNX files on first use
    lengths = [
        len(ids)
        for ids in encoder.tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
    ]
    tokens = sum(min(n, encoder.chunk_limit) + 2 for n in lengths)
    config = BuildConfig()
    started = time.perf_counter()
    if variant == "baseline":
        vectors = encoder.model.encode(texts)  # sentence-transformers with its default settings
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    else:
        policy = ChunkPolicy.for_model(encoder.chunk_limit, long_docs="truncate")  # the same work as the baseline
        vectors = encode_dense(encoder, texts, policy, config.batch_size, config.token_budget).vectors
    seconds = time.perf_counter() - started

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    query_ids = list(dataset.judged_queries)
    query_texts = [dataset.queries[q] for q in query_ids]
    query_vectors = encoder.encode_queries(query_texts)
    encoder.encode_queries(query_texts[:3])  # warm-up
    latencies = []
    for text in query_texts[:LATENCY_QUERIES]:
        started_query = time.perf_counter()
        encoder.encode_queries([text])
        latencies.append(1000 * (time.perf_counter() - started_query))
    scores, found = index.search(query_vectors, 100)
    run = {
        q: {records[j]["id"]: float(s) for s, j in zip(row_scores, row_found) if j >= 0}
        for q, row_scores, row_found in zip(query_ids, scores, found)
    }
    metrics, _ = evaluate_run(run, dataset.qrels)
    return {
        "variant": variant,
        "backend": encoder.backend,
        "query_backend": encoder.query_backend,
        "documents": len(texts),
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "docs_per_second": round(len(texts) / seconds, 2),
        "tokens_per_second": round(tokens / seconds, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "query_p50_ms": round(float(np.median(latencies)), 2),
        "metrics": {k: round(v, 4) for k, v in metrics.items()},
        "settings": "SentenceTransformer.encode defaults (batch 32)"
        if variant == "baseline"
        else f"token budget {config.token_budget}, at most {config.batch_size} texts per batch",
    }
