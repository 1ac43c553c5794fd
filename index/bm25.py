"""The lexical index: BM25 (bm25s) over already-analysed token lists, stored in the index folder and memory-mapped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.rows import best_of

BM25_FOLDER = "bm25"
ROW_IDS_FILE = "row_ids.npy"
DEFAULT_PARAMS = {"k1": 1.5, "b": 0.75, "method": "lucene"}  # bm25s's defaults (docs/index-format.md, "Design choices")


@dataclass
class BM25Index:
    """BM25 scores over a fixed collection; positions map to document row ids."""

    model: Any  # bm25s.BM25
    row_ids: np.ndarray
    params: dict[str, Any]

    def __len__(self) -> int:
        return int(len(self.row_ids))

    @classmethod
    def build(
        cls, documents: Sequence[list[str]], row_ids: np.ndarray, params: dict[str, Any] | None = None
    ) -> BM25Index:
        """Index one token list per document (``row_ids`` in the same order)."""
        import bm25s

        params = {**DEFAULT_PARAMS, **(params or {})}
        if len(documents) != len(row_ids):
            raise ValueError(f"{len(documents)} token lists but {len(row_ids)} row ids")
        vocabulary: dict[str, int] = {}  # in order of first use, so the same corpus always gives the same files
        token_ids = [[vocabulary.setdefault(token, len(vocabulary)) for token in tokens] for tokens in documents]
        model = bm25s.BM25(k1=params["k1"], b=params["b"], method=params["method"])
        model.index((token_ids, vocabulary), show_progress=False)
        return cls(model=model, row_ids=np.asarray(row_ids, dtype=np.int64), params=params)

    def part(self, positions: np.ndarray) -> BM25Index:
        """The documents at ``positions`` with the scores they have in the whole collection (its document frequencies
        and average length), so that the parts of a split score every document exactly as the whole does."""
        import bm25s
        import scipy.sparse as sp

        scores = self.model.scores
        matrix = sp.csc_matrix(
            (scores["data"], scores["indices"], scores["indptr"]), shape=(scores["num_docs"], len(scores["indptr"]) - 1)
        )
        kept = matrix[np.asarray(positions, dtype=np.int64)].tocsc()
        kept.sort_indices()
        model = bm25s.BM25(k1=self.params["k1"], b=self.params["b"], method=self.params["method"])
        model.scores = {
            "data": kept.data.astype(scores["data"].dtype),
            "indices": kept.indices.astype(scores["indices"].dtype),
            "indptr": kept.indptr.astype(scores["indptr"].dtype),
            "num_docs": len(positions),
        }
        model.vocab_dict = dict(self.model.vocab_dict)
        model.nonoccurrence_array = getattr(self.model, "nonoccurrence_array", None)
        return BM25Index(
            model=model, row_ids=self.row_ids[np.asarray(positions, dtype=np.int64)], params=dict(self.params)
        )

    def save(self, folder: Path) -> list[str]:
        """Write the bm25s files under ``folder/bm25``; returns their paths relative to ``folder``."""
        target = Path(folder) / BM25_FOLDER
        self.model.save(str(target), show_progress=False)
        np.save(target / ROW_IDS_FILE, self.row_ids)
        return sorted(f"{BM25_FOLDER}/{p.name}" for p in target.iterdir() if p.is_file())

    @classmethod
    def load(cls, folder: Path, params: dict[str, Any] | None = None) -> BM25Index:
        """Open a saved index, memory-mapping the score matrix."""
        import bm25s

        source = Path(folder) / BM25_FOLDER
        model = bm25s.BM25.load(str(source), mmap=True, show_progress=False)
        chosen = {key: (params or {}).get(key, default) for key, default in DEFAULT_PARAMS.items()}
        return cls(model=model, row_ids=np.load(source / ROW_IDS_FILE), params=chosen)

    def describe(self) -> dict[str, Any]:
        """Facts for the manifest."""
        return {
            "folder": BM25_FOLDER,
            "library": "bm25s",
            **self.params,
            "documents": len(self),
            "vocabulary": len(self.model.vocab_dict),
        }

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of every document (by position) for one analysed query; zeros when no token is known."""
        known = [t for t in tokens if t in self.model.vocab_dict]
        if not known:
            return np.zeros(len(self), dtype=np.float32)
        return np.asarray(self.model.get_scores(known), dtype=np.float32)

    def search(self, tokens: list[str], k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(scores, row ids)`` with a positive score, best first (ties by row id); with ``allowed``
        (row ids), among those documents only."""
        scores = self.scores(tokens)
        matched = np.flatnonzero(scores > 0)
        if allowed is not None:
            matched = matched[np.isin(self.row_ids[matched], allowed)]
        matched = matched[best_of(scores[matched], self.row_ids[matched], k)]  # ties at the cut: lower row ids
        order = matched[np.lexsort((self.row_ids[matched], -scores[matched]))]
        return scores[order], self.row_ids[order]
