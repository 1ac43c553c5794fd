"""Map document row ids (the store's keys) to positions in an index's arrays, and choose the best of them."""

from __future__ import annotations

import numpy as np


def positions_of(row_ids: np.ndarray, wanted: np.ndarray | list[int]) -> np.ndarray:
    """Positions of ``wanted`` row ids in ``row_ids``; ``KeyError`` for an id the index does not hold.

    >>> positions_of(np.array([3, 7, 9]), [9, 3]).tolist()
    [2, 0]
    """
    wanted = np.asarray(wanted, dtype=np.int64)
    order = None if bool(np.all(row_ids[1:] > row_ids[:-1])) else np.argsort(row_ids)
    found = np.searchsorted(row_ids, wanted, sorter=order)
    found = np.minimum(found, len(row_ids) - 1) if order is None else order[np.minimum(found, len(row_ids) - 1)]
    missing = wanted[np.asarray(row_ids)[found] != wanted] if len(row_ids) else wanted
    if len(missing):
        raise KeyError(f"row ids not in this index: {missing[:5].tolist()}")
    return found


def best_of(scores: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` highest scores (all if fewer), ties at the cut broken by the lower row id, in no
    particular order; linear time. Whatever the order of the input, the same entries are chosen.

    >>> sorted(best_of(np.array([0.5, 3.0, 1.0, 2.0]), np.arange(4), 2).tolist())
    [1, 3]
    >>> sorted(best_of(np.array([1.0, 2.0, 1.0, 1.0]), np.array([9, 5, 3, 7]), 3).tolist())
    [1, 2, 3]
    """
    if len(scores) <= n:
        return np.arange(len(scores))
    cut = scores[np.argpartition(-scores, n - 1)[n - 1]]
    above = np.flatnonzero(scores > cut)
    tied = np.flatnonzero(scores == cut)
    tied = tied[np.argsort(rows[tied], kind="stable")[: n - len(above)]]
    return np.concatenate([above, tied])
