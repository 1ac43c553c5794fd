"""Late interaction over a token index's arrays, block by block: each query token's best similarity among a
document's tokens (exact, decoded or centroid scores), and the centroid interaction read from inverted lists."""

from __future__ import annotations

from typing import Any

import numpy as np

BLOCK_TOKENS = 16_384  # tokens decoded at once: the temporaries stay small and their memory is reused


def per_document_best(
    doc_offsets: np.ndarray,
    token_centroid: np.ndarray,
    docs: np.ndarray,
    kept: np.ndarray | None,
    similarities: Any,
    n_query: int,
) -> np.ndarray:
    """``(n_query, len(docs))``: for each query token and document, the best of ``similarities(positions,
    centroids)`` (an ``(n_query, n)`` array for those tokens) over the document's tokens, only those of ``kept``
    centroids when given; 0 where a document has no such token. Runs over blocks of about
    :data:`BLOCK_TOKENS` tokens."""
    starts, ends = doc_offsets[docs], doc_offsets[docs + 1]
    best = np.zeros((n_query, len(docs)), dtype=np.float32)
    for a, b in blocks(ends - starts, BLOCK_TOKENS):
        positions = ranges(starts[a:b], ends[a:b])
        centroids_of = np.asarray(token_centroid[positions])
        counts = ends[a:b] - starts[a:b]
        if kept is not None:
            survives = kept[centroids_of]
            running = np.concatenate([[0], np.cumsum(survives)])
            bounds = np.concatenate([[0], np.cumsum(counts)])
            counts = running[bounds[1:]] - running[bounds[:-1]]
            positions, centroids_of = positions[survives], centroids_of[survives]
        if len(positions) == 0:
            continue
        found = similarities(positions, centroids_of)
        nonempty = counts > 0
        firsts = np.concatenate([[0], np.cumsum(counts)[:-1]])[nonempty]
        block = best[:, a:b]
        block[:, nonempty] = np.maximum.reduceat(found, firsts, axis=1)
    return best


def kept_list_interaction(
    ivf_offsets: np.ndarray,
    ivf_docs: np.ndarray,
    n_docs: int,
    centroid_scores: np.ndarray,
    docs: np.ndarray,
    lists: np.ndarray,
) -> np.ndarray:
    """Centroid interaction with pruning, read from the inverted lists of the kept centroids (``lists``) instead of
    the documents' tokens: a long document holds each centroid many times but is in its list once. One score per
    document position in ``docs`` (of ``n_docs``)."""
    starts, ends = ivf_offsets[lists], ivf_offsets[lists + 1]
    holders = np.asarray(ivf_docs)[ranges(starts, ends)]
    centroid_of = np.repeat(lists, ends - starts)
    slot = np.full(n_docs, -1, dtype=np.int64)  # where each wanted document's score goes
    slot[docs] = np.arange(len(docs))
    keep = slot[holders] >= 0
    holders, centroid_of = holders[keep], centroid_of[keep]
    order = np.argsort(holders, kind="stable")
    holders, centroid_of = holders[order], centroid_of[order]
    scores = np.zeros(len(docs), dtype=np.float32)
    if len(holders):
        firsts = np.flatnonzero(np.r_[True, holders[1:] != holders[:-1]])
        per_pair = np.ascontiguousarray(centroid_scores.T)[centroid_of]
        scores[slot[holders[firsts]]] = np.maximum(np.maximum.reduceat(per_pair, firsts, axis=0), 0.0).sum(axis=1)
    return scores


def ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, e)`` for each pair, without a Python loop.

    >>> ranges(np.array([0, 5]), np.array([2, 8])).tolist()
    [0, 1, 5, 6, 7]
    """
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    steps = np.ones(total, dtype=np.int64)
    boundaries = np.cumsum(lengths)[:-1]
    steps[0] = starts[0]
    steps[boundaries] = starts[1:] - ends[:-1] + 1
    return np.cumsum(steps)


def blocks(lengths: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Consecutive ``(start, end)`` runs of items whose lengths sum to about ``size`` (at least one item each).

    >>> blocks(np.array([3, 3, 3, 10, 1]), 6)
    [(0, 2), (2, 3), (3, 4), (4, 5)]
    """
    ends = np.cumsum(lengths)
    runs, start = [], 0
    while start < len(lengths):
        before = int(ends[start - 1]) if start else 0
        end = max(start + 1, int(np.searchsorted(ends, before + size, side="right")))
        runs.append((start, end))
        start = end
    return runs
