"""Rank fusion: combine the rankings of several retrievers into one (pure functions, no I/O).

Ties are broken by id, so the same inputs always give the same order.
"""

from __future__ import annotations

from typing import Hashable, Mapping, Sequence, TypeVar

Id = TypeVar("Id", bound=Hashable)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Id]], k: int = 60) -> list[tuple[Id, float]]:
    """Reciprocal rank fusion (Cormack et al., 2009): each list adds ``1 / (k + rank)`` to its documents.

    Ranks start at 1; a document missing from a list gets nothing from it.

    >>> fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "c", "d"]], k=60)
    >>> [(doc, round(score, 5)) for doc, score in fused]  # b: 1/62 + 1/61, c: 1/63 + 1/62, a: 1/61, d: 1/63
    [('b', 0.03252), ('c', 0.032), ('a', 0.01639), ('d', 0.01587)]
    >>> reciprocal_rank_fusion([[], ["x"]], k=1)
    [('x', 0.5)]
    """
    if k < 0:
        raise ValueError(f"the RRF constant k must be >= 0, got {k}")
    fused: dict[Id, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (k + rank)
    return _ordered(fused)


def min_max_normalise(scores: Mapping[Id, float]) -> dict[Id, float]:
    """Scale scores to [0, 1] (best 1, worst 0) so scores of different retrievers can be added.

    All-equal scores (including a single document) map to 1.0: each is the best of its list.

    >>> min_max_normalise({"a": 12.0, "b": 7.0, "c": 2.0})
    {'a': 1.0, 'b': 0.5, 'c': 0.0}
    >>> min_max_normalise({"a": 0.3})
    {'a': 1.0}
    """
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return {doc: 1.0 for doc in scores}
    return {doc: (s - low) / (high - low) for doc, s in scores.items()}


def linear_fusion(scores: Sequence[Mapping[Id, float]], weights: Sequence[float]) -> list[tuple[Id, float]]:
    """Weighted sum of min-max normalised scores; a document missing from a list scores 0 there.

    >>> dense = {"a": 0.9, "b": 0.7, "c": 0.5}
    >>> bm25 = {"c": 20.0, "d": 10.0}
    >>> [(doc, round(s, 3)) for doc, s in linear_fusion([dense, bm25], [0.5, 0.5])]
    [('a', 0.5), ('c', 0.5), ('b', 0.25), ('d', 0.0)]
    """
    if len(scores) != len(weights):
        raise ValueError(f"{len(scores)} score lists but {len(weights)} weights")
    fused: dict[Id, float] = {}
    for component, weight in zip(scores, weights):
        for doc, s in min_max_normalise(component).items():
            fused[doc] = fused.get(doc, 0.0) + weight * s
        for doc in component:
            fused.setdefault(doc, 0.0)
    return _ordered(fused)


def _ordered(fused: dict[Id, float]) -> list[tuple[Id, float]]:
    """Best score first; equal scores in id order."""
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
