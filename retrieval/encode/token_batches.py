"""Batching by token budget: texts sorted by length, each batch filled while its padded size
(texts x longest text) stays within the budget, so short texts share a batch and long ones do not
run out of memory. Peak activation memory is bounded by the budget, not by the longest document."""

from __future__ import annotations

from collections.abc import Sequence


def token_budget_batches(lengths: Sequence[int], budget: int, max_batch: int) -> list[list[int]]:
    """Indices of ``lengths`` grouped into batches, longest first; a text longer than the budget gets a batch alone.

    >>> token_budget_batches([5, 100, 7, 98, 6], budget=200, max_batch=8)
    [[1, 3], [2, 4, 0]]
    >>> token_budget_batches([5, 100, 7, 98, 6], budget=200, max_batch=2)
    [[1, 3], [2, 4], [0]]
    """
    if budget < 1 or max_batch < 1:
        raise ValueError(f"token budget and batch size must be at least 1, got {budget} and {max_batch}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    for i in order:
        if batches and len(batches[-1]) < max_batch and (len(batches[-1]) + 1) * lengths[batches[-1][0]] <= budget:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches
