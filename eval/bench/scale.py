"""Scale-out benchmark: Ray builds against a local build, and sharded search against one index, in one run.

Three parts, each against its baseline on the same machine:

- **build**: the first ``build_docs`` documents of a BEIR corpus built locally and with ``--engine ray`` at each
  number of encode workers (documents per second of the encoding pass, and the whole build's seconds);
- **search, in process and on Ray Serve**: an index and its copies split into ``shards`` (``modernsearch shard``,
  nothing encoded again), the same queries one at a time through :class:`Searcher` and through the Ray Serve router
  (sharded copies fan out to their shard deployments; the unsharded index is searched inside the router), p50 per
  mode, with the share of queries whose top 10 equals the unsharded index's;
- **search at scale**: the corpus grown to ``scale`` documents (``bench multivector``'s distractors, ``mix``) and
  written as a multi-vector index folder, then searched as in the previous part (whole and sharded, in process and
  on Ray Serve).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.registry import DENSE, MULTIVECTOR

logger = logging.getLogger(__name__)
K = 10


ServeStarter = Callable[[dict[str, Path], int], Callable[[], None]]
"""Starts an HTTP search service over named index folders on a loopback port and returns what stops it. The command
line passes Ray Serve's (:mod:`app.service.ray_serve`): the benchmark measures the service without importing the
application layer."""


def _p50(run: Callable[[Any], Any], items: Sequence[Any]) -> tuple[float, list[Any]]:
    """Median milliseconds of ``run`` over ``items`` (after one warm-up call), and the answers."""
    run(items[0])
    times, answers = [], []
    for item in items:
        started = time.perf_counter()
        answers.append(run(item))
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2), answers


def _same(answers: list[list[str]], reference: list[list[str]]) -> float:
    return round(sum(a == b for a, b in zip(answers, reference)) / len(reference), 3)


def bench_builds(
    dataset_dir: Path, scratch: Path, *, build_docs: int, mode: str, workers: Sequence[int], ray_address: str | None
) -> list[dict[str, Any]]:
    """The corpus slice built locally, then on Ray with each number of encode workers, at half and at full size: the
    difference between the two is the steady rate (``marginal_docs_per_second``), without the fixed costs (models
    loaded, Ray's actors started)."""
    from retrieval.build.builder import build_index
    from retrieval.config import BuildConfig

    sizes = (build_docs // 2, build_docs)
    for size in sizes:
        with (
            open(Path(dataset_dir) / "corpus.jsonl", encoding="utf-8") as src,
            open(scratch / f"corpus-{size}.jsonl", "w", encoding="utf-8") as dst,
        ):
            for _, line in zip(range(size), src):
                dst.write(line)
    config = BuildConfig(model="minilm", multivector_model="minilm-colbert", mode=mode)  # type: ignore[arg-type]
    runs = [("local", 0, config)] + [
        ("ray", w, config.with_changes(engine="ray", encode_workers=w, ray_address=ray_address)) for w in workers
    ]
    rows = []
    for engine, n_workers, settings in runs:
        timed = []
        for size in sizes:
            started = time.perf_counter()
            summary = build_index(
                scratch / f"corpus-{size}.jsonl",
                scratch / f"build-{engine}-{n_workers}-{size}",
                settings,
                progress=False,
                resume=False,
            )
            timed.append((summary, time.perf_counter() - started))
        (half, _), (full, seconds) = timed
        marginal = (full.documents - half.documents) / max(full.encode_seconds - half.encode_seconds, 1e-9)
        rows.append(
            {
                "engine": engine,
                "encode_workers": n_workers,
                "documents": full.documents,
                "docs_per_second": round(full.docs_per_second, 2),
                "marginal_docs_per_second": round(marginal, 2),
                "encode_seconds": full.encode_seconds,
                "build_seconds": round(seconds, 2),
            }
        )
        logger.info(
            "Build %s with %d workers: %.1f documents/s (steady %.1f)",
            engine,
            n_workers,
            full.docs_per_second,
            marginal,
        )
    for key in ("docs_per_second", "marginal_docs_per_second", "build_seconds"):
        for row in rows:
            row[f"{key}_vs_local"] = round(row[key] / rows[0][key], 3)
    return rows


def bench_search(
    index_dir: Path, queries: list[str], scratch: Path, *, shards: Sequence[int], serve: ServeStarter | None
) -> list[dict[str, Any]]:
    """p50 per mode of the index and of its sharded copies, in process and (with ``serve``) through the service it
    starts."""
    from index.shard_folders import shard_index
    from retrieval.search.searcher import Searcher

    folders = {1: Path(index_dir)}
    for n in shards:
        folders[n] = scratch / f"shards-{n}"
        shard_index(index_dir, folders[n], n)
    searchers = {n: Searcher.load(folder) for n, folder in folders.items()}
    rows = []
    try:
        modes = searchers[1].modes
        reference = {}
        for n, searcher in searchers.items():
            for mode in modes:
                p50, found = _p50(lambda q: searcher.search(q, k=K, mode=mode).ids, queries)  # noqa: B023 - called at once
                reference.setdefault(mode, found)
                rows.append(
                    {
                        "where": "in process",
                        "shards": n,
                        "mode": mode,
                        "p50_ms": p50,
                        "same_top10": _same(found, reference[mode]),
                    }
                )
        if serve:
            rows += _served(serve, folders, modes, queries, reference)
    finally:
        for searcher in searchers.values():
            searcher.close()
    baseline = {(r["where"], r["mode"]): r["p50_ms"] for r in rows if r["shards"] == 1}
    for row in rows:
        row["vs_unsharded"] = round(row["p50_ms"] / baseline[(row["where"], row["mode"])], 3)
    return rows


def _served(
    start: ServeStarter,
    folders: dict[int, Path],
    modes: list[str],
    queries: list[str],
    reference: dict[str, list[list[str]]],
) -> list[dict[str, Any]]:
    import httpx2 as httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    names = {n: "unsharded" if n == 1 else f"shards-{n}" for n in folders}
    stop = start({names[n]: folder for n, folder in folders.items()}, port)
    rows = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            deadline = time.monotonic() + 300
            while client.get("/ready").status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError("the Ray Serve application did not become ready within 300 s")
                time.sleep(1)
            for n, name in names.items():
                for mode in modes:
                    search = functools.partial(_served_ids, client, f"/indexes/{name}/search", mode)
                    p50, found = _p50(search, queries)
                    rows.append(
                        {
                            "where": "Ray Serve",
                            "shards": n,
                            "mode": mode,
                            "p50_ms": p50,
                            "same_top10": _same(found, reference[mode]),
                        }
                    )
    finally:
        stop()
    return rows


def _served_ids(client: Any, path: str, mode: str, query: str) -> list[str]:
    """The ids the service answers to ``query`` in ``mode``."""
    body = client.post(path, json={"query": query, "k": K, "mode": mode}).json()
    return [hit["id"] for hit in body["results"]]


def write_collection_index(folder: Path, collection: Any, documents: dict[str, Any], encoder: Any) -> float:
    """Write ``collection`` (token vectors already encoded by ``encoder``; real documents first, then distractors) as a
    multi-vector index folder, as a ``--mode multivector`` build of those documents would; returns the seconds the
    multi-vector index took to build. ``documents``: the real ones by id (stored as they are); a distractor is stored
    with a line naming it."""
    from index.components.multivector import MultiVectorComponent, TokenRows
    from index.docstore import DocumentStore
    from index.documents import Document
    from index.format import DOCUMENTS_NAME, describe_files, write_manifest
    from index.manifest import FORMAT_VERSION, BuildRecord, DocumentsSection, Manifest
    from retrieval.components import recipe_for, section_for
    from retrieval.config import BuildConfig

    folder.mkdir(parents=True)
    config = BuildConfig(model=encoder.describe()["spec"], mode=MULTIVECTOR)  # type: ignore[arg-type]
    store = DocumentStore.create(folder / DOCUMENTS_NAME)
    try:
        rows = np.asarray(
            store.insert(
                [
                    documents.get(doc_id) or Document(doc_id, f"Synthetic distractor {doc_id}.")
                    for doc_id in collection.doc_ids
                ]
            ),
            dtype=np.int64,
        )
    finally:
        store.close()
    started = time.perf_counter()
    component = MultiVectorComponent.build(
        TokenRows(collection.tokens, collection.offsets, rows), {"codec": config.multivector_codec}
    )
    seconds = time.perf_counter() - started
    recipe = recipe_for(MULTIVECTOR)
    section = section_for(
        recipe,
        {**recipe.describe_encoding(encoder, config, {}), **component.describe(), "trained": component.training_fit()},
    )
    payload = [DOCUMENTS_NAME, *component.save(folder)]
    write_manifest(
        folder,
        Manifest(
            format_version=FORMAT_VERSION,
            created_at=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            mode=MULTIVECTOR,
            documents=DocumentsSection(DOCUMENTS_NAME, len(rows)),
            components={MULTIVECTOR: section},
            files=describe_files(folder, payload),
            build=BuildRecord("bench scale: a synthetic collection", {}, {}),
        ),
    )
    return round(seconds, 1)


def corpus_documents(dataset_dir: Path) -> dict[str, Any]:
    """The documents of a BEIR folder's corpus by id."""
    from eval.beir import load_beir, read_corpus_records
    from index.documents import Document

    found = read_corpus_records(load_beir(dataset_dir).corpus_path)
    return {d["id"]: Document(d["id"], d["text"], d["title"]) for d in found}


def bench_search_at_scale(
    dataset_dir: Path,
    queries: list[str],
    scratch: Path,
    *,
    scale: int,
    shards: Sequence[int],
    serve: ServeStarter | None,
) -> dict[str, Any]:
    """The corpus grown to ``scale`` documents (``bench multivector``'s ``mix`` distractors) as a multi-vector index,
    searched whole and split into shards, in process and on Ray Serve (:func:`bench_search`)."""
    from eval.bench.collections import encode_collection, scale_collection
    from retrieval.encode.multivector import MultiVectorEncoder

    encoder = MultiVectorEncoder.load("minilm-colbert")
    collection = scale_collection(
        encode_collection(dataset_dir, "minilm-colbert", encoder=encoder), scale, scratch, distractors="mix"
    )
    build_seconds = write_collection_index(scratch / "index", collection, corpus_documents(dataset_dir), encoder)
    documents, tokens = len(collection.doc_ids), int(collection.offsets[-1])
    del collection  # its tokens are in the index now (the memory-mapped file stays in the scratch folder)
    return {
        "documents": documents,
        "tokens": tokens,
        "build_seconds": build_seconds,
        "queries": len(queries),
        "results": bench_search(scratch / "index", queries, scratch, shards=shards, serve=serve),
    }


def run_benchmark(
    dataset_dir: Path,
    index_dir: Path | None,
    *,
    build_docs: int = 1000,
    build_mode: str = DENSE,
    workers: Sequence[int] = (1, 2),
    shards: Sequence[int] = (2, 4),
    queries: int = 50,
    scale: int = 200_000,
    serve: ServeStarter | None = None,
    ray_address: str | None = None,
) -> dict[str, Any]:
    """Every part of the benchmark (``build_docs`` 0 skips the builds, no ``index_dir`` the search part, ``scale`` 0 the
    search at scale, no ``serve`` the searches through a service); a JSON-ready report."""
    from eval.beir import load_beir
    from retrieval.build.ray_encoding import connect

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if build_docs or (serve and (index_dir or scale)):  # only the parts that use Ray start it
        connect(ray_address)
    texts = list(load_beir(dataset_dir).queries.values())[:queries]
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        root = Path(scratch)
        (root / "builds").mkdir()
        (root / "search").mkdir()
        (root / "scale").mkdir()
        builds = (
            bench_builds(
                dataset_dir,
                root / "builds",
                build_docs=build_docs,
                mode=build_mode,
                workers=workers,
                ray_address=ray_address,
            )
            if build_docs
            else []
        )
        search = bench_search(index_dir, texts, root / "search", shards=shards, serve=serve) if index_dir else []
        large = (
            bench_search_at_scale(dataset_dir, texts, root / "scale", scale=scale, shards=shards, serve=serve)
            if scale
            else None
        )
    return {
        "dataset": str(dataset_dir),
        "index": str(index_dir) if index_dir else None,
        "cpus": os.cpu_count(),
        "build_mode": build_mode,
        "builds": builds,
        "search": search,
        "queries": len(texts),
        "multivector_scale": large,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
