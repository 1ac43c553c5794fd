"""Dense vector ids for documents split into chunks: ``row_id * 2**16 + chunk number`` in one int64.

Every vector of a dense index (format version 2) carries such an id, so the document a chunk
belongs to is a shift away, with no lookup table: ``parent = id >> 16``. A document whole in one
chunk has chunk number 0. Up to 65,536 chunks per document and 2**47 documents.
"""

from __future__ import annotations

import numpy as np

CHUNK_BITS = 16
MAX_CHUNKS = 1 << CHUNK_BITS


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
