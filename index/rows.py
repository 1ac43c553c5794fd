"""Map document row ids (the store's keys) to positions in an index's arrays."""

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
