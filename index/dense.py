"""Dense vector index: one FAISS index, described by a factory string, whose ids are document row ids."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import IndexFormatError, SettingError

INDEX_TYPES = ("flat", "hnsw", "ivfpq")
MIN_POINTS_PER_CENTROID = 39
DEFAULT_SEARCH_PARAMS = {"hnsw": {"efSearch": 128}, "ivf": {"nprobe": 16}}
# A filtered search scores the allowed vectors exactly when they are at most this share of the index (or this
# many): measured by `modernsearch bench filter`, where the graph's filtered search lost recall or time below it.
EXACT_BELOW = 0.05
EXACT_BELOW_COUNT = 2_000
FILTERED_EF_MAX = 1024  # the widest graph search a filter asks for
# efSearch x 2 at 10% allowed, x 1.2 at 50% (chosen with `bench filter`, see docs/filters.md)
FILTERED_EF_EXPONENT = 0.3


def factory_for(index_type: str, n_vectors: int, dim: int) -> str:
    """FAISS factory string for ``flat``, ``hnsw`` or ``ivfpq`` sized to the corpus; anything else is used as given.

    IVF cell counts follow ~4*sqrt(n) but keep at least 39 training points per
    centroid, so small corpora still train. IVF-PQ uses 4-bit fast-scan codes of
    two dimensions each (a sixteenth of float32), whose small code books train far
    faster than 8-bit PQ's (docs/index-format.md, "Design choices"):

    >>> factory_for("flat", 1000, 384)
    'Flat'
    >>> factory_for("ivfpq", 5000, 384)
    'IVF128,PQ192x4fsr'
    >>> factory_for("ivfpq", 1_000_000, 384)
    'IVF4000,PQ192x4fsr'
    """
    kind = index_type.lower()
    if kind == "flat":
        return "Flat"
    if kind == "hnsw":
        return "HNSW32"
    if kind == "ivfpq":
        if n_vectors < 16 * MIN_POINTS_PER_CENTROID:
            raise SettingError(
                "index_type",
                index_type,
                f"must be flat or hnsw for a corpus of {n_vectors} documents (IVF-PQ needs at least "
                f"{16 * MIN_POINTS_PER_CENTROID} documents to train)",
            )
        nlist = max(1, min(round(4 * math.sqrt(n_vectors)), n_vectors // MIN_POINTS_PER_CENTROID))
        m = dim // 2 if dim % 2 == 0 else dim
        return f"IVF{nlist},PQ{m}x4fsr"
    return index_type


def default_search_params(factory: str) -> dict[str, int]:
    """Search-time knobs recorded in the manifest (efSearch for HNSW, nprobe for IVF)."""
    if "HNSW" in factory:
        return dict(DEFAULT_SEARCH_PARAMS["hnsw"])
    if "IVF" in factory:
        return dict(DEFAULT_SEARCH_PARAMS["ivf"])
    return {}


class DenseIndex:
    """Inner-product nearest neighbours over unit vectors, with ids that survive removals (``IDMap2``)."""

    def __init__(self, faiss_index: Any, factory: str, search_params: dict[str, int] | None = None) -> None:
        self._index = faiss_index
        self._ids: np.ndarray | None = None
        self._last_bits: tuple[np.ndarray, np.ndarray] | None = None
        self.factory = factory
        self.search_params = dict(search_params or {})
        self._apply_search_params()

    @classmethod
    def create(cls, dim: int, factory: str) -> DenseIndex:
        """An empty index of ``dim`` dimensions built from a FAISS factory string."""
        import faiss

        full = factory if factory.startswith("IDMap2,") else f"IDMap2,{factory}"
        try:
            index = faiss.index_factory(dim, full, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as err:
            raise ValueError(f"FAISS cannot build an index from factory string {factory!r}: {err}") from err
        return cls(index, full, default_search_params(full))

    @property
    def dimension(self) -> int:
        """Vector size."""
        return int(self._index.d)

    @property
    def needs_training(self) -> bool:
        """True for IVF/PQ indexes that must see sample vectors before ``add``."""
        return not self._index.is_trained

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def train(self, vectors: np.ndarray) -> None:
        """Train quantizers on a sample ``(n, dim)`` of the vectors to be added."""
        self._index.train(np.ascontiguousarray(vectors, dtype=np.float32))

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Add ``(n, dim)`` vectors under int64 ``ids``."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension:
            raise ValueError(f"expected vectors of shape (n, {self.dimension}), got {vectors.shape}")
        self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
        self._ids = None

    def search(self, queries: np.ndarray, k: int, selected: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(scores, ids)``, each ``(n_queries, k)``; missing slots have id -1.

        With ``selected`` (a boolean mask over the stored vectors, in storage order) only those vectors are
        candidates, filtered inside FAISS's search. Few selected vectors are scored exactly instead (see
        :meth:`plan`), and a query the index answers with fewer than ``k`` of them is answered exactly, so ``k``
        results come back whenever ``k`` vectors are selected.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim == 1:
            queries = queries[None, :]
        k = max(1, min(k, len(self))) if len(self) else 1
        if selected is None:
            return self._index.search(queries, k)
        n_selected = int(np.count_nonzero(selected))
        if n_selected == 0:
            return np.full((len(queries), k), -np.inf, dtype=np.float32), np.full((len(queries), k), -1, dtype=np.int64)
        bits = self._bits(selected)
        exact = self.plan(n_selected) == "exact"
        scores, positions = self._selected_search(queries, k, bits, exact, n_selected / max(1, len(self)))
        short = np.flatnonzero((positions >= 0).sum(axis=1) < min(k, n_selected))
        if len(short) and not exact:
            scores[short], positions[short] = self._selected_search(queries[short], k, bits, True, 1.0)
        return scores, np.where(positions >= 0, self.ids()[np.maximum(positions, 0)], -1)

    def plan(self, n_selected: int) -> str:
        """How a search restricted to ``n_selected`` vectors runs: ``exact`` (every selected vector scored, on the
        stored vectors or every IVF cell) or ``index`` (the graph or the probed cells, skipping the others).
        Graphs and probed cells find too few neighbours among few allowed vectors, and scoring them is cheap."""
        if not self._approximate or n_selected <= EXACT_BELOW * max(1, len(self)) or n_selected <= EXACT_BELOW_COUNT:
            return "exact"
        return "index"

    @property
    def _approximate(self) -> bool:
        import faiss

        return isinstance(faiss.downcast_index(self._index.index), (faiss.IndexHNSW, faiss.IndexIVF))

    def _bits(self, selected: np.ndarray) -> np.ndarray:
        """The mask as FAISS's bitmap (bit i of byte i // 8 for position i); a read-only mask reuses its bitmap."""
        if self._last_bits is not None and self._last_bits[0] is selected:
            return self._last_bits[1]
        bits = np.packbits(selected, bitorder="little")
        if not selected.flags.writeable:
            self._last_bits = (selected, bits)
        return bits

    def _selected_search(
        self, queries: np.ndarray, k: int, bits: np.ndarray, exact: bool, share: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Search the inner index (positions as ids) among the vectors whose bit is set (``share`` of them).
        A graph widens its search by share ** -FILTERED_EF_EXPONENT, since fewer of the nodes it visits count."""
        import faiss

        selector = faiss.IDSelectorBitmap(len(self), faiss.swig_ptr(bits))
        inner = faiss.downcast_index(self._index.index)
        if isinstance(inner, faiss.IndexHNSW):
            if exact:
                return faiss.downcast_index(inner.storage).search(
                    queries, k, params=faiss.SearchParameters(sel=selector)
                )
            widened = min(FILTERED_EF_MAX, round(inner.hnsw.efSearch * max(share, 1e-9) ** -FILTERED_EF_EXPONENT))
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(k, widened))
        elif isinstance(inner, faiss.IndexIVF):
            params = faiss.SearchParametersIVF(sel=selector, nprobe=inner.nlist if exact else inner.nprobe)
        else:
            params = faiss.SearchParameters(sel=selector)
        return inner.search(queries, k, params=params)

    def ids(self) -> np.ndarray:
        """Every stored vector id, in storage order (read once per index object)."""
        import faiss

        if self._ids is None or len(self._ids) != len(self):
            self._ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        return self._ids

    def copy(self) -> DenseIndex:
        """An independent copy (FAISS clone) with the same factory and search settings."""
        import faiss

        return DenseIndex(faiss.clone_index(self._index), self.factory, self.search_params)

    def without(self, ids: np.ndarray | list[int]) -> DenseIndex:
        """This index without the vectors of ``ids``: removed in place where FAISS can (Flat, IVF),
        else (HNSW) rebuilt from the remaining stored vectors."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return self
        try:
            self._index.remove_ids(ids)
            self._ids = None
            return self
        except RuntimeError:
            stored = self.ids()
            vectors = self._index.index.reconstruct_n(0, self._index.ntotal)
            keep = ~np.isin(stored, ids)
            rebuilt = DenseIndex.create(self.dimension, self.factory)
            rebuilt.search_params = dict(self.search_params)
            rebuilt._apply_search_params()
            rebuilt.add(vectors[keep], stored[keep])
            return rebuilt

    def cell_imbalance(self) -> float | None:
        """FAISS's imbalance factor of the IVF cells (1.0 when every cell holds as many vectors; grows as
        vectors crowd into few cells), or ``None`` for indexes without cells. Relative to its value after
        training it measures drift: data the cells were not trained on piles into the cells nearest to it."""
        import faiss

        try:
            ivf = faiss.extract_index_ivf(self._index)
        except RuntimeError:
            return None
        return float(ivf.invlists.imbalance_factor()) if ivf.ntotal else None

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """Stored vectors for ``ids`` (exact for Flat/HNSW, decoded for PQ)."""
        return np.vstack([self._index.reconstruct(int(i)) for i in ids])

    def save(self, path: Path) -> None:
        """Write the FAISS index file."""
        import faiss

        faiss.write_index(self._index, str(path))

    @classmethod
    def load(
        cls, path: Path, factory: str, search_params: dict[str, int] | None = None, *, writable: bool = False
    ) -> DenseIndex:
        """Read a FAISS index file, memory-mapped read-only where FAISS supports it (``writable`` for updates)."""
        import faiss

        try:
            index = faiss.read_index(str(path), 0 if writable else faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError:
            try:
                index = faiss.read_index(str(path))
            except RuntimeError as err:
                raise IndexFormatError(f"{path} is not a readable FAISS index: {err}") from err
        return cls(index, factory, search_params)

    def _apply_search_params(self) -> None:
        import faiss

        inner = faiss.downcast_index(self._index.index)
        for name, value in self.search_params.items():
            faiss.ParameterSpace().set_index_parameter(inner, name, value)
