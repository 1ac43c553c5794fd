"""Sharded indexes: one collection split into shard folders that are searched together as if they were one index.

A sharded index folder holds ``shard-000/``, ``shard-001/`` ... (each a complete index folder that opens, searches
and verifies on its own) and a manifest whose ``shards`` lists them and whose ``files`` are their manifests. Every
shard holds a contiguous run of the collection's document row ids, and each component of a shard is a
:meth:`~index.component.IndexComponent.part` of the component built over the whole collection: the shards share its
trained structures (FAISS IVF cells and codes, multi-vector centroids and residual codec) and its collection
statistics (BM25 document frequencies and lengths). So a shard scores a document exactly as the whole would, and the
merge of the shards' answers (best score first, ties by row id) is the whole's answer. A component whose search
selects candidates across the collection (the multi-vector search) provides ``search_parts`` to run its stages over
all shards at once.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from index.component import IndexComponent, Ranking, sorted_ids
from index.docstore import Document, DocumentStore

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
        raise ValueError(f"cannot split {len(row_ids)} documents into {shards} shards (give 1 to {max(1, len(row_ids))})")
    return [np.asarray(part, dtype=np.int64) for part in np.array_split(np.sort(np.asarray(row_ids, dtype=np.int64)), shards)]


class ShardedStore:
    """The document stores of the shards read as one: every lookup goes to the shard holding the row.

    It owns the thread pool that the shards' components search with, and closes it with the stores.
    """

    def __init__(self, stores: Sequence[DocumentStore]) -> None:
        self.stores = list(stores)
        rows = [s.row_ids() for s in self.stores]
        self._rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        self._owner = np.concatenate([np.full(len(r), i, dtype=np.int32) for i, r in enumerate(rows)])
        order = np.argsort(self._rows, kind="stable")
        self._rows, self._owner = self._rows[order], self._owner[order]
        self.pool = ThreadPoolExecutor(max_workers=max(1, len(self.stores)), thread_name_prefix="shard")

    def run(self, function: Callable[..., Any], *iterables: Iterable[Any]) -> list[Any]:
        """``function`` over the shards' arguments, at once (an executor's ``map``, results in shard order)."""
        return list(self.pool.map(function, *iterables))

    def __len__(self) -> int:
        return int(len(self._rows))

    def owners(self, row_ids: Sequence[int]) -> np.ndarray:
        """The shard holding each row id (-1 for none)."""
        rows = np.asarray(row_ids, dtype=np.int64)
        if len(self._rows) == 0:
            return np.full(len(rows), -1)
        at = np.minimum(np.searchsorted(self._rows, rows), len(self._rows) - 1)
        return np.where(self._rows[at] == rows, self._owner[at], -1)

    def get(self, row_ids: Sequence[int]) -> list[Document | None]:
        """Documents for the given row ids, in the same order (``None`` for unknown ids)."""
        owners = self.owners(row_ids)
        found: list[Document | None] = [None] * len(row_ids)
        for shard in np.unique(owners[owners >= 0]):
            where = np.flatnonzero(owners == shard)
            for i, doc in zip(where, self.stores[shard].get([int(row_ids[i]) for i in where])):
                found[i] = doc
        return found

    def row_id(self, doc_id: str) -> int | None:
        """Row id of a document id, or ``None``."""
        return next((row for row in (s.row_id(doc_id) for s in self.stores) if row is not None), None)

    def row_ids(self) -> np.ndarray:
        """Every row id, ascending."""
        return self._rows

    def matching(self, filter: Mapping[str, Any]) -> np.ndarray:
        """Row ids (ascending) of the documents a metadata filter admits, in every shard."""
        rows = np.concatenate([s.matching(filter) for s in self.stores])
        rows.sort()
        rows.flags.writeable = False
        return rows

    def metadata_types(self) -> dict[str, str]:
        return self.stores[0].metadata_types()

    def metadata_values(self, field: str, limit: int = 50) -> list[tuple[Any, int]]:
        """The most frequent values of a field over every shard, with their document counts (``limit`` < 0: all)."""
        counts: dict[Any, int] = {}
        for store in self.stores:
            for value, n in store.metadata_values(field, limit=-1):
                counts[value] = counts.get(value, 0) + n
        ranked = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
        return ranked if limit < 0 else ranked[:limit]

    def metadata_stats(self) -> dict[str, dict[str, Any]]:
        """Per field: type, documents holding it, distinct values (over every shard), smallest and largest value."""
        per_shard = [s.metadata_stats() for s in self.stores]
        merged: dict[str, dict[str, Any]] = {}
        for name, first in per_shard[0].items():
            stats = [p[name] for p in per_shard if name in p]
            values = [s[k] for s in stats for k in ("min", "max") if s[k] is not None]
            merged[name] = {"type": first["type"], "documents": sum(s["documents"] for s in stats),
                            "distinct": len({v for v, _ in self.metadata_values(name, limit=-1)}),
                            "min": min(values, default=None), "max": max(values, default=None)}
        return merged

    def chunk_span(self, row_id: int, chunk: int) -> tuple[int, int] | None:
        owner = int(self.owners([row_id])[0])
        return None if owner < 0 else self.stores[owner].chunk_span(row_id, chunk)

    def sample(self, n: int) -> list[Document]:
        """The first ``n`` documents by row id."""
        return [d for d in self.get([int(r) for r in self._rows[:n]]) if d is not None]

    def iter_documents(self, batch_size: int = 1024) -> Iterable[Document]:
        """Every stored document in row-id order."""
        for store in self.stores:
            yield from store.iter_documents(batch_size)

    def close(self) -> None:
        """Close every shard's store and the search threads."""
        self.pool.shutdown(wait=True)
        for store in self.stores:
            store.close()


