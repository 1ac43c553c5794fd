"""`modernsearch verify`: check an index folder's checksums and the cross-references between its parts."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

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
    rows: dict[str, Any] = {}
    run("documents", lambda: _documents(folder, manifest, rows))
    for name, section in manifest.components.items():
        run(f"{name} ids", lambda: component_type(name).verify(folder, section, rows["ids"]))  # noqa: B023 - run calls it at once
    return checks


def _checksums(folder: Path, manifest: Manifest) -> str:
    verify_files(folder, manifest)
    return f"{len(manifest.files)} files, {manifest.payload_bytes:,} bytes, SHA-256 as recorded"


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
