"""Incremental updates: add, replace (upsert) and delete documents of an existing index without rebuilding it.

Every update is a new version of the folder: the current files are copied into a staging
folder, changed there, re-checksummed into a new manifest and swapped into place under the
writer lock, so a crash at any moment leaves the last committed version, and readers see
either the old or the new one.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from index.bm25 import BM25Index
from index.chunks import pack_ids, unpack_ids
from index.dense import DenseIndex
from index.docstore import Document, DocumentStore
from index.format import DENSE_NAME, DOCUMENTS_NAME, MANIFEST_NAME, describe_files, read_manifest, staged_folder, verify_files, write_json_atomic
from index.lock import writer_lock
from index.ownership import check_owned_index, resolve_index_path
from index.multivector import MultiVectorIndex
from retrieval.config import BuildConfig
from retrieval.corpus.readers import CorpusError, ReadStats, read_corpus
from retrieval.document_encoding import chunk_policy, chunk_spans, encode_dense, encode_multivector
from retrieval.encoders import DenseEncoder, load_manifest_encoder
from retrieval.lexical import analyse
from retrieval.multivector_encoder import MultiVectorEncoder


@dataclass
class UpdateSummary:
    """What an update changed."""

    index_dir: str
    added: int
    replaced: int
    deleted: int
    documents: int
    seconds: float
    not_found: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for ``--json`` and the manifest's update history."""
        return dataclasses.asdict(self)


def add_documents(
    index_dir: Path | str,
    corpus: Path | str | Iterable[Document],
    *,
    upsert: bool = False,
    encoder: DenseEncoder | None = None,
    multivector_encoder: MultiVectorEncoder | None = None,
    progress: bool = True,
) -> UpdateSummary:
    """Add documents to an index with the models and reader settings its manifest records.

    Ids already in the index are an error unless ``upsert``, which replaces those documents.
    """
    started = time.perf_counter()
    with locked_index(index_dir) as (index_dir, manifest):
        config = recorded_config(manifest)
        documents = list(read_corpus(corpus, config, ReadStats()) if isinstance(corpus, (str, Path)) else corpus)
        if not documents:
            raise CorpusError(f"{corpus} has no documents with text; nothing to add.")
        ids = [d.id for d in documents]
        repeated = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
        if repeated:
            raise CorpusError(f"{corpus} repeats document ids {repeated[:5]}; each id may appear once in an update.")
        dense_encoder = (encoder or load_manifest_encoder(manifest["model"])) if "dense" in manifest else None
        mv_encoder = (multivector_encoder or MultiVectorEncoder.load(manifest["multivector"]["model"]["spec"])) if "multivector" in manifest else None
        with staged_folder(index_dir) as staging:
            copy_payload(index_dir, staging, manifest)
            store = DocumentStore.open(staging / DOCUMENTS_NAME, readonly=False)
            try:
                existing = [i for i in ids if store.row_id(i) is not None]
                if existing and not upsert:
                    raise CorpusError(
                        f"{len(existing)} documents are already in {index_dir} (for example {existing[:3]})",
                        "Pass --upsert to replace them, or give them new ids.", ("--upsert",),
                    )
                replaced_rows = list(store.delete(existing).values())
                new_rows = np.array(store.insert(documents), dtype=np.int64)
                texts = [d.full_text for d in documents]
                _update_indexes(staging, manifest, store, replaced_rows, new_rows, texts, dense_encoder, mv_encoder, progress)
                count = len(store)
            finally:
                store.close()
            summary = UpdateSummary(str(index_dir), len(documents) - len(existing), len(existing), 0, count,
                                    round(time.perf_counter() - started, 3))
            _write_manifest(staging, manifest, summary)
    return summary


def delete_documents(index_dir: Path | str, doc_ids: Sequence[str]) -> UpdateSummary:
    """Delete documents by id from every part of the index; ids it does not hold are reported, not an error."""
    started = time.perf_counter()
    with locked_index(index_dir) as (index_dir, manifest):
        with staged_folder(index_dir) as staging:
            copy_payload(index_dir, staging, manifest)
            store = DocumentStore.open(staging / DOCUMENTS_NAME, readonly=False)
            try:
                removed = store.delete(list(dict.fromkeys(doc_ids)))
                if len(store) == 0:
                    raise ValueError(f"Deleting these documents would leave {index_dir} empty; delete the folder instead.")
                _update_indexes(staging, manifest, store, list(removed.values()), np.zeros(0, dtype=np.int64), [], None, None, False)
                count = len(store)
            finally:
                store.close()
            summary = UpdateSummary(str(index_dir), 0, 0, len(removed), count, round(time.perf_counter() - started, 3),
                                    [i for i in doc_ids if i not in removed])
            _write_manifest(staging, manifest, summary)
    return summary


