"""Rank fusion: combine the rankings of several retrievers into one (pure functions, no I/O).

Two families, as analysed by Bruch, Gai and Ingber ("An Analysis of Fusion Functions for Hybrid Retrieval",
TOIS 2023): reciprocal rank fusion, which sees only ranks, and a convex combination of scores put on one scale
by a normalisation. Ties are broken by id, so the same inputs always give the same order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeVar

Id = TypeVar("Id", bound=Hashable)
Normaliser = Callable[[Mapping[Id, float]], dict[Id, float]]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Id]], k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[Id, float]]:
    """Reciprocal rank fusion (Cormack et al., 2009): each list adds ``weight / (k + rank)`` to its documents.

    Ranks start at 1; a document missing from a list gets nothing from it. Weights default to 1 per list.

    >>> fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "c", "d"]], k=60)
    >>> [(doc, round(score, 5)) for doc, score in fused]  # b: 1/62 + 1/61, c: 1/63 + 1/62, a: 1/61, d: 1/63
    [('b', 0.03252), ('c', 0.032), ('a', 0.01639), ('d', 0.01587)]
    >>> reciprocal_rank_fusion([[], ["x"]], k=1)
    [('x', 0.5)]
    >>> [doc for doc, _ in reciprocal_rank_fusion([["a", "b"], ["b", "a"]], k=60, weights=[1.5, 0.5])]
    ['a', 'b']
    """
    if k < 0:
        raise ValueError(f"the RRF constant k must be >= 0, got {k}")
    weights = _weights(rankings, weights)
    fused: dict[Id, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, doc in enumerate(ranking, start=1):
            fused[doc] = fused.get(doc, 0.0) + weight / (k + rank)
    return _ordered(fused)


def min_max_normalise(scores: Mapping[Id, float]) -> dict[Id, float]:
    """Scale scores to [0, 1] (best 1, worst 0) so scores of different retrievers can be added.

    All-equal scores (including a single document) map to 1.0: each is the best of its list.

    >>> min_max_normalise({"a": 12.0, "b": 7.0, "c": 2.0})
    {'a': 1.0, 'b': 0.5, 'c': 0.0}
    >>> min_max_normalise({"a": 0.3})
    {'a': 1.0}
    >>> min_max_normalise({"a": 2.0, "b": 2.0})
    {'a': 1.0, 'b': 1.0}
    >>> min_max_normalise({})
    {}
    """
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return {doc: 1.0 for doc in scores}
    return {doc: (s - low) / (high - low) for doc, s in scores.items()}


def z_score_normalise(scores: Mapping[Id, float]) -> dict[Id, float]:
    """Distribution-based scaling (Qdrant's DBSF): the mean minus and plus three standard deviations of the list
    map to 0 and 1, clipped there. Unlike min-max, one outlying best score does not squash the rest.

    All-equal scores (including a single document) map to 1.0, as in :func:`min_max_normalise`.

    >>> {d: round(s, 4) for d, s in z_score_normalise({"a": 3.0, "b": 2.0, "c": 1.0}).items()}  # mean 2, std 0.8165
    {'a': 0.7041, 'b': 0.5, 'c': 0.2959}
    >>> z_score_normalise({"a": 100.0, **{name: 1.0 for name in "bcdefghij"}})["a"]
    1.0
    >>> z_score_normalise({"a": 0.3})
    {'a': 1.0}
    >>> z_score_normalise({"a": 1.0, "b": 1.0})
    {'a': 1.0, 'b': 1.0}
    >>> z_score_normalise({})
    {}
    """
    if not scores:
        return {}
    values = list(scores.values())
    mean = math.fsum(values) / len(values)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))
    if std == 0.0:
        return {doc: 1.0 for doc in scores}
    low, span = mean - 3 * std, 6 * std
    return {doc: min(1.0, max(0.0, (s - low) / span)) for doc, s in scores.items()}


def bounded_normaliser(low: float, high: float | None = None) -> Normaliser:
    """Scaling by a retriever's theoretical range: ``low`` maps to 0 and ``high`` to 1 (``None``: the list's best
    score, for scores without an upper bound such as BM25's), clipped to [0, 1]. A weak list stays weak: its
    best is not stretched to 1 when its scores are all low.

    >>> cosine = bounded_normaliser(-1.0, 1.0)
    >>> cosine({"a": 0.5, "b": -0.2})
    {'a': 0.75, 'b': 0.4}
    >>> bm25 = bounded_normaliser(0.0)
    >>> bm25({"a": 8.0, "b": 2.0})
    {'a': 1.0, 'b': 0.25}
    >>> bm25({"a": 0.0}), bm25({})
    ({'a': 1.0}, {})
    """

    def normalise(scores: Mapping[Id, float]) -> dict[Id, float]:
        if not scores:
            return {}
        top = max(scores.values()) if high is None else high
        if top <= low:
            return {doc: 1.0 for doc in scores}
        return {doc: min(1.0, max(0.0, (s - low) / (top - low))) for doc, s in scores.items()}

    return normalise


def linear_fusion(
    scores: Sequence[Mapping[Id, float]], weights: Sequence[float], normalisers: Sequence[Normaliser] | None = None
) -> list[tuple[Id, float]]:
    """Weighted sum of normalised scores (min-max unless ``normalisers`` gives one per list); a document missing
    from a list scores 0 there.

    >>> dense = {"a": 0.9, "b": 0.7, "c": 0.5}
    >>> bm25 = {"c": 20.0, "d": 10.0}
    >>> [(doc, round(s, 3)) for doc, s in linear_fusion([dense, bm25], [0.5, 0.5])]
    [('a', 0.5), ('c', 0.5), ('b', 0.25), ('d', 0.0)]
    >>> [(doc, round(s, 3)) for doc, s in linear_fusion([dense, bm25], [1.0, 0.0])]  # weight 1: the dense order
    [('a', 1.0), ('b', 0.5), ('c', 0.0), ('d', 0.0)]
    >>> linear_fusion([{}, {}], [0.5, 0.5])
    []
    """
    if len(scores) != len(weights):
        raise ValueError(f"{len(scores)} score lists but {len(weights)} weights")
    normalisers = normalisers or [min_max_normalise] * len(scores)
    fused: dict[Id, float] = {}
    for component, weight, normalise in zip(scores, weights, normalisers):
        for doc, s in normalise(component).items():
            fused[doc] = fused.get(doc, 0.0) + weight * s
    return _ordered(fused)


def _weights(lists: Sequence[object], weights: Sequence[float] | None) -> Sequence[float]:
    if weights is None:
        return [1.0] * len(lists)
    if len(weights) != len(lists):
        raise ValueError(f"{len(lists)} lists but {len(weights)} weights")
    return weights


def _ordered(fused: dict[Id, float]) -> list[tuple[Id, float]]:
    """Best score first; equal scores in id order."""
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
