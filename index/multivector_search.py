"""Multi-vector search over one index or over the parts (shards) of one split index, with the same answer.

The search has three stages (see :mod:`index.multivector`): documents in the query tokens' probed centroid lists are
scored from the lists alone and the best ``shortlist`` kept; those are re-scored by centroid interaction and the best
``candidates`` kept; those are decoded and ranked by exact MaxSim. Each stage scores documents independently of the
others, so a stage runs on every part and its selection is taken over the union: every decision (which branch, how
many to keep, ties broken by row id) is made on the whole collection, as if the parts were one index. Parts share
their centroids and residual codec (a split keeps the trained structures), and each carries the search knobs of the
whole collection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np

from index.rows import best_of

if TYPE_CHECKING:
    from index.multivector import MultiVectorIndex

Mapper = Callable[..., Iterable[Any]]  # builtin ``map`` or an executor's ``map``: runs a function on every part


def search_parts(parts: Sequence["MultiVectorIndex"], query: np.ndarray, k: int, *, nprobe: int | None = None,
                 shortlist: int | None = None, candidates: int | None = None, allowed: np.ndarray | None = None,
                 run: Mapper = map) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` ``(scores, document row ids)`` for one query ``(n_query_tokens, dim)`` over ``parts`` together,
    best first (ties by row id); with ``allowed`` (row ids), among those documents only. ``run`` maps a function
    over the parts (an executor's ``map`` runs them at once)."""
    from index.multivector import search_defaults

    first = parts[0]
    n_documents = sum(len(p) for p in parts)
    params = first.search_params or search_defaults(n_documents)  # build and load always record them
    n_centroids = len(first.centroids)
    nprobe = min(nprobe or params["nprobe"], n_centroids)
    n_candidates = candidates or params["candidates"]
    n_shortlist = max(shortlist or params["shortlist"], n_candidates)
    centroid_scores = query @ first.centroids.T  # (n_q, K), the same for every part
    admitted = [None if allowed is None else np.flatnonzero(np.isin(np.asarray(p.doc_ids), allowed)) for p in parts]
    n_admitted = None if allowed is None else sum(len(a) for a in admitted)
    everything = [np.arange(len(p), dtype=np.int64) if a is None else a.astype(np.int64) for p, a in zip(parts, admitted)]

    if nprobe >= n_centroids or n_documents <= n_candidates or (n_admitted is not None and n_admitted <= n_candidates):
        docs = everything
    elif n_admitted is not None and n_admitted <= n_shortlist:
        # Few allowed documents: all of them are the shortlist (the inverted lists could miss some)
        docs = _select(parts, everything, list(run(lambda p, d: p._centroid_interaction(centroid_scores, d), parts, everything)), n_candidates)
    else:
        probed = np.argpartition(-centroid_scores, nprobe - 1, axis=1)[:, :nprobe]

        def listed(part: "MultiVectorIndex", allowed_here: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
            approx = part._posting_scores(centroid_scores, probed)
            if allowed_here is not None:
                inside = np.zeros(len(part), dtype=bool)
                inside[allowed_here] = True
                approx[~inside] = 0
            hit = np.flatnonzero(approx > 0)  # documents with a token in some probed centroid
            kept = best_of(approx[hit], np.asarray(part.doc_ids)[hit], n_shortlist)  # the whole's best are among these
            return hit[kept], approx[hit][kept]

        found = list(run(listed, parts, admitted))
        hits = _select(parts, [h for h, _ in found], [s for _, s in found], n_shortlist)
        if n_admitted is not None and sum(len(h) for h in hits) < n_candidates:
            hits = everything  # too few allowed documents near the query's centroids: rank every allowed one
        if sum(len(h) for h in hits) > n_candidates:
            interaction = list(run(lambda p, d: p._centroid_interaction(centroid_scores, d), parts, hits))
            hits = _select(parts, hits, interaction, n_candidates)
        docs = [np.sort(h).astype(np.int64) for h in hits]

    exact = list(run(lambda p, d: p._maxsim(query, d) if len(d) else np.zeros(0, dtype=np.float32), parts, docs))
    rows = np.concatenate([np.asarray(p.doc_ids)[d] for p, d in zip(parts, docs)]).astype(np.int64)
    scores = np.concatenate(exact).astype(np.float32) if rows.size else np.zeros(0, dtype=np.float32)
    order = np.lexsort((rows, -scores))[:k]
    return scores[order], rows[order]


def _select(parts: Sequence["MultiVectorIndex"], positions: Sequence[np.ndarray], scores: Sequence[np.ndarray],
            n: int) -> list[np.ndarray]:
    """Per part, the positions among ``positions`` that are in the best ``n`` of all parts together."""
    rows = np.concatenate([np.asarray(p.doc_ids)[d] for p, d in zip(parts, positions)]).astype(np.int64)
    chosen = np.zeros(len(rows), dtype=bool)
    chosen[best_of(np.concatenate(scores) if len(rows) else np.zeros(0, dtype=np.float32), rows, n)] = True
    bounds = np.cumsum([0, *(len(d) for d in positions)])
    return [np.asarray(d)[chosen[a:b]] for d, a, b in zip(positions, bounds[:-1], bounds[1:])]
