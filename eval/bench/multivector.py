"""Multi-vector benchmark: exact MaxSim, this project's index, PyLate's PLAID and Voyager on the same token vectors.

Every system sees the same document and query token embeddings (encoded once and
cached), so the comparison measures indexing and search only. Latency is per query,
one at a time: the query's encoding time (measured once per query, shared by all
systems) plus the system's search time.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from eval.beir import evaluate_run, load_beir
from eval.bench.collections import DISTRACTORS, Collection, check_choices, encode_collection, scale_collection
from eval.bench.process_memory import peak_rss_mib
from eval.paired import ratio_interval, top_k_agreement
from index.multivector.defaults import search_defaults
from index.multivector.maxsim import maxsim_segments
from index.multivector.token_index import MultiVectorIndex

logger = logging.getLogger(__name__)

SYSTEMS = ("exact", "modernsearch", "modernsearch-pq64", "modernsearch-sq8", "plaid", "voyager", "plaid-2bit")
DEPTH = 100
# Beside the recorded defaults, on the same index: pruning off and at other thresholds, fewer and more candidates.
SEARCH_SWEEP = (
    {"prune": 0.0},
    {"prune": 0.4},
    {"prune": 0.5},
    {"candidates": 256, "shortlist": 256},
    {"candidates": 2048, "shortlist": 8192},
)


@dataclass
class SystemResult:
    """What one system achieved on the collection."""

    system: str
    metrics: dict[str, float]
    build_seconds: float
    index_bytes: int
    bytes_per_token: float
    p50_ms: float
    p95_ms: float
    peak_rss_mib: float
    notes: str = ""
    search_rss_mib: float | None = None  # a fresh process that only opens the index and searches
    per_query_ndcg: dict[str, float] = field(default_factory=dict)
    top10: dict[str, list[str]] = field(default_factory=dict)
    vs_exact: dict[str, Any] = field(
        default_factory=dict
    )  # nDCG@10 ratio with its paired bootstrap interval, top-10 agreement


def _run_system(
    name: str,
    collection: Collection,
    qrels: dict,
    build: Callable[[Path], Any],
    search: Callable[[Any, np.ndarray], list[tuple[str, float]]]
    | dict[str, Callable[[Any, np.ndarray], list[tuple[str, float]]]],
    scratch: Path,
    notes: str = "",
) -> list[SystemResult]:
    """Build once, then measure each search variant (a dict of them: search-time knobs on one index)."""
    folder = scratch / name
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    index = build(folder)
    build_seconds = time.perf_counter() - started
    index_bytes = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    n_tokens = int(collection.offsets[-1])
    variants = search if isinstance(search, dict) else {name: search}
    results = []
    for label, variant in variants.items():
        run, latencies = {}, []
        for qid, query, encode_ms in zip(collection.query_ids, collection.queries, collection.query_encode_ms):
            started = time.perf_counter()
            hits = variant(index, query)
            latencies.append(encode_ms + (time.perf_counter() - started) * 1000)
            run[qid] = {doc_id: float(score) for doc_id, score in hits}
        metrics, per_query = evaluate_run(run, qrels)
        results.append(
            SystemResult(
                label,
                metrics,
                round(build_seconds, 2),
                index_bytes,
                round(index_bytes / n_tokens, 2),
                round(statistics.median(latencies), 1),
                round(float(np.percentile(latencies, 95)), 1),
                round(peak_rss_mib(), 1),
                notes,
                per_query_ndcg={q: m["ndcg@10"] for q, m in per_query.items()},
                top10={q: sorted(docs, key=lambda d: (-docs[d], d))[:10] for q, docs in run.items()},
            )
        )
    return results


def run_benchmark(
    dataset_dir: Path | str,
    model: str = "minilm-colbert",
    scale: int | None = None,
    systems: tuple[str, ...] = SYSTEMS,
    progress: bool = True,
    encoder: Any = None,
    distractors: str = "noise",
) -> dict[str, Any]:
    """Run every requested system on the same token vectors; returns a JSON-ready report."""
    check_choices("systems", systems, SYSTEMS)
    check_choices("distractors", [distractors], DISTRACTORS)  # before encoding, which can take minutes
    dataset = load_beir(dataset_dir)
    collection = encode_collection(Path(dataset_dir), model, progress, encoder)
    scratch = Path(tempfile.mkdtemp(prefix="modernsearch-bench-"))
    results: list[SystemResult] = []
    try:
        if scale:
            collection = scale_collection(collection, scale, scratch, distractors=distractors)
        n_docs, n_tokens = len(collection.doc_ids), int(collection.offsets[-1])
        for name in systems:
            measured = _SYSTEMS[name](collection, dataset.qrels, scratch)
            results.extend(measured)
            shutil.rmtree(scratch / name, ignore_errors=True)
            for r in measured if progress else []:
                logger.info(
                    "%s: nDCG@10 %.4f, p50 %s ms, build %s s", r.system, r.metrics["ndcg@10"], r.p50_ms, r.build_seconds
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _compare_with_exact(results)
    return {
        "kind": "bench-multivector",
        "dataset": str(dataset_dir),
        "model": model,
        "documents": n_docs,
        "real_documents": collection.n_real,
        "distractors": distractors if scale else None,
        "tokens": n_tokens,
        "queries": len(collection.query_ids),
        "results": [r.__dict__ for r in results],
    }


def _compare_with_exact(results: list[SystemResult]) -> None:
    """Fill each result's ``vs_exact``: nDCG@10 ratio to exact MaxSim with a 95% paired bootstrap interval, and
    the share of exact MaxSim's top 10 it returns (needs no judgments, so it sees ranking changes nDCG cannot)."""
    exact = next((r for r in results if r.system == "exact"), None)
    if exact is None:
        return
    for r in results:
        ratio, low, high = ratio_interval(r.per_query_ndcg, exact.per_query_ndcg)
        r.vs_exact = {
            "ndcg@10_ratio": round(ratio, 4),
            "ndcg@10_ratio_ci95": [round(low, 4), round(high, 4)],
            "top10_agreement": round(top_k_agreement(r.top10, exact.top10), 4),
        }


