"""The search pipeline as stages: a first stage (one component's search, or the fusion of several), then an
optional rerank by a component that can rescore candidates. Stages pass :class:`Candidate` lists along."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from index.component import IndexComponent, Ranking
from retrieval.config import SearchConfig
from retrieval.registry import HYBRID, fused_components, fusion_side, recipe_for
from retrieval.search.fusion import (
    Normaliser,
    bounded_normaliser,
    linear_fusion,
    min_max_normalise,
    reciprocal_rank_fusion,
    z_score_normalise,
)
from retrieval.search.results import Candidate


def stage_components(mode: str, available: Iterable[str] | None = None) -> tuple[str, ...]:
    """The components a first stage in ``mode`` searches: hybrid fuses every fused component the index has
    (``available``; all registered ones where not given)."""
    return fused_components(available) if mode == HYBRID else (mode,)


def first_stage(
    components: Mapping[str, IndexComponent],
    mode: str,
    queries: Mapping[str, Sequence[Any]],
    depth: int,
    config: SearchConfig,
    allowed: np.ndarray | None = None,
) -> list[list[Candidate]]:
    """Top-``depth`` candidates per query; ``queries`` holds the encoded queries of each component ``mode`` uses.
    With ``allowed`` (sorted row ids, from a metadata filter) every component searches among those documents only."""
    options = {**dataclasses.asdict(config), **config.component_settings}
    if mode != HYBRID:
        label = recipe_for(mode).score_name
        found = components[mode].search(queries[mode], depth, allowed=allowed, options=options)
        return [_candidates(ranking, label) for ranking in found]
    parts = stage_components(mode, components)
    n_candidates = max(depth, config.candidates)
    per_part = {
        name: components[name].search(queries[name], n_candidates, allowed=allowed, options=options) for name in parts
    }
    return [fuse({name: per_part[name][i] for name in parts}, depth, config) for i in range(len(per_part[parts[0]]))]


def fuse(rankings: Mapping[str, Ranking], depth: int, config: SearchConfig) -> list[Candidate]:
    """One query's component rankings fused by RRF or by weighted normalised scores (:func:`fusion_weights`)."""
    scores = {name: dict(zip(r.rows.tolist(), r.scores.tolist())) for name, r in rankings.items()}
    chunks: dict[int, int] = {}
    for ranking in rankings.values():
        if ranking.chunks is not None:
            chunks.update(zip(ranking.rows.tolist(), ranking.chunks.tolist()))
    fused = fuse_scores(list(rankings), list(scores.values()), config)
    labels = {name: recipe_for(name).score_name for name in rankings}
    return [
        Candidate(
            row,
            score,
            {**{labels[n]: s[row] for n, s in scores.items() if row in s}, "fused": score},
            chunks.get(row, -1),
        )
        for row, score in fused[:depth]
    ]


def fuse_scores(
    components: Sequence[str], scores: Sequence[Mapping[Any, float]], config: SearchConfig
) -> list[tuple[Any, float]]:
    """The fused ranking of the components' ``{id: score}`` lists (best first) as ``config`` says: weighted RRF
    (twice the weights, so that rrf_alpha 0.5 is plain RRF) or linear fusion of normalised scores."""
    if config.fusion == "rrf":
        weights = [2 * w for w in fusion_weights(components, config.rrf_alpha)]
        return reciprocal_rank_fusion([list(s) for s in scores], k=config.rrf_k, weights=weights)
    weights = fusion_weights(components, config.alpha)
    return linear_fusion(scores, weights, normalisers(components, config.normalisation))


def fusion_weights(components: Sequence[str], alpha: float) -> list[float]:
    """Each fused component's weight: ``alpha`` shared by the semantic ones, ``1 - alpha`` by the lexical ones."""
    sides = [fusion_side(name) for name in components]
    share = {side: (alpha if side == "semantic" else 1.0 - alpha) / sides.count(side) for side in set(sides)}
    return [share[side] for side in sides]


def normalisers(components: Sequence[str], normalisation: str) -> list[Normaliser]:
    """How each component's scores are put on one scale for linear fusion (``bounds``: the component's score range)."""
    if normalisation == "bounds":
        return [bounded_normaliser(*recipe_for(name).score_range) for name in components]
    return [z_score_normalise if normalisation == "zscore" else min_max_normalise] * len(components)


def rerank(component: Any, label: str, candidates: list[Candidate], query: Any) -> list[Candidate]:
    """Rescore candidates with ``component.rescore`` (exact MaxSim for the multi-vector one); best first, ties by row
    id."""
    if not candidates:
        return []
    rescored = component.rescore(query, [c.row_id for c in candidates])
    found = [
        Candidate(c.row_id, float(s), {**c.components, label: float(s)}, c.chunk)
        for c, s in zip(candidates, rescored)
        if np.isfinite(s)
    ]  # not finite: its shard did not answer
    return sorted(found, key=lambda c: (-c.score, c.row_id))


def _candidates(ranking: Ranking, label: str) -> list[Candidate]:
    chunks = ranking.chunks.tolist() if ranking.chunks is not None else [-1] * len(ranking)
    return [
        Candidate(int(r), float(s), {label: float(s)}, int(c)) for r, s, c in zip(ranking.rows, ranking.scores, chunks)
    ]
