"""The search pipeline as stages: a first stage (one component's search, or the fusion of several), then an
optional rerank by a component that can rescore candidates. Stages pass :class:`Candidate` lists along."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from index.component import IndexComponent, Ranking
from retrieval.components import recipe_for
from retrieval.config import SearchConfig
from retrieval.search.fusion import (
    Normaliser,
    bounded_normaliser,
    linear_fusion,
    min_max_normalise,
    reciprocal_rank_fusion,
    z_score_normalise,
)
from retrieval.search.results import Candidate

HYBRID = "hybrid"
HYBRID_PARTS = ("dense", "bm25")  # the components hybrid mode fuses; fusion weighs the first by alpha (rrf_alpha)


def stage_components(mode: str) -> tuple[str, ...]:
    """The components a first stage in ``mode`` searches."""
    return HYBRID_PARTS if mode == HYBRID else (mode,)


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
    options = dataclasses.asdict(config)
    if mode != HYBRID:
        label = recipe_for(mode).score_name
        found = components[mode].search(queries[mode], depth, allowed=allowed, options=options)
        return [_candidates(ranking, label) for ranking in found]
    n_candidates = max(depth, config.candidates)
    per_part = {
        name: components[name].search(queries[name], n_candidates, allowed=allowed, options=options)
        for name in HYBRID_PARTS
    }
    return [
        fuse({name: per_part[name][i] for name in HYBRID_PARTS}, depth, config)
        for i in range(len(per_part[HYBRID_PARTS[0]]))
    ]


def fuse(rankings: Mapping[str, Ranking], depth: int, config: SearchConfig) -> list[Candidate]:
    """One query's component rankings fused by RRF or by weighted normalised scores (alpha for the first)."""
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
        weights = [2 * config.rrf_alpha, 2 * (1.0 - config.rrf_alpha)]
        return reciprocal_rank_fusion([list(s) for s in scores], k=config.rrf_k, weights=weights)
    return linear_fusion(scores, [config.alpha, 1.0 - config.alpha], normalisers(components, config.normalisation))


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