def _exact(collection: Collection, qrels: dict, scratch: Path) -> list[SystemResult]:
    def build(folder: Path) -> np.ndarray:
        path = folder / "tokens.npy"
        if isinstance(collection.tokens, np.memmap) and collection.tokens.filename:
            os.link(collection.tokens.filename, path)  # already a .npy on disk: no copy
        else:
            np.save(path, collection.tokens)
        return np.load(path, mmap_mode="r")

    def search(tokens: np.ndarray, query: np.ndarray) -> list[tuple[str, float]]:
        scores = np.empty(len(collection.doc_ids), dtype=np.float32)
        offsets = collection.offsets
        step = 20_000
        for start in range(0, len(collection.doc_ids), step):
            end = min(start + step, len(collection.doc_ids))
            block = np.asarray(tokens[offsets[start] : offsets[end]])
            scores[start:end] = maxsim_segments(query, block, offsets[start : end + 1] - offsets[start])
        top = np.argsort(-scores, kind="stable")[:DEPTH]
        return [(collection.doc_ids[i], scores[i]) for i in top]

    return _run_system(
        "exact", collection, qrels, build, search, scratch, "brute-force MaxSim over float32 tokens (memory-mapped)"
    )


def _modernsearch(collection: Collection, qrels: dict, scratch: Path, codec: str = "pq") -> list[SystemResult]:
    """This project's index with residual codec ``codec``: the recorded defaults, and (default codec only) the
    :data:`SEARCH_SWEEP` knob settings on the same index."""
    name = "modernsearch" if codec == "pq" else f"modernsearch-{codec}"

    recorded: dict[str, Any] = {}  # what the manifest would keep, for the search-memory process

    def build(folder: Path) -> MultiVectorIndex:
        index = MultiVectorIndex.build(
            collection.tokens, collection.offsets, np.arange(len(collection.doc_ids)), codec=codec
        )
        index.save(folder)
        recorded.update(search_params=index.search_params, unit_tokens=index.unit_tokens)
        return MultiVectorIndex.load(folder, **recorded)

    def searcher(**knobs: Any) -> Callable[[MultiVectorIndex, np.ndarray], list[tuple[str, float]]]:
        def search(index: MultiVectorIndex, query: np.ndarray) -> list[tuple[str, float]]:
            scores, positions = index.search(query, DEPTH, **knobs)
            return [(collection.doc_ids[int(p)], s) for p, s in zip(positions, scores)]

        return search

    defaults = search_defaults(len(collection.doc_ids), int(collection.offsets[-1]))
    variants = {name: searcher()}
    for knobs in SEARCH_SWEEP if codec == "pq" else ():
        if knobs != {k: defaults[k] for k in knobs} and knobs.get("candidates", 0) < len(collection.doc_ids):
            variants[f"{name} " + " ".join(f"{k}={v}" for k, v in knobs.items())] = searcher(**knobs)
    described = ", ".join(f"{knob} {value}" for knob, value in defaults.items())
    results = _run_system(
        name,
        collection,
        qrels,
        build,
        variants,
        scratch,
        f"{described}; rows 'modernsearch knob=value': the same index searched with that setting",
    )
    results[0].search_rss_mib = _search_process_rss(scratch / name, collection.queries, recorded)
    return results


