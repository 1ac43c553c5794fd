"""Retrieval: text to index rows, queries to hits. ``encode/`` is the model layer, ``build/`` the write path
(builder, updates, compaction), ``search/`` the query path (searcher, pipeline, fusion), ``components/`` each index
component's retrieval side, ``corpus/`` the readers; ``config`` declares every setting once.

Importing this package loads no model and touches no file; heavy work happens on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrieval.build.builder import BuildSummary, build_index
    from retrieval.build.compaction import compact_index
    from retrieval.build.updater import add_documents, delete_documents
    from retrieval.config import BuildConfig, SearchConfig
    from retrieval.search.remote import RemoteSearcher
    from retrieval.search.searcher import Hit, Searcher, SearchResult

_EXPORTS = {
    "Searcher": "retrieval.search.searcher",
    "RemoteSearcher": "retrieval.search.remote",
    "SearchResult": "retrieval.search.searcher",
    "Hit": "retrieval.search.searcher",
    "build_index": "retrieval.build.builder",
    "BuildSummary": "retrieval.build.builder",
    "BuildConfig": "retrieval.config",
    "SearchConfig": "retrieval.config",
    "add_documents": "retrieval.build.updater",
    "delete_documents": "retrieval.build.updater",
    "compact_index": "retrieval.build.compaction",
}

__all__ = [
    "BuildConfig",
    "BuildSummary",
    "Hit",
    "RemoteSearcher",
    "SearchConfig",
    "SearchResult",
    "Searcher",
    "add_documents",
    "build_index",
    "compact_index",
    "delete_documents",
]  # what _EXPORTS names (tests/test_architecture.py checks they agree)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'retrieval' has no attribute {name!r}")