class ShardedComponent:
    """One component of a sharded index: the same component of every shard, searched at once and merged.

    Searching does what the component built over the whole collection does: each shard's top ``k`` (the shards
    score alike, see the module's docstring) merged by score, ties by row id; a component type with a
    ``search_parts`` class method runs its own stages over the shards instead."""

    def __init__(self, parts: Sequence[IndexComponent], store: ShardedStore) -> None:
        self.parts = list(parts)
        self.name = type(self.parts[0]).name
        self._store = store
        self._search_parts = getattr(type(self.parts[0]), "search_parts", None)

    def row_ids(self) -> np.ndarray:
        return sorted_ids(np.concatenate([p.row_ids() for p in self.parts]))

    def search(self, queries: Sequence[Any], k: int, *, allowed: np.ndarray | None = None,
               options: Mapping[str, Any] | None = None) -> list[Ranking]:
        if self._search_parts is not None:
            return self._search_parts(self.parts, queries, k, allowed=allowed, options=options, run=self._store.run)
        found = self._store.run(lambda part: part.search(queries, k, allowed=allowed, options=options), self.parts)
        return [merged_ranking([shard[i] for shard in found], k) for i in range(len(queries))]

    def rescore(self, query: Any, row_ids: Sequence[int]) -> np.ndarray:
        """The component's ``rescore`` of each row by the shard that holds it (scores in the order of ``row_ids``)."""
        owners = self._store.owners(row_ids)
        scores = np.zeros(len(row_ids), dtype=np.float32)
        for shard in np.unique(owners[owners >= 0]):
            where = np.flatnonzero(owners == shard)
            scores[where] = self.parts[shard].rescore(query, [int(row_ids[i]) for i in where])
        return scores

    def document_vectors(self, row_id: int) -> np.ndarray:
        """The stored vectors of one document, from its shard."""
        return self.parts[int(self._store.owners([row_id])[0])].document_vectors(row_id)


def merged_ranking(rankings: Sequence[Ranking], k: int) -> Ranking:
    """The best ``k`` of several shards' rankings of one query: highest score first, ties by row id.

    >>> merged = merged_ranking([Ranking(np.array([4, 1]), np.array([0.9, 0.5])), Ranking(np.array([7, 2]), np.array([0.7, 0.5]))], 3)
    >>> merged.rows.tolist(), merged.scores.tolist()
    ([4, 7, 1], [0.9, 0.7, 0.5])
    """
    rows = np.concatenate([r.rows for r in rankings]).astype(np.int64)
    scores = np.concatenate([r.scores for r in rankings]).astype(np.float32)
    order = np.lexsort((rows, -scores))[:k]
    chunks = None
    if any(r.chunks is not None for r in rankings):
        chunks = np.concatenate([r.chunks if r.chunks is not None else np.full(len(r), -1) for r in rankings]).astype(np.int64)[order]
    return Ranking(rows[order], scores[order], chunks)


def open_shards(index_dir: Path, names: Sequence[str], open_one: Callable[[Path], Any]) -> tuple[ShardedStore, dict[str, ShardedComponent], list[Any]]:
    """Open every shard folder with ``open_one`` (returning an object with ``store`` and ``components``) and join
    them: one store and one component per component name. Returns the opened shards too (to close on failure)."""
    opened = []
    try:
        for name in names:
            opened.append(open_one(Path(index_dir) / name))
    except BaseException:
        for shard in opened:
            shard.close()
        raise
    store = ShardedStore([shard.store for shard in opened])
    components = {name: ShardedComponent([shard.components[name] for shard in opened], store) for name in opened[0].components}
    return store, components, opened
