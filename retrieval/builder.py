"""The builder: read a corpus, store its documents, encode them and write one index folder atomically."""

from __future__ import annotations

import dataclasses
import logging
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from index.bm25 import BM25Index
from index.dense import DenseIndex, factory_for
from index.docstore import Document, DocumentStore, Duplicate
from index.lock import writer_lock
from index.ownership import check_build_target, resolve_index_path
from index.multivector import MultiVectorIndex
from index.format import (
    DENSE_NAME,
    DOCUMENTS_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    describe_files,
    discard_partial,
    staged_folder,
    write_json_atomic,
)
from retrieval.build_encoding import encode_into_scratch
from retrieval.build_progress import (
    PROGRESS_NAME,
    SCRATCH_EMBEDDINGS,
    SCRATCH_FILES,
    SCRATCH_LENGTHS,
    SCRATCH_SPANS,
    SCRATCH_TOKENS,
    SCRATCH_VECTOR_IDS,
    BuildProgress,
    resume_key,
)
from retrieval.config import BuildConfig
from retrieval.corpus.readers import CorpusError, ReadStats, read_corpus
from retrieval.document_encoding import chunk_policy
from retrieval.encoders import DenseEncoder
from retrieval.lexical import ANALYSER, analyse
from retrieval.multivector_encoder import MultiVectorEncoder
from retrieval.query_runtime import prepare_light_encoder

logger = logging.getLogger(__name__)
MAX_TRAINING_VECTORS = 100_000


