"""Opening one committed version of an index folder: manifest, document store and every component, consistently.

A writer replaces the whole folder on each commit. If a commit lands while the files are being opened,
they are opened again, so a reader never mixes two versions; once open, it keeps its version (memory maps
and open file handles outlive the swap) until it is closed.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from index.component import IndexComponent, component_type
from index.docstore import DocumentStore
from index.errors import IndexFormatError
from index.format import read_manifest, verify_files, version_stamp
from index.lock import wait_while_swapping
from index.manifest import Manifest
from index.sharding import ShardedStore, open_shards

OPEN_ATTEMPTS = 10
# Opening is serialised: numpy reads every .npy header with ast.literal_eval, and CPython 3.11's AST
# conversion is not thread-safe (gh-106905: "AST constructor recursion depth mismatch" when threads
# open indexes at once, as Streamlit sessions or API callers do). Searching stays concurrent.
_OPEN_LOCK = threading.Lock()


@dataclass
class OpenIndex:
    """One committed version of an index folder, open for reading."""

    index_dir: Path
    manifest: Manifest
    store: DocumentStore | ShardedStore
    components: dict[str, IndexComponent]

    def close(self) -> None:
        """Release the document store."""
        self.store.close()


def open_committed(index_dir: Path | str, *, verify: bool = True) -> OpenIndex:
    """Open the committed version of ``index_dir`` (checksums verified unless ``verify=False``)."""
    index_dir = Path(index_dir)
    for _ in range(OPEN_ATTEMPTS):
        wait_while_swapping(index_dir)  # a writer between its two renames: wait for the new version
        version = version_stamp(index_dir)
        try:
            with _OPEN_LOCK:
                opened = _open(index_dir, verify)
        except (IndexFormatError, OSError):
            if version_stamp(index_dir) != version:
                continue  # a commit replaced the files under us: read the new version
            raise
        if version_stamp(index_dir) == version:
            return opened
        opened.close()
    raise IndexFormatError(
        f"{index_dir} kept changing while it was being opened ({OPEN_ATTEMPTS} commits in a row); try again."
    )


def _open(index_dir: Path, verify: bool) -> OpenIndex:
    manifest = read_manifest(index_dir)
    if verify:
        verify_files(index_dir, manifest)
    if manifest.shards:  # every shard opened as an index of its own, then read and searched as one
        store, components = open_shards(list(manifest.shards), lambda name: _open(index_dir / name, verify))
        return OpenIndex(index_dir, manifest, store, components)
    path = index_dir / manifest.documents.file
    try:
        store = DocumentStore.open(path)
    except (sqlite3.DatabaseError, KeyError, FileNotFoundError) as err:
        raise IndexFormatError(f"{path} cannot be opened: {err}. Rebuild the index.") from err
    try:
        components = {
            name: component_type(name).load(index_dir, section) for name, section in manifest.components.items()
        }
    except BaseException:
        store.close()
        raise
    return OpenIndex(index_dir, manifest, store, components)