def _search_process_rss(index_dir: Path, queries: list[np.ndarray], recorded: dict[str, Any]) -> float:
    """Peak RSS of a fresh process that opens the saved index as the manifest's ``recorded`` facts say (search knobs,
    unit tokens) and answers every query (``eval.bench.search_memory``)."""
    queries_file = index_dir.parent / "search-memory-queries.npz"
    np.savez(queries_file, *queries)
    done = subprocess.run(
        [sys.executable, "-m", "eval.bench.search_memory", str(index_dir), str(queries_file), json.dumps(recorded)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mib"])


def _plaid(collection: Collection, qrels: dict, scratch: Path, nbits: int | None = None) -> list[SystemResult]:
    """PyLate's PLAID with its defaults (4-bit residuals), or with ``nbits`` residual bits per dimension."""
    from pylate import indexes

    def build(folder: Path) -> Any:
        index = indexes.PLAID(
            index_folder=str(folder),
            index_name="plaid",
            override=True,
            show_progress=False,
            **({"nbits": nbits} if nbits else {}),
        )
        index.add_documents(
            documents_ids=collection.doc_ids,
            documents_embeddings=[collection.doc_vectors(i) for i in range(len(collection.doc_ids))],
        )
        return index

    def search(index: Any, query: np.ndarray) -> list[tuple[str, float]]:
        return [(r["id"], r["score"]) for r in index([query], k=DEPTH)[0]]

    if nbits:
        return _run_system(
            f"plaid-{nbits}bit",
            collection,
            qrels,
            build,
            search,
            scratch,
            f"PyLate PLAID (fast-plaid backend), {nbits}-bit residuals, other settings PyLate's defaults",
        )
    return _run_system(
        "plaid",
        collection,
        qrels,
        build,
        search,
        scratch,
        "PyLate PLAID (fast-plaid backend), PyLate defaults (4-bit residuals)",
    )


def _voyager(collection: Collection, qrels: dict, scratch: Path) -> list[SystemResult]:
    from pylate import indexes, retrieve

    def build(folder: Path) -> Any:
        index = indexes.Voyager(index_folder=str(folder), index_name="voyager", override=True)
        index.add_documents(
            documents_ids=collection.doc_ids,
            documents_embeddings=[collection.doc_vectors(i) for i in range(len(collection.doc_ids))],
        )
        return retrieve.ColBERT(index=index)

    def search(retriever: Any, query: np.ndarray) -> list[tuple[str, float]]:
        return [(r["id"], r["score"]) for r in retriever.retrieve([query], k=DEPTH)[0]]

    return _run_system(
        "voyager",
        collection,
        qrels,
        build,
        search,
        scratch,
        "PyLate Voyager (HNSW over tokens) + rerank, PyLate defaults",
    )


_SYSTEMS: dict[str, Callable[[Collection, dict, Path], list[SystemResult]]] = {
    "exact": _exact,
    "modernsearch": _modernsearch,
    "modernsearch-pq64": partial(_modernsearch, codec="pq64"),
    "modernsearch-sq8": partial(_modernsearch, codec="sq8"),
    "plaid": _plaid,
    "voyager": _voyager,
    "plaid-2bit": partial(_plaid, nbits=2),
}
