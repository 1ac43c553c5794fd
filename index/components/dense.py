"""The dense component: one unit vector per chunk in a FAISS index whose ids pack ``(row id, chunk number)``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from index.chunks import aggregate_chunks, unpack_ids
from index.component import Ranking, encoding_row, register, same_ids, sorted_ids
from index.dense import DenseIndex, factory_for
from index.errors import IndexFormatError
from index.sections import Section

DENSE_NAME = "dense.faiss"
MAX_TRAINING_VECTORS = 100_000
ADD_BLOCK = 65_536
CHUNK_OVERFETCH = 4  # chunk hits fetched per wanted document (multiplied again while too few documents)


@dataclass
class DenseSection(Section):
    """The dense component's manifest section."""

    model: dict[str, Any]
    factory: str
    dimension: int
    count: int
    file: str = DENSE_NAME
    index_type: str = ""
    metric: str = "inner_product"
    search_params: dict[str, Any] = field(default_factory=dict)
    ids: str = "row_id * 65536 + chunk number"
    chunking: dict[str, Any] = field(default_factory=dict)
    trained: dict[str, Any] | None = None


@dataclass(frozen=True)
class VectorRows:
    """Encoded chunks: ``(n, dim)`` vectors (may be memory-mapped) and their packed ids (:mod:`index.chunks`)."""

    vectors: np.ndarray
    ids: np.ndarray


