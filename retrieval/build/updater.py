"""Incremental updates: add, replace (upsert) and delete documents of an existing index without rebuilding it.

Every update is a new version of the folder: the current files are copied into a staging
folder, changed there, re-checksummed into a new manifest and swapped into place under the
writer lock, so a crash at any moment leaves the last committed version, and readers see
either the old or the new one.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from index.component import section_with
from index.docstore import DocumentStore
from index.documents import Document
from index.format import DOCUMENTS_NAME, describe_files, read_manifest, staged_folder, write_manifest
from index.manifest import Manifest
from retrieval.build.committed import copy_payload, copy_shards, locked_index, recorded_config
from retrieval.build.sharded_updates import update_shards
from retrieval.components import given_encoders, recipe_for, stored_encoders
from retrieval.config import BuildConfig
from retrieval.corpus.readers import CorpusError, ReadStats, read_corpus
from retrieval.corpus.typed import schema_for, typed_batch
from retrieval.encode.dense import DenseEncoder
from retrieval.encode.multivector import MultiVectorEncoder


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
    encoders: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> UpdateSummary:
    """Add documents to an index with the models and reader settings its manifest records.

    Ids already in the index are an error unless ``upsert``, which replaces those documents.
    Already loaded encoders can be given as for :func:`retrieval.build.builder.build_index`.
    """
    started = time.perf_counter()
    with locked_index(index_dir) as (index_dir, manifest):
        config = recorded_config(manifest)
        stats = ReadStats()
        documents = _documents_of_update(corpus, config, stats)
        loaded = stored_encoders(
            manifest, given_encoders(encoders, encoder=encoder, multivector_encoder=multivector_encoder)
        )
        if manifest.shards:

            def typed(batch: Sequence[Document], store: DocumentStore) -> list[Document]:
                schema = schema_for(config, store.metadata_types())
                found = typed_batch(batch, schema, config, stats)
                store.set_metadata_types(schema.types)
                return found

            return _update_sharded(
                index_dir, manifest, started, documents=documents, upsert=upsert, encoders=loaded, typed=typed
            )
        with staged_folder(index_dir) as staging:
            copy_payload(index_dir, staging, manifest)
            store = DocumentStore.open(staging / DOCUMENTS_NAME, readonly=False)
            try:
                schema = schema_for(config, store.metadata_types())
                documents = typed_batch(documents, schema, config, stats)
                store.set_metadata_types(schema.types)
                existing = [d.id for d in documents if store.row_id(d.id) is not None]
                if existing and not upsert:
                    raise CorpusError(
                        f"{len(existing)} documents are already in {index_dir} (for example {existing[:3]})",
                        "Pass {upsert} to replace them, or give them new ids.",
                        ("upsert",),
                    )
                replaced_rows = list(store.delete(existing).values())
                new_rows = np.array(store.insert(documents), dtype=np.int64)
                texts = [d.full_text for d in documents]
                sections, payload = _update_components(staging, manifest, store, replaced_rows, new_rows, texts, loaded)
                count = len(store)
            finally:
                store.close()
            summary = UpdateSummary(
                str(index_dir),
                len(documents) - len(existing),
                len(existing),
                0,
                count,
                round(time.perf_counter() - started, 3),
            )
            _write_manifest(staging, manifest, summary, sections, payload)
    return summary


def _documents_of_update(
    corpus: Path | str | Iterable[Document], config: BuildConfig, stats: ReadStats
) -> list[Document]:
    """The documents an update adds, read as the index's build read its corpus; none, or an id given twice, is an
    error that names the file (never the documents themselves: an error would echo them all)."""
    from_file = isinstance(corpus, (str, Path))
    documents = list(read_corpus(corpus, config, stats) if from_file else corpus)
    source = corpus if from_file else "the update"
    if not documents:
        raise CorpusError(f"{source} has no documents with text; nothing to add.")
    ids = [d.id for d in documents]
    repeated = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
    if repeated:
        raise CorpusError(f"{source} repeats document ids {repeated[:5]}; each id may appear once in an update.")
    return documents


def delete_documents(index_dir: Path | str, doc_ids: Sequence[str]) -> UpdateSummary:
    """Delete documents by id from every part of the index; ids it does not hold are reported, not an error. When it
    holds none of them, nothing is committed (the version stays)."""
    started = time.perf_counter()
    with locked_index(index_dir) as (index_dir, manifest):
        if not _held(index_dir, manifest, list(dict.fromkeys(doc_ids))):
            return UpdateSummary(
                str(index_dir),
                0,
                0,
                0,
                manifest.documents.count,
                round(time.perf_counter() - started, 3),
                list(dict.fromkeys(doc_ids)),
            )
        if manifest.shards:
            return _update_sharded(index_dir, manifest, started, delete_ids=list(dict.fromkeys(doc_ids)))
        with staged_folder(index_dir) as staging:
            copy_payload(index_dir, staging, manifest)
            store = DocumentStore.open(staging / DOCUMENTS_NAME, readonly=False)
            try:
                removed = store.delete(list(dict.fromkeys(doc_ids)))
                if len(store) == 0:
                    raise ValueError(
                        f"Deleting these documents would leave {index_dir} empty; delete the folder instead."
                    )
                no_encoders = dict.fromkeys(manifest.components)
                sections, payload = _update_components(
                    staging, manifest, store, list(removed.values()), np.zeros(0, dtype=np.int64), [], no_encoders
                )
                count = len(store)
            finally:
                store.close()
            summary = UpdateSummary(
                str(index_dir),
                0,
                0,
                len(removed),
                count,
                round(time.perf_counter() - started, 3),
                [i for i in doc_ids if i not in removed],
            )
            _write_manifest(staging, manifest, summary, sections, payload)
    return summary


def _held(index_dir: Path, manifest: Manifest, doc_ids: Sequence[str]) -> list[str]:
    """The ids of ``doc_ids`` the committed index holds, read from its document stores alone (one per shard)."""
    folders = [index_dir / name for name in manifest.shards] or [index_dir]
    held: set[str] = set()
    for folder in folders:
        store = DocumentStore.open(folder / read_manifest(folder).documents.file)
        try:
            held.update(i for i in doc_ids if store.row_id(i) is not None)
        finally:
            store.close()
    return [i for i in doc_ids if i in held]


def _update_sharded(index_dir: Path, manifest: Manifest, started: float, **change: Any) -> UpdateSummary:
    """An add or delete of a sharded index (see :mod:`retrieval.build.sharded_updates`), committed as one new
    version."""
    with staged_folder(index_dir) as staging:
        copy_shards(index_dir, staging, manifest)
        done, updated = update_shards(staging, manifest, **change)
        summary = UpdateSummary(
            str(index_dir),
            done.added,
            done.replaced,
            done.deleted,
            done.documents,
            round(time.perf_counter() - started, 3),
            done.not_found,
        )
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        write_manifest(
            staging, dataclasses.replace(updated, updates=[*manifest.updates, {"at": stamp, **summary.to_dict()}])
        )
    return summary


def _update_components(
    staging: Path,
    manifest: Manifest,
    store: DocumentStore,
    removed_rows: list[int],
    new_rows: np.ndarray,
    texts: list[str],
    encoders: dict[str, Any],
) -> tuple[dict[str, Any], list[str]]:
    """Remove the rows of ``removed_rows`` and add those of the new documents in every component (a component that is
    not incremental is rebuilt from all stored documents); returns the new sections and the payload file names."""
    removed = np.asarray(removed_rows, dtype=np.int64)
    config = recorded_config(manifest)
    sections, payload = {}, [DOCUMENTS_NAME]
    for name, section in manifest.components.items():
        recipe = recipe_for(name)
        if recipe.component.incremental:
            component = recipe.component.load(staging, section, writable=True).remove(removed)
            if len(new_rows):
                component = component.add(recipe.encode_rows(encoders[name], store, new_rows, texts, config))
        else:
            component = recipe.component.build(
                recipe.rows_for_build(staging, store, encoders[name], config), section.to_json()
            )
        payload += component.save(staging)
        sections[name] = section_with(section, component.describe())
    return sections, payload


def _write_manifest(
    staging: Path, manifest: Manifest, summary: UpdateSummary, sections: dict[str, Any], payload: list[str]
) -> None:
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    updated = dataclasses.replace(
        manifest,
        documents=dataclasses.replace(manifest.documents, count=summary.documents),
        components=sections,
        files=describe_files(staging, payload),
        updates=[*manifest.updates, {"at": stamp, **summary.to_dict()}],
    )
    write_manifest(staging, updated)
