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

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from index.component import (
    Explaining,
    IndexComponent,
    Ranking,
    Rescoring,
    SearchingInParts,
    abilities,
    component_type,
    sorted_ids,
)
from index.documents import Document
from index.shard_folders import shard_name


class ShardUnavailableError(RuntimeError):
    """A shard served by another process did not answer (``shard``: its name, ``reason``: why)."""

    def __init__(self, shard: str, reason: str) -> None:
        self.shard, self.reason = shard, reason
        super().__init__(f"shard {shard} did not answer: {reason}")


_MISSING: ContextVar[set[str] | None] = ContextVar("missing_shards", default=None)


@contextmanager
def tolerating_missing_shards() -> Iterator[set[str]]:
    """Within this block, a search of a store that tolerates missing shards leaves out the shards that do not answer
    and records their names in the yielded set (elsewhere :class:`ShardUnavailableError` propagates)."""
    token = _MISSING.set(set())
    try:
        yield _MISSING.get()  # type: ignore[misc]
    finally:
        _MISSING.reset(token)


class ShardedStore:
    """The document stores of the shards read as one: every lookup goes to the shard holding the row.

    It owns the thread pool that the shards' components search with, and closes it with the stores.
    """

    def __init__(
        self, stores: Sequence[Any], names: Sequence[str] | None = None, *, tolerate_missing: bool = False
    ) -> None:
        self.stores = list(stores)
        self.names = list(names or [shard_name(i) for i in range(len(self.stores))])
        self.tolerate_missing = tolerate_missing
        rows = [s.row_ids() for s in self.stores]
        self._rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        self._owner = np.concatenate([np.full(len(r), i, dtype=np.int32) for i, r in enumerate(rows)])
        order = np.argsort(self._rows, kind="stable")
        self._rows, self._owner = self._rows[order], self._owner[order]
        self.pool = ThreadPoolExecutor(max_workers=max(1, len(self.stores)), thread_name_prefix="shard")

    def run(self, function: Callable[..., Any], *iterables: Iterable[Any]) -> list[Any]:
        """``function`` over the shards' arguments, at once (an executor's ``map``, results in shard order)."""
        return list(self.pool.map(function, *iterables))

    def gather(self, function: Callable[[int], Any]) -> list[Any]:
        """``function(shard number)`` for every shard at once, in shard order; ``None`` for a shard that did not answer
        where missing shards are tolerated (see :func:`tolerating_missing_shards`)."""
        futures = [self.pool.submit(function, number) for number in range(len(self.stores))]
        results = []
        for future in futures:
            try:
                results.append(future.result())
            except ShardUnavailableError as err:
                self.left_out(err)
                results.append(None)
        return results

    def left_out(self, error: ShardUnavailableError) -> None:
        """Record a shard that did not answer, or raise ``error`` where an answer must be complete."""
        missing = _MISSING.get()
        if not self.tolerate_missing or missing is None:
            raise error
        missing.add(error.shard)

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
        owners, wanted = self.by_shard(row_ids)
        found: list[Document | None] = [None] * len(row_ids)
        for shard, docs in enumerate(self.gather(lambda s: self.stores[s].get(wanted[s]) if wanted[s] else [])):
            for i, doc in zip(np.flatnonzero(owners == shard), docs or []):
                found[i] = doc
        return found

    def by_shard(self, row_ids: Sequence[int]) -> tuple[np.ndarray, list[list[int]]]:
        """The shard of each row id, and each shard's row ids in their order."""
        owners = self.owners(row_ids)
        return owners, [[int(r) for r in np.asarray(row_ids)[owners == s]] for s in range(len(self.stores))]

    def row_id(self, doc_id: str) -> int | None:
        """Row id of a document id, or ``None``."""
        return next((row for row in (s.row_id(doc_id) for s in self.stores) if row is not None), None)

    def row_ids(self) -> np.ndarray:
        """Every row id, ascending."""
        return self._rows

    def matching(self, filter: Mapping[str, Any]) -> np.ndarray:
        """Row ids (ascending) of the documents a metadata filter admits, in every shard."""
        rows = np.concatenate(
            [r for r in self.gather(lambda s: self.stores[s].matching(filter)) if r is not None]
            or [np.zeros(0, np.int64)]
        )
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
            merged[name] = {
                "type": first["type"],
                "documents": sum(s["documents"] for s in stats),
                "distinct": len({v for v, _ in self.metadata_values(name, limit=-1)}),
                "min": min(values, default=None),
                "max": max(values, default=None),
            }
        return merged

    def chunk_spans(self, chunks: Sequence[tuple[int, int]]) -> dict[tuple[int, int], tuple[int, int]]:
        """Character spans of chunks of split documents, from the shards holding them."""
        owners = self.owners([row for row, _ in chunks])
        found: dict[tuple[int, int], tuple[int, int]] = {}
        for spans in self.gather(
            lambda s: self.stores[s].chunk_spans([c for c, o in zip(chunks, owners) if o == s]) if s in owners else {}
        ):
            found.update(spans or {})
        return found

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
    score alike, see the module's docstring) merged by score, ties by row id; a component that searches in parts
    (:class:`index.component.SearchingInParts`) runs its own stages over the shards instead. The optional abilities
    of the component's class are declared by the class :func:`sharded_component` makes, never answered for every
    kind."""

    def __init__(self, name: str, parts: Sequence[IndexComponent], store: ShardedStore) -> None:
        self.name, self.parts, self._store = name, list(parts), store
        kind = component_type(name)
        self._search_parts = kind.search_parts if SearchingInParts in abilities(kind) else None

    def row_ids(self) -> np.ndarray:
        return sorted_ids(np.concatenate([p.row_ids() for p in self.parts]))

    def search(
        self,
        queries: Sequence[Any],
        k: int,
        *,
        allowed: np.ndarray | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> list[Ranking]:
        if self._search_parts is None:
            found = [
                f
                for f in self._store.gather(
                    lambda s: self.parts[s].search(queries, k, allowed=allowed, options=options)
                )
                if f is not None
            ]
            return [merged_ranking([shard[i] for shard in found], k) for i in range(len(queries))]
        answering = list(range(len(self.parts)))
        while answering:  # the stages need every shard's answer: one that fails is left out and the search run again
            try:
                return self._search_parts(
                    [self.parts[s] for s in answering],
                    queries,
                    k,
                    allowed=allowed,
                    options=options,
                    run=self._store.run,
                )
            except ShardUnavailableError as err:
                self._store.left_out(err)
                answering.remove(self._store.names.index(err.shard))
        return [Ranking.empty() for _ in queries]


class _ShardedRescoring(ShardedComponent):
    def rescore(self, query: Any, row_ids: Sequence[int]) -> np.ndarray:
        """The component's ``rescore`` of each row by the shard that holds it (scores in the order of ``row_ids``;
        -inf for a row whose shard did not answer)."""
        owners, wanted = self._store.by_shard(row_ids)
        scores = np.full(len(row_ids), -np.inf, dtype=np.float32)
        rescored = self._store.gather(
            lambda s: self.parts[s].rescore(query, wanted[s]) if wanted[s] else np.zeros(0, np.float32)
        )
        for shard, found in enumerate(rescored):
            if found is not None:
                scores[owners == shard] = found
        return scores


class _ShardedExplaining(ShardedComponent):
    def document_vectors(self, row_id: int) -> np.ndarray:
        """The stored vectors of one document, from its shard."""
        return self.parts[int(self._store.owners([row_id])[0])].document_vectors(row_id)


_FORWARDING = {Rescoring: _ShardedRescoring, Explaining: _ShardedExplaining}


def sharded_component(name: str, parts: Sequence[IndexComponent], store: ShardedStore) -> ShardedComponent:
    """The sharded form of component ``name``, with exactly the optional abilities its class has."""
    return _sharded_class(abilities(component_type(name)))(name, parts, store)


@functools.cache
def _sharded_class(kinds: tuple[type, ...]) -> type[ShardedComponent]:
    mixins = tuple(_FORWARDING[kind] for kind in kinds if kind in _FORWARDING)
    if not mixins:
        return ShardedComponent
    return type("Sharded" + "".join(kind.__name__ for kind in kinds if kind in _FORWARDING), mixins, {})


def merged_ranking(rankings: Sequence[Ranking], k: int) -> Ranking:
    """The best ``k`` of several shards' rankings of one query: highest score first, ties by row id.

    >>> first = Ranking(np.array([4, 1]), np.array([0.75, 0.5]))
    >>> second = Ranking(np.array([7, 2]), np.array([0.625, 0.5]))
    >>> merged = merged_ranking([first, second], 3)
    >>> merged.rows.tolist(), merged.scores.tolist()
    ([4, 7, 1], [0.75, 0.625, 0.5])
    """
    rows = np.concatenate([r.rows for r in rankings]).astype(np.int64)
    scores = np.concatenate([r.scores for r in rankings]).astype(np.float32)
    order = np.lexsort((rows, -scores))[:k]
    chunks = None
    if any(r.chunks is not None for r in rankings):
        chunks = np.concatenate([r.chunks if r.chunks is not None else np.full(len(r), -1) for r in rankings]).astype(
            np.int64
        )[order]
    return Ranking(rows[order], scores[order], chunks)


def open_shards(
    names: Sequence[str], open_one: Callable[[str], Any], *, tolerate_missing: bool = False
) -> tuple[ShardedStore, dict[str, ShardedComponent]]:
    """Open every shard with ``open_one(name)`` (an object with ``store``, ``components`` and ``close``: an open
    index folder, or proxies for a shard served elsewhere) and join them: one store, one component per name."""
    opened: list[Any] = []
    try:
        for name in names:
            opened.append(open_one(name))
    except BaseException:
        for shard in opened:
            shard.close()
        raise
    store = ShardedStore([shard.store for shard in opened], list(names), tolerate_missing=tolerate_missing)
    components = {
        kind: sharded_component(kind, [shard.components[kind] for shard in opened], store)
        for kind in opened[0].components
    }
    return store, components
