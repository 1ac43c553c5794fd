"""Filtered search benchmark: recall and latency of filters at several selectivities, against exact filtered search
and against post-filtering (search 10k unfiltered, then drop what the filter excludes).

The collection is a BEIR corpus's real vectors (dense: the offline MiniLM; multi-vector: the ColBERT model's token
vectors, shared with ``bench multivector``) grown with seeded distractors to the requested size; every document gets
seeded metadata, stored in a real document store, whose ``bucket`` field (uniform over 0..999) gives exact
selectivities: ``bucket < 1`` admits 0.1% of the documents, ``bucket < 500`` half. Each query runs alone; the
latency is the filter (its rows, kept by the store after its first run: that first run's SQL time is reported
apart) plus the search. Queries are encoded once beforehand and shared by every system.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from eval.beir import load_beir, read_corpus_records
from eval.bench.collections import encode_collection, scale_collection
from eval.paired import top_k_agreement
from index.chunks import pack_ids
from index.components.dense import DenseComponent, VectorRows
from index.docstore import DocumentStore
from index.documents import Document, embedded_text
from index.multivector.maxsim import maxsim_segments
from index.multivector.token_index import MultiVectorIndex
from index.where import parse_where
from retrieval.config import home_dir
from retrieval.registry import DENSE, MULTIVECTOR

logger = logging.getLogger(__name__)

SELECTIVITIES = (
    ("0.1%", "bucket < 1"),
    ("1%", "bucket < 10"),
    ("10%", "bucket < 100"),
    ("50%", "bucket < 500"),
    ("none", None),
)
K = 10
POST_FILTER_DEPTH = 10 * K
DENSE_NOISE = (
    0.03  # a copied vector keeps cosine ~0.87 with its source in 384 dimensions, as the multi-vector distractors do
)


def dense_collection(dataset_dir: Path, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(document vectors, query vectors)`` of a BEIR folder with the offline MiniLM (cached beside the multi-vector
    benchmark's token vectors)."""
    from retrieval.encode.dense import DenseEncoder

    dataset = load_beir(dataset_dir)
    cache = home_dir() / "bench-cache" / f"{Path(dataset_dir).resolve().name}-minilm-dense.npz"
    encoder = DenseEncoder.load("minilm", device="cpu")
    queries = encoder.encode_queries([dataset.queries[q] for q in dataset.judged_queries])
    if cache.exists():
        return np.load(cache)["vectors"], queries
    docs = list(read_corpus_records(dataset.corpus_path))
    from tqdm.auto import tqdm

    texts = [embedded_text(d["title"], d["text"]) for d in docs]
    vectors = np.vstack(
        [
            encoder.encode_documents(texts[start : start + 256], token_budget=16384)
            for start in tqdm(range(0, len(texts), 256), desc="Encoding documents", unit=" batch", disable=not progress)
        ]
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=vectors)
    return vectors, queries


def grow(vectors: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``vectors`` followed by seeded noisy copies of random ones, ``n`` unit vectors in all."""
    rng = np.random.default_rng(seed)
    extra = vectors[rng.integers(0, len(vectors), size=max(0, n - len(vectors)))]
    extra = extra + rng.normal(0.0, DENSE_NOISE, extra.shape).astype(np.float32)
    extra /= np.linalg.norm(extra, axis=1, keepdims=True)
    return np.vstack([vectors, extra]).astype(np.float32)


def metadata_store(folder: Path, n: int, seed: int = 0) -> DocumentStore:
    """A real document store of ``n`` documents (row ids 1..n) with seeded metadata: ``bucket`` (0..999, uniform),
    ``category`` (20 values), ``year`` (1990-2024)."""
    rng = np.random.default_rng(seed)
    buckets, categories, years = rng.integers(0, 1000, n), rng.integers(0, 20, n), rng.integers(1990, 2025, n)
    store = DocumentStore.create(folder / "documents.sqlite")
    store.set_metadata_types({"bucket": "integer", "category": "string", "year": "integer"})
    for start in range(0, n, 20_000):
        store.insert(
            [
                Document(
                    f"d{i}", "", "", {"bucket": int(buckets[i]), "category": f"c{categories[i]}", "year": int(years[i])}
                )
                for i in range(start, min(n, start + 20_000))
            ]
        )
    return store


def first_filter_ms(path: Path) -> dict[str, float]:
    """Milliseconds of each selectivity's filter the first time a store runs it (a searcher keeps the rows of its
    recent filters, so the queries after the first one reuse them)."""
    times = {}
    for label, where in SELECTIVITIES:
        if where:
            store = DocumentStore.open(path)
            times[label] = round(_timed(_match, store, where)[1], 3)
            store.close()
    return times


def _match(store: Any, where: str) -> Any:
    """The rows ``where`` admits, its text parsed as part of the filter's cost."""
    return store.matching(parse_where(where))