@register
class DenseComponent:
    """FAISS nearest neighbours over chunk vectors, answered per document (chunk scores aggregated)."""

    name: ClassVar[str] = "dense"
    section_type: ClassVar[type[Section]] = DenseSection
    incremental: ClassVar[bool] = True

    def __init__(self, index: DenseIndex) -> None:
        self.index = index
        self._ids = index.ids()
        self._parents = unpack_ids(self._ids)[0]
        self._rows = sorted_ids(self._parents)
        self._last_selection: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def build(cls, rows: VectorRows, settings: Mapping[str, Any]) -> DenseComponent:
        """Train (if the factory needs it) on a seeded sample, then add the vectors block by block."""
        count, dim = rows.vectors.shape
        index = DenseIndex.create(dim, factory_for(settings.get("index_type", "flat"), count, dim))
        if index.needs_training:
            rng = np.random.default_rng(0)
            sample = np.sort(rng.choice(count, size=min(count, MAX_TRAINING_VECTORS), replace=False))
            index.train(np.asarray(rows.vectors[sample]))
        for start in range(0, count, ADD_BLOCK):
            index.add(np.asarray(rows.vectors[start : start + ADD_BLOCK]), rows.ids[start : start + ADD_BLOCK])
        return cls(index)

    @classmethod
    def load(cls, folder: Path, section: DenseSection, *, writable: bool = False) -> DenseComponent:
        index = DenseIndex.load(Path(folder) / section.file, section.factory, section.search_params, writable=writable)
        if len(index) != section.count:
            raise IndexFormatError(
                f"{folder}: the FAISS index holds {len(index)} vectors but the manifest records {section.count}. "
                "Rebuild the index."
            )
        return cls(index)

    def save(self, folder: Path) -> list[str]:
        self.index.save(Path(folder) / DENSE_NAME)
        return [DENSE_NAME]

    def add(self, rows: VectorRows) -> DenseComponent:
        if len(rows.ids):
            self.index.add(rows.vectors, rows.ids)
        return DenseComponent(self.index)

    def remove(self, row_ids: np.ndarray) -> DenseComponent:
        doomed = self._ids[np.isin(self._parents, np.asarray(row_ids, dtype=np.int64))]  # every chunk of them
        return DenseComponent(self.index.without(doomed))

    def part(self, row_ids: np.ndarray) -> DenseComponent:
        doomed = self._ids[~np.isin(self._parents, np.asarray(row_ids, dtype=np.int64))]
        return DenseComponent(self.index.copy().without(doomed))

    def row_ids(self) -> np.ndarray:
        return self._rows

    @property
    def chunked(self) -> bool:
        """Some documents are stored in more than one chunk, so chunk hits need aggregating."""
        return len(self._ids) > len(self._rows)

    def search(
        self,
        queries: Sequence[Any],
        k: int,
        *,
        allowed: np.ndarray | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> list[Ranking]:
        """Top-``k`` documents per query vector: chunk hits aggregated into document scores (``chunk_aggregate``
        option), fetching more chunks until ``k`` distinct documents are found or the index is exhausted."""
        how = (options or {}).get("chunk_aggregate", "max")
        selected = None if allowed is None else self._selected(allowed)
        available = len(self.index) if selected is None else int(np.count_nonzero(selected))
        vectors = np.asarray(queries, dtype=np.float32)
        fetch = k * CHUNK_OVERFETCH if self.chunked else k
        while True:
            scores, ids = self.index.search(vectors, fetch, selected)
            ranked = []
            for s, i in zip(scores, ids):
                rows, chunks = unpack_ids(i)
                ranked.append(aggregate_chunks(s, rows, chunks, how)[:k])
            if not self.chunked or fetch >= available or all(len(r) >= k for r in ranked):
                break
            fetch *= CHUNK_OVERFETCH
        return [
            Ranking(
                np.array([r for r, _, _ in found], dtype=np.int64),
                np.array([s for _, s, _ in found], dtype=np.float32),
                np.array([c if self.chunked else -1 for _, _, c in found], dtype=np.int64),
            )
            for found in ranked
        ]

    def _selected(self, allowed: np.ndarray) -> np.ndarray:
        """Which stored vectors (a boolean mask in storage order) belong to the ``allowed`` documents. A read-only
        ``allowed`` (what a store returns for a filter, again for the same filter) reuses its mask."""
        if self._last_selection is not None and self._last_selection[0] is allowed:
            return self._last_selection[1]
        table = np.zeros(int(self._parents.max(initial=-1)) + 1, dtype=bool)
        rows = np.asarray(allowed, dtype=np.int64)
        table[rows[(rows >= 0) & (rows < len(table))]] = True
        mask = table[self._parents]
        mask.flags.writeable = False
        if isinstance(allowed, np.ndarray) and not allowed.flags.writeable:
            self._last_selection = (allowed, mask)
        return mask

    def describe(self) -> dict[str, Any]:
        return {
            "factory": self.index.factory,
            "dimension": self.index.dimension,
            "count": len(self.index),
            "search_params": self.index.search_params,
        }

    def training_fit(self) -> dict[str, Any] | None:
        """The IVF cells' imbalance right after training (what :meth:`drift` compares against); ``None`` without
        cells."""
        imbalance = self.index.cell_imbalance()
        return None if imbalance is None else {"cell_imbalance": round(imbalance, 6), "vectors": len(self.index)}

    def drift(self, section: DenseSection) -> float | None:
        """Cell imbalance now over right after training: data unlike the training data crowds into few cells."""
        if not section.trained:
            return None
        return round(self.index.cell_imbalance() / section.trained["cell_imbalance"], 4)

    @classmethod
    def summary(cls, section: DenseSection) -> list[tuple[str, str]]:
        """Rows for people (``info``, the UI's index page)."""
        import json

        model = section.model
        return [
            ("model", str(model.get("name"))),
            ("model spec / revision", f"{model.get('spec')} / {model.get('revision') or 'unknown'}"),
            ("dimensions", str(section.dimension)),
            ("similarity", f"{model.get('similarity')} (normalized: {model.get('normalized')})"),
            ("max tokens", str(model.get("max_tokens"))),
            encoding_row(model),
            ("FAISS factory", section.factory),
            ("search params", json.dumps(section.search_params)),
        ]

    @classmethod
    def label(cls, section: DenseSection) -> str:
        """The structure in a few words, for build summaries and result tables."""
        return section.factory

    @classmethod
    def verify(cls, folder: Path, section: DenseSection, row_ids: np.ndarray) -> str:
        import faiss

        path = Path(folder) / section.file
        index = faiss.read_index(str(path))
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        if len(np.unique(ids)) != len(ids):
            raise IndexFormatError(f"{path} holds repeated vector ids")
        parents, chunks = unpack_ids(ids)
        same_ids(str(path), np.unique(parents), row_ids)
        if index.d != section.dimension:
            raise IndexFormatError(f"{path} has {index.d} dimensions, the manifest records {section.dimension}")
        position = np.searchsorted(np.sort(row_ids), parents)
        per_document = np.bincount(position, minlength=len(row_ids))
        if np.any(chunks >= per_document[position]):
            raise IndexFormatError(f"{path}: chunk numbers must run 0..n-1 within each document")
        chunked = int(np.sum(per_document > 1))
        return (
            f"{index.ntotal:,} vectors of {index.d} dimensions for {len(row_ids):,} documents ({chunked:,} in chunks)"
        )
