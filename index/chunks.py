"""Dense vector ids for documents split into chunks: ``row_id * 2**16 + chunk number`` in one int64.

Every vector of a dense index (format version 2) carries such an id, so the document a chunk
belongs to is a shift away, with no lookup table: ``parent = id >> 16``. A document whole in one
chunk has chunk number 0. Up to 65,536 chunks per document and 2**47 documents.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

CHUNK_BITS = 16
MAX_CHUNKS = 1 << CHUNK_BITS
AGGREGATES = ("max", "sum", "mean")  # how chunk scores become a document score


def pack_ids(row_ids: np.ndarray, chunk_numbers: np.ndarray) -> np.ndarray:
    """Vector ids of chunks.

    >>> pack_ids(np.array([1, 1, 2]), np.array([0, 1, 0])).tolist()
    [65536, 65537, 131072]
    """
    chunk_numbers = np.asarray(chunk_numbers, dtype=np.int64)
    if len(chunk_numbers) and (chunk_numbers.min() < 0 or chunk_numbers.max() >= MAX_CHUNKS):
        raise ValueError(f"chunk numbers must lie in 0..{MAX_CHUNKS - 1}; split documents into fewer, longer chunks")
    return (np.asarray(row_ids, dtype=np.int64) << CHUNK_BITS) | chunk_numbers


def unpack_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(row ids, chunk numbers)`` of vector ids; FAISS's -1 padding stays -1 in both.

    >>> [a.tolist() for a in unpack_ids(np.array([65537, 131072, -1]))]
    [[1, 2, -1], [1, 0, -1]]
    """
    ids = np.asarray(ids, dtype=np.int64)
    missing = ids < 0
    rows = np.where(missing, -1, ids >> CHUNK_BITS)
    chunks = np.where(missing, -1, ids & (MAX_CHUNKS - 1))
    return rows, chunks


def aggregate_chunks(
    scores: Sequence[float], rows: Sequence[int], chunks: Sequence[int], how: str = "max"
) -> list[tuple[int, float, int]]:
    """Document scores from the chunk hits of one query: ``(row, score, best chunk)``, best first, ties by row.
    Negative rows (FAISS padding) are skipped.

    >>> aggregate_chunks([0.5, 0.375, 0.25, 0.125], [1, 2, 1, 3], [0, 0, 4, 1], "max")
    [(1, 0.5, 0), (2, 0.375, 0), (3, 0.125, 1)]
    >>> aggregate_chunks([0.5, 0.375, 0.25, 0.125], [1, 2, 1, 3], [0, 0, 4, 1], "sum")
    [(1, 0.75, 0), (2, 0.375, 0), (3, 0.125, 1)]
    >>> aggregate_chunks([0.5, 0.375, 0.25, 0.125], [1, 2, 1, 3], [0, 0, 4, 1], "mean")
    [(1, 0.375, 0), (2, 0.375, 0), (3, 0.125, 1)]
    """
    if how not in AGGREGATES:
        raise ValueError(f"chunk aggregation must be one of {', '.join(AGGREGATES)}, got {how!r}")
    found: dict[int, list[float]] = defaultdict(list)
    best: dict[int, tuple[float, int]] = {}
    for score, row, chunk in zip(scores, rows, chunks):
        row, score = int(row), float(score)
        if row < 0:
            continue
        found[row].append(score)
        if row not in best or score > best[row][0]:
            best[row] = (score, int(chunk))
    combine = {"max": max, "sum": sum, "mean": lambda s: sum(s) / len(s)}[how]
    ranked = [(row, float(combine(s)), best[row][1]) for row, s in found.items()]
    return sorted(ranked, key=lambda r: (-r[1], r[0]))
