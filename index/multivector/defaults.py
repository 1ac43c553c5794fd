"""Search knobs of the multi-vector index and their defaults for a collection's size: recorded in the manifest
at build time, overridable per search (:class:`retrieval.config.SearchConfig`)."""

from __future__ import annotations

import math
from typing import Any

DEFAULT_NPROBE = 4
DEFAULT_PRUNE = 0.45
LONG_DOCUMENT_TOKENS = 512  # mean tokens per document from which pruning is on by default
SHORTLIST_PER_CANDIDATE = 4
DECODE_TOKENS = 131_072  # tokens of candidates a search decodes by default, before pruning
FEWEST_CANDIDATES = 64


def search_defaults(n_docs: int, n_tokens: int | None = None) -> dict[str, Any]:
    """Search knobs for a collection of ``n_docs`` documents (``n_tokens`` tokens), recorded in the manifest at build
    time and overridable per search.

    Candidates (documents decoded for MaxSim) grow with the collection, one per 200 documents rounded to a power
    of two between 256 and 1,024; the centroid-interaction shortlist is 4x that. Larger collections hold more
    near-misses, so they need more candidates to keep exact MaxSim's ranking. Long documents cost per token, so the
    candidates are also held to about :data:`DECODE_TOKENS` tokens, but never fewer than 64. ``prune`` is the
    centroid score below which a token is skipped (0: none): on for long documents, where decoding every token of
    every candidate is what a search costs, off for short ones, where it saves little and costs some of exact
    MaxSim's ranking. Each value is the measured best of ``bench multivector`` and ``bench long``
    (docs/multivector.md, docs/long-documents.md).

    >>> search_defaults(5_000), search_defaults(200_000)["candidates"]
    ({'nprobe': 4, 'shortlist': 1024, 'candidates': 256, 'prune': 0.0}, 1024)
    >>> search_defaults(197, 2_400_000)
    {'nprobe': 4, 'shortlist': 256, 'candidates': 64, 'prune': 0.45}
    """
    candidates = int(min(1024, max(256, 2 ** round(math.log2(max(1, n_docs / 200))))))
    long_documents = bool(n_tokens and n_docs and n_tokens / n_docs >= LONG_DOCUMENT_TOKENS)
    if n_tokens and n_docs:
        by_tokens = 2 ** int(math.floor(math.log2(max(1.0, DECODE_TOKENS * n_docs / n_tokens))))
        candidates = max(FEWEST_CANDIDATES, min(candidates, by_tokens))
    return {
        "nprobe": DEFAULT_NPROBE,
        "shortlist": SHORTLIST_PER_CANDIDATE * candidates,
        "candidates": candidates,
        "prune": DEFAULT_PRUNE if long_documents else 0.0,
    }
