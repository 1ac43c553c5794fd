"""Updates of a sharded index: new documents go to the smallest shard, under row ids after the collection's largest;
a replaced or deleted document changes in the shard that holds it; all of it one new version of the whole folder.

Incremental components (dense, multi-vector) change in the shards that changed, with the shared trained structures
as they are. A component that is not incremental (BM25, whose statistics span the collection) is rebuilt over every
shard's documents and cut into parts again, so the shards keep scoring every document as one index would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.component import section_with
from index.docstore import DocumentStore
from index.documents import Document
from index.format import DOCUMENTS_NAME, MANIFEST_NAME, describe_files, read_manifest, write_manifest
from index.manifest import DocumentsSection, Manifest, ShardEntry
from retrieval.build.committed import recorded_config
from retrieval.components import recipe_for
from retrieval.config import BuildConfig

ADDITIVE_FACTS = ("count", "documents", "tokens")  # section facts of the whole that are sums over the shards


@dataclass
class ShardedChange:
    """What a sharded update did: documents added, replaced, deleted (and ids not found), and how many remain."""

    added: int
    replaced: int
    deleted: int
    documents: int
    not_found: list[str]


def update_shards(
    staging: Path,
    manifest: Manifest,
    *,
    documents: Sequence[Document] = (),
    delete_ids: Sequence[str] = (),
    upsert: bool = False,
    encoders: Mapping[str, Any] | None = None,
    typed: Any = None,
) -> tuple[ShardedChange, Manifest]:
    """Apply an update to the copied shards in ``staging``, write their manifests, and return what changed with the
    whole's new manifest, for the caller to write (``typed`` types the new documents' metadata with a store's
    schema, as the one-folder updater does)."""
    from retrieval.corpus.readers import CorpusError

    names = list(manifest.shards)
    stores = [DocumentStore.open(staging / name / DOCUMENTS_NAME, readonly=False) for name in names]
    try:
        if documents and typed is not None:
            documents = typed(documents, stores[0])
            for store in stores:
                store.set_metadata_types(stores[0].metadata_types())
        existing = [d.id for d in documents if any(s.row_id(d.id) is not None for s in stores)]
        if existing and not upsert:
            raise CorpusError(
                f"{len(existing)} documents are already in the index (for example {existing[:3]})",
                "Pass {upsert} to replace them, or give them new ids.",
                ("upsert",),
            )
        doomed = list(dict.fromkeys([*delete_ids, *existing]))
        removed = [store.delete(doomed) for store in stores]
        target = min(range(len(stores)), key=lambda i: len(stores[i]))  # new documents go to the smallest shard
        first_row = max(int(s.row_ids().max(initial=0)) for s in stores) + 1
        new_rows = (
            np.array(stores[target].insert(list(documents), first_row_id=first_row), dtype=np.int64)
            if documents
            else np.zeros(0, np.int64)
        )
        if sum(len(s) for s in stores) == 0:
            raise ValueError("This update would leave the index empty; delete the folder instead.")
        config = recorded_config(manifest)
        parts = _updated_parts(
            staging,
            manifest,
            names,
            stores,
            removed,
            target,
            new_rows,
            [d.full_text for d in documents],
            dict(encoders or {}),
            config,
        )
        updated = _write_manifests(staging, manifest, names, stores, parts)
        deleted = {doc_id for found in removed for doc_id in found}
        change = ShardedChange(
            len(documents) - len(existing),
            len(existing),
            len(deleted - set(existing)),
            updated.documents.count,
            [i for i in delete_ids if i not in deleted],
        )
        return change, updated
    finally:
        for store in stores:
            store.close()


def _write_manifests(
    staging: Path, manifest: Manifest, names: list[str], stores: list[DocumentStore], parts: list[dict[str, Any]]
) -> Manifest:
    """Write every updated shard's manifest; the whole's new manifest (for the caller to write)."""
    entries = {}
    for number, name in enumerate(names):
        folder = staging / name
        shard = read_manifest(folder)
        payload = [DOCUMENTS_NAME, *(path for part in parts[number].values() for path in part.save(folder))]
        rows = stores[number].row_ids()
        components = {
            kind: section_with(shard.components[kind], part.describe()) for kind, part in parts[number].items()
        }
        write_manifest(
            folder,
            dataclasses.replace(
                shard,
                documents=DocumentsSection(DOCUMENTS_NAME, len(rows)),
                files=describe_files(folder, payload),
                components=components,
            ),
        )
        entries[name] = ShardEntry(len(rows), int(rows.min(initial=0)), int(rows.max(initial=0)))
    whole = {kind: _whole_facts([parts[n][kind].describe() for n in range(len(names))]) for kind in manifest.components}
    return dataclasses.replace(
        manifest,
        documents=DocumentsSection("", sum(e.documents for e in entries.values())),
        shards=entries,
        components={kind: section_with(section, whole[kind]) for kind, section in manifest.components.items()},
        files=describe_files(staging, [f"{name}/{MANIFEST_NAME}" for name in names]),
    )


def _updated_parts(
    staging: Path,
    manifest: Manifest,
    names: list[str],
    stores: list[DocumentStore],
    removed: list[dict[str, int]],
    target: int,
    new_rows: np.ndarray,
    texts: list[str],
    encoders: dict[str, Any],
    config: BuildConfig,
) -> list[dict[str, Any]]:
    """Every shard's components after the update (see the module docstring)."""
    parts: list[dict[str, Any]] = [{} for _ in names]
    for kind, section in manifest.components.items():
        recipe = recipe_for(kind)
        if recipe.component.incremental:
            for number, name in enumerate(names):
                shard_section = read_manifest(staging / name).components[kind]
                part = recipe.component.load(staging / name, shard_section, writable=True).remove(
                    np.array(list(removed[number].values()), dtype=np.int64)
                )
                if number == target and len(new_rows):
                    part = part.add(recipe.encode_rows(encoders.get(kind), stores[number], new_rows, texts, config))
                parts[number][kind] = part
        else:  # statistics over the collection: rebuilt over every shard's documents, then cut again
            recorded = getattr(section, "analyser", None) or {}
            settings = config.with_changes(bm25_analyzer=recorded["name"]) if recorded.get("name") else config
            each = [recipe.rows_for_build(staging / name, store, None, settings) for name, store in zip(names, stores)]
            whole = recipe.component.build(_joined(each), section.to_json())
            for number, store in enumerate(stores):
                parts[number][kind] = whole.part(store.row_ids())
    return parts


def _joined(rows: list[Any]) -> Any:
    """One component's rows of several shards as one: term lists and row ids concatenated (BM25's rows, the only
    component that is not incremental)."""
    first = rows[0]
    return dataclasses.replace(
        first, terms=[t for r in rows for t in r.terms], row_ids=np.concatenate([r.row_ids for r in rows])
    )


def _whole_facts(facts: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole collection's section facts from its shards' (counts summed, the rest as the first shard has them)."""
    return {key: sum(f[key] for f in facts) if key in ADDITIVE_FACTS else value for key, value in facts[0].items()}
