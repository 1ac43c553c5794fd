"""`modernsearch verify`: check an index folder's checksums and the cross-references between its parts."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from index.chunks import unpack_ids
from index.errors import IndexFormatError
from index.format import read_manifest, verify_files


@dataclass(frozen=True)
class Check:
    """One verified property of an index folder."""

    name: str
    ok: bool
    detail: str


def verify_index(folder: Path | str) -> list[Check]:
    """Every check on ``folder``, in order; a failing check does not stop the later ones that can still run."""
    folder = Path(folder)
    checks: list[Check] = []

    def run(name: str, check: Callable[[], str]) -> bool:
        try:
            checks.append(Check(name, True, check()))
        except (IndexFormatError, OSError, ValueError, KeyError, RuntimeError, sqlite3.DatabaseError) as err:
            checks.append(Check(name, False, str(err)))
        return checks[-1].ok

    try:
        manifest = read_manifest(folder)
    except IndexFormatError as err:
        return [Check("manifest", False, str(err))]
    checks.append(Check("manifest", True, f"format version {manifest['format_version']}, mode {manifest['mode']}"))
    if not run("checksums", lambda: _checksums(folder, manifest)):
        return checks  # cross-references read the payload, which is already known to be wrong
    rows: dict[str, Any] = {}
    run("documents", lambda: _documents(folder, manifest, rows))
    if "dense" in manifest:
        run("dense ids", lambda: _dense(folder, manifest, rows["ids"]))
    if "multivector" in manifest:
        run("token offsets and ids", lambda: _multivector(folder, manifest, rows["ids"]))
    if "bm25" in manifest:
        run("bm25 ids", lambda: _bm25(folder, rows["ids"]))
    return checks


def _checksums(folder: Path, manifest: dict[str, Any]) -> str:
    verify_files(folder, manifest)
    files = manifest.get("files", {})
    return f"{len(files)} files, {sum(f['bytes'] for f in files.values()):,} bytes, SHA-256 as recorded"


def _documents(folder: Path, manifest: dict[str, Any], rows: dict[str, Any]) -> str:
    path = folder / manifest["documents"]["file"]
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            raise IndexFormatError(f"{path}: SQLite integrity check failed: {integrity}")
        ids = np.array([r[0] for r in conn.execute("SELECT row_id FROM documents ORDER BY row_id")], dtype=np.int64)
    if len(ids) != manifest["documents"]["count"]:
        raise IndexFormatError(f"{path} holds {len(ids)} documents, the manifest records {manifest['documents']['count']}")
    rows["ids"] = ids
    return f"{len(ids):,} documents, SQLite integrity ok"


def _same_ids(what: str, found: np.ndarray, rows: np.ndarray) -> None:
    found = np.sort(np.asarray(found, dtype=np.int64))
    if len(found) != len(rows) or not np.array_equal(found, rows):
        missing = np.setdiff1d(rows, found)[:5].tolist()
        extra = np.setdiff1d(found, rows)[:5].tolist()
        raise IndexFormatError(
            f"{what} holds {len(found)} ids for {len(rows)} documents "
            f"(documents without an entry: {missing}, entries without a document: {extra})"
        )


def _dense(folder: Path, manifest: dict[str, Any], rows: np.ndarray) -> str:
    import faiss

    path = folder / manifest["dense"]["file"]
    index = faiss.read_index(str(path))
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    if len(np.unique(ids)) != len(ids):
        raise IndexFormatError(f"{path} holds repeated vector ids")
    parents, chunks = unpack_ids(ids)
    _same_ids(str(path), np.unique(parents), rows)
    if index.d != manifest["dense"]["dimension"]:
        raise IndexFormatError(f"{path} has {index.d} dimensions, the manifest records {manifest['dense']['dimension']}")
    position = np.searchsorted(np.sort(rows), parents)
    per_document = np.bincount(position, minlength=len(rows))
    if np.any(chunks >= per_document[position]):
        raise IndexFormatError(f"{path}: chunk numbers must run 0..n-1 within each document")
    return f"{index.ntotal:,} vectors of {index.d} dimensions for {len(rows):,} documents ({int(np.sum(per_document > 1)):,} in chunks)"


def _multivector(folder: Path, manifest: dict[str, Any], rows: np.ndarray) -> str:
    from index.multivector import FILES

    def load(key: str) -> np.ndarray:
        return np.load(folder / FILES[key], mmap_mode="r")

    offsets, centroid_of_token, codes = load("doc_offsets"), load("token_centroid"), load("token_codes")
    n_centroids = len(load("centroids"))
    if offsets[0] != 0 or np.any(np.diff(offsets) < 0) or offsets[-1] != len(codes) or len(codes) != len(centroid_of_token):
        raise IndexFormatError(
            f"{folder / FILES['doc_offsets']}: offsets must rise from 0 to the {len(codes):,} stored tokens "
            f"(they end at {int(offsets[-1]):,})"
        )
    if len(centroid_of_token) and (centroid_of_token.min() < 0 or centroid_of_token.max() >= n_centroids):
        raise IndexFormatError(f"{folder / FILES['token_centroid']}: centroid ids outside 0..{n_centroids - 1}")
    _same_ids(str(folder / FILES["doc_ids"]), load("doc_ids"), rows)
    ivf_offsets, ivf_docs = load("ivf_offsets"), load("ivf_docs")
    if len(ivf_offsets) != n_centroids + 1 or ivf_offsets[-1] != len(ivf_docs) or (len(ivf_docs) and ivf_docs.max() >= len(offsets) - 1):
        raise IndexFormatError(f"{folder / FILES['ivf_offsets']}: inverted lists do not match the centroids and documents")
    return f"{len(offsets) - 1:,} documents, {len(codes):,} tokens, {n_centroids:,} centroids, lists consistent"


def _bm25(folder: Path, rows: np.ndarray) -> str:
    from index.bm25 import BM25_FOLDER, ROW_IDS_FILE

    path = folder / BM25_FOLDER / ROW_IDS_FILE
    _same_ids(str(path), np.load(path), rows)
    return f"{len(rows):,} documents scored"