def _timed(run: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """``run(*args, **kwargs)`` and the milliseconds it took."""
    started = time.perf_counter()
    value = run(*args, **kwargs)
    return value, (time.perf_counter() - started) * 1000


def _row(
    system: str,
    selectivity: str,
    allowed_count: int,
    latencies: list[float],
    filter_ms: list[float],
    quality: float,
    returned: list[int],
    plan: str,
) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "system": system,
        "selectivity": selectivity,
        "allowed": allowed_count,
        "recall@10": round(quality, 4),
        "mean_results": round(statistics.fmean(returned), 2),
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
        "filter_ms_p50": round(statistics.median(filter_ms), 3) if filter_ms else 0.0,
        "plan": plan,
    }


def _dense_rows(
    name: str, component: DenseComponent, vectors: np.ndarray, queries: np.ndarray, store: DocumentStore
) -> list[dict[str, Any]]:
    rows = []
    for label, where in SELECTIVITIES:
        allowed = store.matching(parse_where(where)) if where else None
        chosen = np.arange(1, len(vectors) + 1) if allowed is None else allowed
        exact = vectors[chosen - 1] @ queries.T  # (allowed, queries): ground truth, exact filtered search
        truth = [set(chosen[np.argsort(-exact[:, i], kind="stable")[:K]].tolist()) for i in range(len(queries))]
        latencies, filter_ms, found, post_found, post_latencies = [], [], [], [], []
        document = parse_where(where) if where else None
        for query in queries:  # filtered search, each query alone
            allowed_now, spent = _timed(store.matching, document) if where else (None, 0.0)
            rankings, searched = _timed(component.search, query[None, :], K, allowed=allowed_now)
            ranking = rankings[0]
            latencies.append(spent + searched)
            filter_ms.append(spent)
            found.append(ranking.rows.tolist())
        if where:  # the baseline: search deeper without the filter, then drop what it excludes
            kept = set(chosen.tolist())
            for query in queries:
                allowed_now, spent = _timed(store.matching, document)
                posts, post_ms = _timed(component.search, query[None, :], POST_FILTER_DEPTH)
                post = posts[0]
                post_latencies.append(spent + post_ms)
                post_found.append([r for r in post.rows.tolist() if r in kept][:K])
        plan = component.index.plan(len(chosen)) if allowed is not None else "unfiltered"
        rows.append(
            _row(name, label, len(chosen), latencies, filter_ms, _recall(found, truth), [len(f) for f in found], plan)
        )
        if where:
            rows.append(
                _row(
                    f"{name} post-filter",
                    label,
                    len(chosen),
                    post_latencies,
                    filter_ms,
                    _recall(post_found, truth),
                    [len(f) for f in post_found],
                    f"search {POST_FILTER_DEPTH}, then filter",
                )
            )
    return rows


def _recall(found: list[list[int]], truth: list[set[int]]) -> float:
    return float(np.mean([len(set(f) & t) / len(t) for f, t in zip(found, truth) if t]))


