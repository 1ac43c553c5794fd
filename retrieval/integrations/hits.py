"""What the framework retrievers keep of a hit besides its text."""

from __future__ import annotations

from typing import Any

from retrieval.search.results import Hit


def hit_metadata(hit: Hit) -> dict[str, Any]:
    """The document's own metadata plus ``id``, ``title``, ``score``, ``rank`` and ``components`` (each stage's score);
    the document's fields win nothing over these names, which are always the search's.

    >>> hit_metadata(Hit(1, "d1", 0.5, "Rome", "Capital.", {"year": 2020}, {"dense": 0.5}))
    {'year': 2020, 'id': 'd1', 'title': 'Rome', 'score': 0.5, 'rank': 1, 'components': {'dense': 0.5}}
    """
    return {
        **hit.metadata,
        "id": hit.id,
        "title": hit.title,
        "score": hit.score,
        "rank": hit.rank,
        "components": dict(hit.components),
    }
