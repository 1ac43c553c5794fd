"""Retrieval: encoders, corpus readers, the index builder and searchers.

Importing this package loads no model and touches no file; heavy work happens on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrieval.builder import BuildSummary, build_index
    from retrieval.compaction import compact_index
    from retrieval.config import BuildConfig, SearchConfig
    from retrieval.remote import RemoteSearcher
    from retrieval.searcher import Hit, SearchResult, Searcher
    from retrieval.updater import add_documents, delete_documents

_EXPORTS = {
    "Searcher": "retrieval.searcher",
    "RemoteSearcher": "retrieval.remote",
    "SearchResult": "retrieval.searcher",
    "Hit": "retrieval.searcher",
    "build_index": "retrieval.builder",
    "BuildSummary": "retrieval.builder",
    "BuildConfig": "retrieval.config",
    "SearchConfig": "retrieval.config",
    "add_documents": "retrieval.updater",
    "delete_documents": "retrieval.updater",
    "compact_index": "retrieval.compaction",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'retrieval' has no attribute {name!r}")
