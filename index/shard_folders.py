"""The shard folders of a sharded index: which documents each holds, and writing them from a whole index.

Shards hold contiguous runs of the row ids. Each is a complete index folder whose components are
:meth:`~index.component.IndexComponent.part` of the whole's (its trained structures and statistics kept) and whose
manifest is the whole's with its own documents, component facts and files. :mod:`index.sharding` reads them as one.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from index.component import IndexComponent, section_with
from index.docstore import DocumentStore
from index.errors import SettingError
from index.format import DOCUMENTS_NAME, MANIFEST_NAME, describe_files, write_manifest
from index.manifest import DocumentsSection, Manifest, ShardEntry

SHARD_FOLDER = "shard-{:03d}"


def shard_name(number: int) -> str:
    """The folder name of shard ``number``.

    >>> shard_name(2)
    'shard-002'
    """
    return SHARD_FOLDER.format(number)


def split_rows(row_ids: np.ndarray, shards: int) -> list[np.ndarray]:
    """Sorted row ids cut into ``shards`` contiguous runs whose sizes differ by at most one.

    >>> [part.tolist() for part in split_rows(np.arange(7), 3)]
    [[0, 1, 2], [3, 4], [5, 6]]
    """
    if shards < 1 or shards > max(1, len(row_ids)):
        raise ValueError(
            f"cannot split {len(row_ids)} documents into {shards} shards; give 1 to {max(1, len(row_ids))}"
        )
    return [
        np.asarray(part, dtype=np.int64)
        for part in np.array_split(np.sort(np.asarray(row_ids, dtype=np.int64)), shards)
    ]


def write_shards(
    folder: Path, whole: Manifest, store: DocumentStore, components: Mapping[str, IndexComponent], shards: int
) -> Manifest:
    """Write ``shards`` shard folders into ``folder`` from the whole collection's ``store`` and ``components``
    (described by the ``whole`` manifest), and return the sharded index's manifest (to be written by the caller,
    which commits the folder): the whole's, with the shards listed and their manifests as its files."""
    entries = {}
    for number, rows in enumerate(split_rows(store.row_ids(), shards)):
        name = shard_name(number)
        target = Path(folder) / name
        if target.exists():
            shutil.rmtree(target)  # an earlier attempt's partial shard, inside the caller's staging folder
        target.mkdir()
        store.copy_part(target / DOCUMENTS_NAME, rows)
        parts = {kind: component.part(rows) for kind, component in components.items()}
        payload = [DOCUMENTS_NAME, *(path for part in parts.values() for path in part.save(target))]
        write_manifest(
            target,
            dataclasses.replace(
                whole,
                documents=DocumentsSection(DOCUMENTS_NAME, len(rows)),
                files=describe_files(target, payload),
                shards={},
                components={
                    kind: section_with(whole.components[kind], part.describe()) for kind, part in parts.items()
                },
                build=dataclasses.replace(whole.build, summary={"shard": name, "documents": len(rows)}),
            ),
        )
        entries[name] = ShardEntry(len(rows), int(rows[0]), int(rows[-1]))
    return dataclasses.replace(
        whole,
        documents=DocumentsSection("", whole.documents.count),
        shards=entries,
        files=describe_files(Path(folder), [f"{name}/{MANIFEST_NAME}" for name in entries]),
    )


def shard_index(source: Path | str, target: Path | str, shards: int, *, replace: bool = False) -> Manifest:
    """Write a sharded copy of the index at ``source`` into ``target`` without encoding anything again: the same
    documents, trained structures and statistics, so it answers every search as ``source`` does. Committed
    atomically, as a build is; returns the sharded index's manifest. An index already at ``target`` is replaced
    only with ``replace`` (:class:`~index.ownership.ExistingIndexError` otherwise)."""
    from index.component import component_type
    from index.format import has_manifest, read_manifest, staged_folder, verify_files
    from index.lock import writer_lock
    from index.ownership import ExistingIndexError, check_build_target, resolve_index_path

    source = Path(source)
    whole = read_manifest(source)
    if whole.shards:
        raise ValueError(f"{source} is sharded already ({len(whole.shards)} shards); give a one-folder index")
    if not 2 <= shards <= whole.documents.count:
        raise SettingError("shards", shards, f"must be from 2 to {whole.documents.count:,} (the index's documents)")
    verify_files(source, whole)
    target = resolve_index_path(target)

    def check_target() -> None:
        check_build_target(target, [source])
        if has_manifest(target) and not replace:
            raise ExistingIndexError(target)

    check_target()
    with writer_lock(target):
        check_target()
        with staged_folder(target) as staging:
            store = DocumentStore.open(source / whole.documents.file)
            try:
                components = {
                    name: component_type(name).load(source, section) for name, section in whole.components.items()
                }
                sharded = write_shards(staging, whole, store, components, shards)
            finally:
                store.close()
            write_manifest(staging, sharded)
    return sharded
