"""Paired comparisons of two systems on the same queries: how sure a "0.98x the baseline" is, and how alike the rankings
are.

With 40 judged queries (dbpedia-5k) one query moving a relevant document by a rank shifts
nDCG@10 by about 0.005, so a ratio of means needs its interval beside it before it is
compared with a target.
"""

from __future__ import annotations

import numpy as np


def ratio_interval(
    system: dict[str, float],
    baseline: dict[str, float],
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``mean(system) / mean(baseline)`` over the baseline's queries with a paired bootstrap interval (BCa, scipy).

    Queries are resampled together for both systems, so a hard query counts against both.

    >>> base = {f"q{i}": v for i, v in enumerate([0.2, 0.4, 0.6, 0.8, 1.0] * 4)}
    >>> ratio, low, high = ratio_interval({q: 0.9 * v for q, v in base.items()}, base)
    >>> round(ratio, 3), round(low, 3), round(high, 3)
    (0.9, 0.9, 0.9)
    >>> noisy = {q: v + (0.1 if i % 2 else -0.1) for i, (q, v) in enumerate(base.items())}
    >>> ratio, low, high = ratio_interval(noisy, base)
    >>> round(ratio, 6), low < 0.95 and high > 1.05
    (1.0, True)
    """
    from scipy import stats

    queries = sorted(baseline)
    ours = np.array([system.get(q, 0.0) for q in queries], dtype=np.float64)
    theirs = np.array([baseline[q] for q in queries], dtype=np.float64)
    if not len(queries) or theirs.mean() == 0:
        return float("nan"), float("nan"), float("nan")
    ratio = float(ours.mean() / theirs.mean())
    if np.allclose(ours, ratio * theirs):  # constant ratio per query: no spread to resample
        return ratio, ratio, ratio
    result = stats.bootstrap(
        (ours, theirs),
        lambda a, b, axis: a.mean(axis=axis) / b.mean(axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=resamples,
        confidence_level=confidence,
        method="BCa",
        rng=np.random.default_rng(seed),
    )
    return ratio, float(result.confidence_interval.low), float(result.confidence_interval.high)


def top_k_agreement(run: dict[str, list[str]], reference: dict[str, list[str]], k: int = 10) -> float:
    """Mean share of the reference's top ``k`` (per query, ranked ids) that the run also returns in its top ``k``.

    Unlike nDCG it needs no judgments, so it shows approximation loss that the qrels cannot see.

    >>> top_k_agreement({"q": ["a", "b", "x"]}, {"q": ["a", "b", "c"]}, k=3)
    0.6666666666666666
    """
    shares = [len(set(run.get(q, [])[:k]) & set(ids[:k])) / min(k, len(ids)) for q, ids in reference.items() if ids]
    return float(np.mean(shares)) if shares else float("nan")


def difference_interval(
    system: dict[str, float],
    baseline: dict[str, float],
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``mean(system) - mean(baseline)`` over the baseline's queries with a paired bootstrap interval (BCa, scipy).

    >>> base = {f"q{i}": v for i, v in enumerate([0.2, 0.4, 0.6, 0.8, 1.0] * 4)}
    >>> difference_interval({q: v + 0.05 for q, v in base.items()}, base)
    (0.05, 0.05, 0.05)
    >>> noisy = {q: v + (0.1 if i % 2 else -0.1) for i, (q, v) in enumerate(base.items())}
    >>> diff, low, high = difference_interval(noisy, base)
    >>> round(diff, 6), low < -0.02 and high > 0.02
    (0.0, True)
    """
    from scipy import stats

    queries = sorted(baseline)
    change = np.array([system.get(q, 0.0) - baseline[q] for q in queries], dtype=np.float64)
    if not len(queries):
        return float("nan"), float("nan"), float("nan")
    difference = float(change.mean())
    if np.allclose(change, difference):  # the same change on every query: no spread to resample
        return round(difference, 12), round(difference, 12), round(difference, 12)
    result = stats.bootstrap(
        (change,),
        np.mean,
        n_resamples=resamples,
        confidence_level=confidence,
        method="BCa",
        rng=np.random.default_rng(seed),
    )
    return difference, float(result.confidence_interval.low), float(result.confidence_interval.high)
