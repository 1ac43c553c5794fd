"""Late-interaction (ColBERT) scoring: MaxSim as pure functions over token vectors."""

from __future__ import annotations

import numpy as np


def maxsim(query: np.ndarray, document: np.ndarray) -> float:
    """Sum over query tokens of the best inner product with any document token.

    ``query`` is ``(n_query_tokens, dim)``, ``document`` is ``(n_doc_tokens, dim)``.

    >>> q = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    >>> d = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [-1.0, 0.0]])
    >>> round(maxsim(q, d), 4)  # 1.0 + 1.0 + max(0.6, 0.8, 0.96, -0.6)
    2.96
    """
    if len(document) == 0:
        return 0.0
    return float((query @ document.T).max(axis=1).sum())


def maxsim_alignment(query: np.ndarray, document: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query token, the index of its best document token and that similarity.

    >>> q = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> d = np.array([[0.0, 1.0], [1.0, 0.0], [0.7, 0.7]])
    >>> best, sims = maxsim_alignment(q, d)
    >>> best.tolist(), sims.round(2).tolist()
    ([1, 0], [1.0, 1.0])
    """
    similarities = query @ document.T
    best = similarities.argmax(axis=1)
    return best, similarities[np.arange(len(query)), best]


def maxsim_segments(query: np.ndarray, tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """MaxSim of one query against many documents stored back to back.

    ``tokens`` is ``(total_tokens, dim)``; document ``i`` owns rows
    ``offsets[i]:offsets[i + 1]``. Returns ``(n_documents,)`` scores.

    >>> q = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> tokens = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    >>> maxsim_segments(q, tokens, np.array([0, 2, 3])).tolist()
    [2.0, 1.0]
    """
    lengths = np.diff(offsets)
    if len(lengths) == 0:
        return np.zeros(0, dtype=np.float32)
    similarities = query @ tokens.T  # (n_query_tokens, total_tokens)
    starts = offsets[:-1]
    best = np.full((len(query), len(lengths)), -np.inf, dtype=similarities.dtype)
    nonempty = lengths > 0
    best[:, nonempty] = np.maximum.reduceat(similarities, starts[nonempty], axis=1)
    best[:, ~nonempty] = 0.0
    return best.sum(axis=0)
