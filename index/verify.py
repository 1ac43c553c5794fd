"""`modernsearch verify`: check an index folder's checksums and the cross-references between its parts."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.component import component_type
from index.errors import IndexFormatError
from index.format import read_manifest, verify_files
from index.manifest import Manifest


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
    checks.append(Check("manifest", True, f"format version {manifest.read_from_version}, mode {manifest.mode}"))
    if not run("checksums", lambda: _checksums(folder, manifest)):
        return checks  # cross-references read the payload, which is already known to be wrong
    if manifest.shards:
        run("shards", lambda: _shards(folder, manifest))
        for name in manifest.shards:
            checks += [Check(f"{name} {check.name}", check.ok, check.detail) for check in verify_index(folder / name)]
        return checks
    rows: dict[str, Any] = {}
    run("documents", lambda: _documents(folder, manifest, rows))
    run("metadata", lambda: _metadata(folder, manifest))
    for name, section in manifest.components.items():
        run(f"{name} ids", lambda: component_type(name).verify(folder, section, rows["ids"]))  # noqa: B023 - run calls it at once
    return checks


def _checksums(folder: Path, manifest: Manifest) -> str:
    verify_files(folder, manifest)
    return f"{len(manifest.files)} files, {manifest.payload_bytes:,} bytes, SHA-256 as recorded"


def _shards(folder: Path, manifest: Manifest) -> str:
    """No two shards hold the same row id or document id, and they hold as many documents as the whole records."""
    seen_rows: set[int] = set()
    seen_ids: set[str] = set()
    for name, shard in manifest.shards.items():
        path = folder / name / read_manifest(folder / name).documents.file
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            stored = conn.execute("SELECT row_id, doc_id FROM documents").fetchall()
        rows, ids = {r for r, _ in stored}, {i for _, i in stored}
        if len(stored) != shard.documents:
            raise IndexFormatError(
                f"{path} holds {len(stored):,} documents, the sharded manifest records {shard.documents:,}"
            )
        if rows & seen_rows or ids & seen_ids:
            repeated = sorted(ids & seen_ids)[:3] or sorted(rows & seen_rows)[:3]
            raise IndexFormatError(f"{name} holds documents another shard holds too: {repeated}")
        seen_rows |= rows
        seen_ids |= ids
    if len(seen_rows) != manifest.documents.count:
        raise IndexFormatError(
            f"the shards hold {len(seen_rows):,} documents, the manifest records {manifest.documents.count:,}"
        )
    return f"{len(manifest.shards)} shards, {len(seen_rows):,} documents, no row id or document id in two shards"


def _documents(folder: Path, manifest: Manifest, rows: dict[str, Any]) -> str:
    path = folder / manifest.documents.file
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            raise IndexFormatError(f"{path}: SQLite integrity check failed: {integrity}")
        ids = np.array([r[0] for r in conn.execute("SELECT row_id FROM documents ORDER BY row_id")], dtype=np.int64)
    if len(ids) != manifest.documents.count:
        raise IndexFormatError(f"{path} holds {len(ids)} documents, the manifest records {manifest.documents.count}")
    rows["ids"] = ids
    return f"{len(ids):,} documents, SQLite integrity ok"


def _metadata(folder: Path, manifest: Manifest) -> str:
    """Every stored metadata value belongs to a stored document and a field with a recorded type."""
    path = folder / manifest.documents.file
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'metadata_fields'").fetchone():
            return "no typed metadata tables (a store written before them; the next update adds them)"
        orphans = conn.execute(
            "SELECT COUNT(*) FROM metadata_values WHERE row_id NOT IN (SELECT row_id FROM documents)"
        ).fetchone()[0]
        untyped = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT field FROM metadata_values WHERE field NOT IN (SELECT name FROM metadata_fields)"
            )
        ]
        fields = conn.execute("SELECT COUNT(*) FROM metadata_fields").fetchone()[0]
        values = conn.execute("SELECT COUNT(*) FROM metadata_values").fetchone()[0]
    if orphans:
        raise IndexFormatError(f"{path}: {orphans:,} metadata values belong to no stored document")
    if untyped:
        raise IndexFormatError(
            f"{path}: metadata values of fields without a recorded type: {', '.join(map(repr, untyped[:5]))}"
        )
    return f"{fields} fields, {values:,} values, every value on a stored document"