@dataclass
class BuildSummary:
    """What a build did: counts, time, size; printed at the end and stored in the manifest."""

    index_dir: str
    model: str
    factory: str
    documents: int
    read: int
    skipped_empty: int
    skipped_invalid: int
    duplicates: int
    replaced_encoding: int
    seconds: float
    encode_seconds: float
    index_bytes: int
    fell_back_from: str | None = None
    problems: list[str] = field(default_factory=list)
    resumed_from: int = 0
    long_documents: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def docs_per_second(self) -> float:
        """Encoding throughput."""
        return self.documents / self.encode_seconds if self.encode_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form for the manifest and ``--json`` output."""
        return {**dataclasses.asdict(self), "docs_per_second": round(self.docs_per_second, 2)}


def build_index(
    corpus: Path | str | Iterable[Document],
    index_dir: Path | str,
    config: BuildConfig = BuildConfig(),
    *,
    hf_dataset: bool = False,
    encoder: DenseEncoder | None = None,
    multivector_encoder: MultiVectorEncoder | None = None,
    progress: bool = True,
    resume: bool = True,
) -> BuildSummary:
    """Build an index folder from a corpus path (or an iterable of documents).

    The folder is written beside ``index_dir`` and renamed into place only when
    complete, so a failed or interrupted build leaves any earlier index intact.
    A build from a path keeps its progress (``resume``): run again after a crash or
    kill with the same corpus and settings, it continues from its last encoded batch.
    """
    index_dir = resolve_index_path(index_dir)
    from_path = isinstance(corpus, (str, Path))
    if from_path and not hf_dataset and not Path(corpus).exists():
        raise CorpusError(f"Corpus {corpus} does not exist.")  # before the model loads: fail in a second
    sources = [Path(corpus)] if from_path and Path(corpus).exists() else []
    check_build_target(index_dir, sources)  # before any lock or staging folder exists beside it
    with writer_lock(index_dir):  # before the model loads: a second writer fails at once
        check_build_target(index_dir, sources)  # what another writer committed meanwhile is checked too
        return build_index_locked(corpus, index_dir, config, hf_dataset=hf_dataset, encoder=encoder,
                                  multivector_encoder=multivector_encoder, progress=progress, resume=resume)


def build_index_locked(
    corpus: Path | str | Iterable[Document],
    index_dir: Path,
    config: BuildConfig,
    *,
    hf_dataset: bool = False,
    encoder: DenseEncoder | None = None,
    multivector_encoder: MultiVectorEncoder | None = None,
    progress: bool = True,
    resume: bool = True,
    corpus_label: str | None = None,
    history: list[dict[str, Any]] | None = None,
) -> BuildSummary:
    """:func:`build_index` for a caller that already holds the index's writer lock (compaction rebuilds).

    ``corpus_label`` and ``history`` (the manifest's update log) carry over what a rebuild should keep.
    """
    started = time.perf_counter()
    encoders = _load_encoders(config, encoder, multivector_encoder)
    from_path = isinstance(corpus, (str, Path))
    corpus_label = corpus_label or (str(corpus) if from_path else "<documents>")
    key = resume_key(corpus, config, encoders, hf_dataset) if resume and from_path else None
    if from_path and not resume:
        discard_partial(index_dir)  # starting over: drop an interrupted build's work
    with staged_folder(index_dir, resume_key=key) as staging:
        work = BuildProgress.load(staging)
        if work.phase == "reading":
            stats = ReadStats()
            documents = read_corpus(corpus, config, stats, hf_dataset=hf_dataset) if from_path else _counted(corpus, stats)
            work = _read_into_store(staging, documents, stats, config, corpus_label, progress)
        elif progress and work.phase == "encoding":
            within = f", and {work.partial['chunks']:,} chunks of the next, long one" if work.partial else ""
            print(f"Resuming the interrupted build in {staging}: {work.encoded:,} of {work.documents:,} documents already "
                  f"encoded{within}.", file=sys.stderr)
        if work.phase == "encoding":
            store = DocumentStore.open(staging / DOCUMENTS_NAME)
            try:
                built = _encode_into_indexes(store, encoders, config, work, staging, progress)
            finally:
                store.close()
            summary = _finish(staging, index_dir, encoders, built, config, corpus_label, work, started, history)
            work.phase, work.summary = "complete", summary.to_dict()
            work.save(staging)
        for scratch in (*SCRATCH_FILES, PROGRESS_NAME):
            (staging / scratch).unlink(missing_ok=True)
    if "dense" in encoders:
        _prepare_query_runtime(encoders["dense"])
    return BuildSummary(**{k: v for k, v in work.summary.items() if k != "docs_per_second"})


def _read_into_store(
    staging: Path, documents: Iterable[Document], stats: ReadStats, config: BuildConfig, corpus_label: str, progress: bool
) -> BuildProgress:
    """Read every document into a new store (reading is quick: an interrupted or failed read leaves nothing to resume)."""
    (staging / DOCUMENTS_NAME).unlink(missing_ok=True)
    try:
        store = DocumentStore.create(staging / DOCUMENTS_NAME)
        try:
            duplicates = _store_documents(store, documents, config, progress)
            count = len(store)
        finally:
            store.close()
        if count == 0:
            raise CorpusError(
                f"{corpus_label} has no documents with text ({stats.read} records read, "
                f"{stats.skipped_empty} empty, {stats.skipped_invalid} invalid). Nothing to index."
            )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    work = BuildProgress(phase="encoding", documents=count, duplicates=len(duplicates), stats=dataclasses.asdict(stats))
    work.save(staging)
    return work


def _prepare_query_runtime(encoder: DenseEncoder) -> None:
    """Leave a checked light query encoder for this model so searches start fast (a failure only costs speed)."""
    try:
        prepare_light_encoder(encoder)
    except Exception:  # noqa: BLE001 - the index is committed; searches fall back to the full model
        logger.warning("Could not prepare the fast query encoder; searches will load the full model.", exc_info=True)


def _fell_back_from(encoders: dict[str, Any]) -> str | None:
    """The model a build asked for but could not load (it used the offline fallback instead), if any."""
    return next((e.resolved.fell_back_from for e in encoders.values() if e.resolved.fell_back_from), None)


def _finish(
    staging: Path, index_dir: Path, encoders: dict[str, Any], built: dict[str, Any], config: BuildConfig,
    corpus_label: str, work: BuildProgress, started: float, history: list[dict[str, Any]] | None,
) -> BuildSummary:
    """Save every index and the chunk spans, then the manifest that checksums them."""
    payload = [DOCUMENTS_NAME]
    if "dense" in built:
        store = DocumentStore.open(staging / DOCUMENTS_NAME, readonly=False)
        try:
            store.add_chunk_spans(np.fromfile(staging / SCRATCH_SPANS, dtype=np.int64).reshape(-1, 4))
        finally:
            store.close()
        built["dense"].save(staging / DENSE_NAME)
        payload.append(DENSE_NAME)
    if "multivector" in built:
        payload += built["multivector"].save(staging)
    if "bm25" in built:
        payload += built["bm25"].save(staging)
    stats = work.stats
    summary = BuildSummary(
        index_dir=str(index_dir),
        model=" + ".join(e.describe()["name"] for e in encoders.values()),
        factory=" + ".join(_structure(kind, index) for kind, index in built.items()),
        documents=work.documents,
        read=stats["read"],
        skipped_empty=stats["skipped_empty"],
        skipped_invalid=stats["skipped_invalid"],
        duplicates=work.duplicates,
        replaced_encoding=stats["replaced_encoding"],
        seconds=round(time.perf_counter() - started, 3),
        encode_seconds=round(work.encode_seconds, 3),
        index_bytes=sum((staging / name).stat().st_size for name in payload),
        fell_back_from=_fell_back_from(encoders),
        problems=stats["examples"],
        resumed_from=work.resumed_from,
        long_documents=work.long_documents,
    )
    manifest = _manifest(staging, encoders, built, config, corpus_label, summary, payload)
    if history:
        manifest["updates"] = history
    write_json_atomic(staging / MANIFEST_NAME, manifest)
    return summary


def _counted(documents: Iterable[Document], stats: ReadStats) -> Iterator[Document]:
    for doc in documents:
        stats.read += 1
        if not doc.text.strip():
            stats.skipped_empty += 1
            continue
        yield doc


def _store_documents(store: DocumentStore, documents: Iterable[Document], config: BuildConfig, progress: bool) -> list[Duplicate]:
    """Write documents to SQLite batch by batch; fail on duplicate ids unless told what to keep."""
    from tqdm.auto import tqdm

    duplicates: list[Duplicate] = []
    batch: list[Document] = []
    bar = tqdm(desc="Reading", unit=" doc", disable=not progress, mininterval=0.5)

    def flush() -> None:
        found = store.add(batch, on_duplicate="last" if config.on_duplicate == "last" else "first")
        duplicates.extend(found)
        if found and config.on_duplicate == "error":
            listed = "; ".join(f"{d.doc_id!r} ({d.first_source} and {d.again_source})" for d in duplicates[:5])
            raise CorpusError(
                f"Duplicate document ids: {listed}",
                "Make ids unique, or pass --on-duplicate first or --on-duplicate last to keep one copy.", ("--on-duplicate",),
            )
        bar.update(len(batch))
        batch.clear()

    try:
        for doc in documents:
            batch.append(doc)
            if len(batch) >= config.read_batch_size:
                flush()
        if batch:
            flush()
    finally:
        bar.close()
    return duplicates


def _load_encoders(config: BuildConfig, dense: DenseEncoder | None, multivector: MultiVectorEncoder | None) -> dict[str, Any]:
    """The encoders the mode needs, loaded before anything touches the disk."""
    encoders: dict[str, Any] = {}
    if config.builds_dense:
        encoders["dense"] = dense or DenseEncoder.load(config.model, device=config.device, backend=config.backend)
    if config.builds_multivector:
        spec = config.model if config.mode == "multivector" else config.multivector_model
        encoders["multivector"] = multivector or MultiVectorEncoder.load(spec, device=config.device)
    return encoders


def _structure(kind: str, index: Any) -> str:
    if kind == "dense":
        return index.factory
    if kind == "bm25":
        return f"BM25(k1={index.params['k1']}, b={index.params['b']})"
    facts = index.describe()
    return f"multivector({facts['centroids']} centroids, {facts['pq'] if facts['codec'] == 'pq' else 'exact vectors'})"


def _encode_into_indexes(
    store: DocumentStore, encoders: dict[str, Any], config: BuildConfig, work: BuildProgress, staging: Path, progress: bool
) -> dict[str, Any]:
    """Encode every stored document once per encoder into append-only scratch files (checkpointed, see
    :mod:`retrieval.build_encoding`), then build each index from them."""
    encode_into_scratch(store, encoders, config, work, staging, progress)
    dense_encoder, mv_encoder = encoders.get("dense"), encoders.get("multivector")
    row_ids = store.row_ids()
    built: dict[str, Any] = {}
    if dense_encoder is not None:
        vector_ids = np.fromfile(staging / SCRATCH_VECTOR_IDS, dtype=np.int64)
        vectors = np.memmap(staging / SCRATCH_EMBEDDINGS, dtype=np.float32, mode="r", shape=(len(vector_ids), dense_encoder.dimension))
        built["dense"] = _build_dense(vectors, vector_ids, config)
        del vectors
    if mv_encoder is not None:
        lengths = np.fromfile(staging / SCRATCH_LENGTHS, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        tokens = np.memmap(staging / SCRATCH_TOKENS, dtype=np.float32, mode="r", shape=(int(offsets[-1]), mv_encoder.dimension))
        built["multivector"] = MultiVectorIndex.build(tokens, offsets, row_ids, codec=config.multivector_codec)
        del tokens
    if config.builds_bm25:
        lexical: list[list[str]] = []
        for _, texts in store.iter_texts(4096):
            lexical.extend(analyse(texts))
        built["bm25"] = BM25Index.build(lexical, row_ids, {"k1": config.bm25_k1, "b": config.bm25_b})
    return built


def _build_dense(vectors: np.ndarray, row_ids: np.ndarray, config: BuildConfig) -> DenseIndex:
    """Train (if the factory needs it) and fill a FAISS index from the memory-mapped embeddings."""
    count, dim = vectors.shape
    dense = DenseIndex.create(dim, factory_for(config.index_type, count, dim))
    if dense.needs_training:
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(count, size=min(count, MAX_TRAINING_VECTORS), replace=False))
        dense.train(np.asarray(vectors[sample]))
    for start in range(0, count, 65_536):
        dense.add(np.asarray(vectors[start : start + 65_536]), row_ids[start : start + 65_536])
    return dense


def _manifest(
    folder: Path, encoders: dict[str, Any], built: dict[str, Any], config: BuildConfig, corpus: str,
    summary: BuildSummary, payload: list[str],
) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": config.mode,
    }
    if "dense" in built:
        dense = built["dense"]
        manifest["model"] = encoders["dense"].describe()
        manifest["dense"] = {
            "file": DENSE_NAME,
            "factory": dense.factory,
            "index_type": config.index_type,
            "metric": "inner_product",
            "dimension": dense.dimension,
            "count": len(dense),
            "search_params": dense.search_params,
            "ids": "row_id * 65536 + chunk number",
            "chunking": {**chunk_policy(config, encoders["dense"]).describe(), **summary.long_documents.get("dense", {})},
        }
        imbalance = dense.cell_imbalance()
        if imbalance is not None:  # IVF cells: what compaction compares against to detect drift
            manifest["dense"]["trained"] = {"cell_imbalance": round(imbalance, 6), "vectors": len(dense)}
    if "multivector" in built:
        mv = built["multivector"]
        manifest["multivector"] = {
            "model": encoders["multivector"].describe(), **mv.describe(),
            "trained": {"residual_energy": round(mv.residual_energy(), 6), "tokens": mv.n_tokens},
            "chunking": {**chunk_policy(config, encoders["multivector"]).describe(), **summary.long_documents.get("multivector", {})},
        }
    if "bm25" in built:
        manifest["bm25"] = {**built["bm25"].describe(), "analyser": ANALYSER}
    manifest.update({
        "documents": {"file": DOCUMENTS_NAME, "count": summary.documents},
        "build": {"corpus": corpus, "config": dataclasses.asdict(config), "summary": summary.to_dict()},
        "versions": _versions(),
        "files": describe_files(folder, payload),
    })
    return manifest


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("modernsearch", "faiss-cpu", "sentence-transformers", "pylate", "transformers", "torch", "bm25s"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found