def _multivector_rows(
    index: MultiVectorIndex, tokens: np.ndarray, offsets: np.ndarray, queries: list[np.ndarray], store: DocumentStore
) -> list[dict[str, Any]]:
    rows = []
    doc_rows = np.asarray(index.doc_ids)
    for label, where in SELECTIVITIES:
        allowed = store.matching(parse_where(where)) if where else None
        chosen = doc_rows if allowed is None else allowed
        truth, found, post_found, latencies, post_latencies, filter_ms = {}, {}, {}, [], [], []
        positions = chosen - 1
        starts, ends = offsets[positions], offsets[positions + 1]
        spans = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)])
        allowed_tokens, local = tokens[spans], np.concatenate([[0], np.cumsum(ends - starts)])
        for i, query in enumerate(queries):  # ground truth: exact MaxSim over the allowed documents
            scores = maxsim_segments(query, allowed_tokens, local)
            truth[str(i)] = [str(r) for r in chosen[np.lexsort((chosen, -scores))[:K]]]
        del allowed_tokens
        document = parse_where(where) if where else None
        for i, query in enumerate(queries):
            allowed_now, spent = _timed(store.matching, document) if where else (None, 0.0)
            (_, ids), searched = _timed(index.search, query, K, allowed=allowed_now)
            latencies.append(spent + searched)
            filter_ms.append(spent)
            found[str(i)] = [str(r) for r in ids]
        if where:
            kept = set(chosen.tolist())
            for i, query in enumerate(queries):
                allowed_now, spent = _timed(store.matching, document)
                (_, post), post_ms = _timed(index.search, query, POST_FILTER_DEPTH)
                post_latencies.append(spent + post_ms)
                post_found[str(i)] = [str(r) for r in post if r in kept][:K]
        plan = "shortlist among allowed" if allowed is not None else "unfiltered"
        rows.append(
            _row(
                MULTIVECTOR,
                label,
                len(chosen),
                latencies,
                filter_ms,
                top_k_agreement(found, truth),
                [len(f) for f in found.values()],
                plan,
            )
        )
        if where:
            rows.append(
                _row(
                    "multivector post-filter",
                    label,
                    len(chosen),
                    post_latencies,
                    filter_ms,
                    top_k_agreement(post_found, truth),
                    [len(f) for f in post_found.values()],
                    f"search {POST_FILTER_DEPTH}, then filter",
                )
            )
    return rows


def run_benchmark(
    dataset_dir: Path,
    *,
    scale: int | None = None,
    multivector_scale: int | None = None,
    systems: tuple[str, ...] = ("flat", "hnsw", MULTIVECTOR),
    progress: bool = True,
) -> dict[str, Any]:
    """Every system at every selectivity; a JSON-ready report with one row per system, selectivity and method."""
    dataset_dir = Path(dataset_dir)
    rows: list[dict[str, Any]] = []
    sizes: dict[str, int] = {}
    first: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-filter-") as scratch:
        folder = Path(scratch)
        dense_systems = [s for s in systems if s in ("flat", "hnsw")]
        if dense_systems:
            base, queries = dense_collection(dataset_dir, progress)
            vectors = grow(base, scale or len(base))
            sizes[DENSE] = len(vectors)
            (folder / DENSE).mkdir()
            store = metadata_store(folder / DENSE, len(vectors))
            first[DENSE] = first_filter_ms(store.path)
            ids = pack_ids(np.arange(1, len(vectors) + 1, dtype=np.int64), np.zeros(len(vectors), dtype=np.int64))
            for system in dense_systems:
                logger.info("Building the %s index of %s vectors", system, f"{len(vectors):,}")
                component, build_ms = _timed(DenseComponent.build, VectorRows(vectors, ids), {"index_type": system})
                logger.info("Built in %.1f s", build_ms / 1000)
                rows += _dense_rows(f"dense {system}", component, vectors, queries, store)
            store.close()
        if MULTIVECTOR in systems:
            collection = encode_collection(dataset_dir, "minilm-colbert", progress)
            (folder / "mv").mkdir()
            grown = scale_collection(
                collection, multivector_scale or len(collection.doc_ids), folder / "mv", distractors="mix"
            )
            n = len(grown.doc_ids)
            sizes[MULTIVECTOR] = n
            store = metadata_store(folder / "mv", n)
            first[MULTIVECTOR] = first_filter_ms(store.path)
            logger.info("Building the multi-vector index of %s documents", f"{n:,}")
            index = MultiVectorIndex.build(grown.tokens, grown.offsets, np.arange(1, n + 1, dtype=np.int64))
            rows += _multivector_rows(index, np.asarray(grown.tokens), grown.offsets, grown.queries, store)
            store.close()
    return {
        "dataset": str(dataset_dir),
        "documents": sizes,
        "first_filter_ms": first,
        "k": K,
        "queries": len(load_beir(dataset_dir).judged_queries),
        "selectivities": [label for label, _ in SELECTIVITIES],
        "results": rows,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