@contextmanager
def locked_index(index_dir: Path | str) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Hold the writer lock of an existing index: yields its real path and committed manifest.

    The path is resolved once (a symlink locks and updates the folder it points at), and a folder that is
    not an index fails before any lock file is created beside it.
    """
    index_dir = resolve_index_path(index_dir)
    read_manifest(index_dir)
    with writer_lock(index_dir):
        yield index_dir, committed_manifest(index_dir)


def committed_manifest(index_dir: Path) -> dict[str, Any]:
    """The committed manifest, after checking the files it describes (never update a corrupt index) and that
    the folder holds nothing else (a new version replaces the whole folder)."""
    manifest = read_manifest(index_dir)
    check_owned_index(index_dir, manifest)
    verify_files(index_dir, manifest)
    return manifest


def recorded_config(manifest: dict[str, Any]) -> BuildConfig:
    """The build settings a manifest records (unknown keys from other versions ignored)."""
    known = {f.name for f in dataclasses.fields(BuildConfig)}
    return BuildConfig(**{k: v for k, v in manifest["build"]["config"].items() if k in known})


def copy_payload(source: Path, staging: Path, manifest: dict[str, Any]) -> None:
    """Copy every file the manifest lists into a staging folder (the starting point of a new version)."""
    for name in manifest["files"]:
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, staging / name)


def _update_indexes(
    staging: Path, manifest: dict[str, Any], store: DocumentStore, removed_rows: list[int], new_rows: np.ndarray,
    texts: list[str], dense_encoder: DenseEncoder | None, mv_encoder: MultiVectorEncoder | None, progress: bool,
) -> None:
    """Remove the vectors of ``removed_rows`` and add those of the new documents, in every index the folder has."""
    removed = np.asarray(removed_rows, dtype=np.int64)
    config = recorded_config(manifest)
    if "dense" in manifest:
        info = manifest["dense"]
        dense = DenseIndex.load(staging / DENSE_NAME, info["factory"], info.get("search_params"), writable=True)
        stored = dense.ids()
        dense = dense.without(stored[np.isin(unpack_ids(stored)[0], removed)])  # every chunk of the removed documents
        if len(new_rows):
            encoded = encode_dense(dense_encoder, texts, chunk_policy(config, dense_encoder), config.batch_size, config.token_budget)
            numbers = np.array([c.number for c in encoded.chunks], dtype=np.int64)
            dense.add(encoded.vectors, pack_ids(new_rows[encoded.documents], numbers))
            store.add_chunk_spans(chunk_spans(new_rows, encoded))
        dense.save(staging / DENSE_NAME)
    if "multivector" in manifest:
        mv = MultiVectorIndex.load(staging, manifest["multivector"].get("search_params")).without_documents(removed)
        if len(new_rows):
            policy = chunk_policy(config, mv_encoder)
            vectors = encode_multivector(mv_encoder, texts, policy, config.batch_size, config.token_budget).vectors
            offsets = np.concatenate([[0], np.cumsum([len(v) for v in vectors])]).astype(np.int64)
            mv = mv.with_documents(np.vstack(vectors).astype(np.float32), offsets, new_rows)
        for name in MultiVectorIndex.payload_names(staging):
            (staging / name).unlink()  # never rewrite a file in place while it may still be memory-mapped
        mv.save(staging)
    if "bm25" in manifest:
        row_ids, tokens = [], []
        for ids, batch in store.iter_texts(4096):  # BM25 statistics depend on every document: re-index the stored texts
            row_ids += ids
            tokens += analyse(batch)
        params = {k: manifest["bm25"][k] for k in ("k1", "b", "method")}
        shutil.rmtree(staging / "bm25", ignore_errors=True)
        (staging / "bm25").mkdir()
        BM25Index.build(tokens, np.array(row_ids, dtype=np.int64), params).save(staging)


def _write_manifest(staging: Path, manifest: dict[str, Any], summary: UpdateSummary) -> None:
    updated = dict(manifest)
    updated["documents"] = {**manifest["documents"], "count": summary.documents}
    if "dense" in manifest:
        dense = DenseIndex.load(staging / DENSE_NAME, manifest["dense"]["factory"])
        updated["dense"] = {**manifest["dense"], "count": len(dense)}
    if "multivector" in manifest:
        mv = MultiVectorIndex.load(staging)
        updated["multivector"] = {**manifest["multivector"], "documents": len(mv), "tokens": mv.n_tokens}
    if "bm25" in manifest:
        bm25 = BM25Index.load(staging)
        updated["bm25"] = {**manifest["bm25"], "documents": len(bm25), "vocabulary": len(bm25.model.vocab_dict)}
    names = [name for name in manifest["files"] if not name.startswith("bm25/")]
    names += sorted(f"bm25/{p.name}" for p in (staging / "bm25").iterdir()) if "bm25" in manifest else []
    updated["files"] = describe_files(staging, names)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    updated["updates"] = [*manifest.get("updates", []), {"at": stamp, **summary.to_dict()}]
    write_json_atomic(staging / MANIFEST_NAME, updated)
