"""The builder: read a corpus, store its documents, encode them and write one index folder atomically."""

from __future__ import annotations

import dataclasses
import platform
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
from index.multivector import MultiVectorIndex
from index.format import (
    DENSE_NAME,
    DOCUMENTS_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    describe_files,
    folder_bytes,
    staged_folder,
    write_json_atomic,
)
from retrieval.config import BuildConfig
from retrieval.corpus.readers import CorpusError, ReadStats, read_corpus
from retrieval.encoders import DenseEncoder
from retrieval.lexical import ANALYSER, analyse
from retrieval.multivector_encoder import MultiVectorEncoder

SCRATCH_EMBEDDINGS = ".embeddings.f32"
SCRATCH_TOKENS = ".tokens.f32"
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
) -> BuildSummary:
    """Build an index folder from a corpus path (or an iterable of documents).

    The folder is written beside ``index_dir`` and renamed into place only when
    complete, so a failed or interrupted build leaves any earlier index intact.
    """
    started = time.perf_counter()
    index_dir = Path(index_dir)
    if isinstance(corpus, (str, Path)) and not hf_dataset and not Path(corpus).exists():
        raise CorpusError(f"Corpus {corpus} does not exist.")  # before the model loads: fail in a second
    with writer_lock(index_dir):  # before the model loads: a second writer fails at once
        encoders = _load_encoders(config, encoder, multivector_encoder)
        stats = ReadStats()
        if isinstance(corpus, (str, Path)):
            documents: Iterable[Document] = read_corpus(corpus, config, stats, hf_dataset=hf_dataset)
            corpus_label = str(corpus)
        else:
            documents = _counted(corpus, stats)
            corpus_label = "<documents>"

        with staged_folder(index_dir) as staging:
            store = DocumentStore.create(staging / DOCUMENTS_NAME)
            try:
                duplicates = _store_documents(store, documents, config, progress)
                count = len(store)
                if count == 0:
                    raise CorpusError(
                        f"{corpus_label} has no documents with text ({stats.read} records read, "
                        f"{stats.skipped_empty} empty, {stats.skipped_invalid} invalid). Nothing to index."
                    )
                encode_started = time.perf_counter()
                built = _encode_into_indexes(store, encoders, config, count, staging, progress)
                encode_seconds = time.perf_counter() - encode_started
            finally:
                store.close()
            payload = [DOCUMENTS_NAME]
            if "dense" in built:
                built["dense"].save(staging / DENSE_NAME)
                payload.append(DENSE_NAME)
            if "multivector" in built:
                payload += built["multivector"].save(staging)
            if "bm25" in built:
                payload += built["bm25"].save(staging)
            summary = BuildSummary(
                index_dir=str(index_dir),
                model=" + ".join(e.describe()["name"] for e in encoders.values()),
                factory=" + ".join(_structure(kind, index) for kind, index in built.items()),
                documents=count,
                read=stats.read,
                skipped_empty=stats.skipped_empty,
                skipped_invalid=stats.skipped_invalid,
                duplicates=len(duplicates),
                replaced_encoding=stats.replaced_encoding,
                seconds=0.0,
                encode_seconds=round(encode_seconds, 3),
                index_bytes=0,
                fell_back_from=next((e.resolved.fell_back_from for e in encoders.values() if e.resolved.fell_back_from), None),
                problems=stats.examples,
            )
            summary.seconds = round(time.perf_counter() - started, 3)
            summary.index_bytes = folder_bytes(staging)
            manifest = _manifest(staging, encoders, built, config, corpus_label, summary, payload)
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
                f"Duplicate document ids: {listed}. Make ids unique, or pass --on-duplicate first "
                "or --on-duplicate last to keep one copy."
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
        encoders["dense"] = dense or DenseEncoder.load(config.model, device=config.device)
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
    store: DocumentStore, encoders: dict[str, Any], config: BuildConfig, count: int, staging: Path, progress: bool
) -> dict[str, Any]:
    """Encode every stored document once per encoder into scratch files, then build each index from them.

    BM25 token lists are analysed in the same pass and kept in memory (bm25s indexes them in one call).
    """
    from tqdm.auto import tqdm

    dense_encoder, mv_encoder = encoders.get("dense"), encoders.get("multivector")
    row_ids = np.empty(count, dtype=np.int64)
    vectors = None
    if dense_encoder is not None:
        vectors = np.lib.format.open_memmap(
            staging / SCRATCH_EMBEDDINGS, mode="w+", dtype=np.float32, shape=(count, dense_encoder.dimension)
        )
    token_lengths: list[int] = []
    token_file = open(staging / SCRATCH_TOKENS, "wb") if mv_encoder is not None else None
    lexical: list[list[str]] | None = [] if config.builds_bm25 else None
    position = 0
    try:
        with tqdm(total=count, desc="Encoding", unit=" doc", disable=not progress, smoothing=0.1) as bar:
            for ids, texts in store.iter_texts(config.batch_size * 8):  # small steps keep the bar's rate and ETA live
                row_ids[position : position + len(ids)] = ids
                if vectors is not None:
                    vectors[position : position + len(ids)] = dense_encoder.encode_documents(texts, batch_size=config.batch_size)
                if token_file is not None:
                    for doc_tokens in mv_encoder.encode_documents(texts, batch_size=config.batch_size):
                        token_file.write(doc_tokens.tobytes())
                        token_lengths.append(len(doc_tokens))
                if lexical is not None:
                    lexical.extend(analyse(texts))
                position += len(ids)
                bar.update(len(ids))
    finally:
        if token_file is not None:
            token_file.close()

    built: dict[str, Any] = {}
    if vectors is not None:
        vectors.flush()
        built["dense"] = _build_dense(vectors, row_ids, config)
        del vectors
        (staging / SCRATCH_EMBEDDINGS).unlink()
    if mv_encoder is not None:
        offsets = np.concatenate([[0], np.cumsum(token_lengths)]).astype(np.int64)
        tokens = np.memmap(staging / SCRATCH_TOKENS, dtype=np.float32, mode="r", shape=(int(offsets[-1]), mv_encoder.dimension))
        built["multivector"] = MultiVectorIndex.build(tokens, offsets, row_ids, codec=config.multivector_codec)
        del tokens
        (staging / SCRATCH_TOKENS).unlink()
    if lexical is not None:
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
        }
    if "multivector" in built:
        manifest["multivector"] = {"model": encoders["multivector"].describe(), **built["multivector"].describe()}
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
