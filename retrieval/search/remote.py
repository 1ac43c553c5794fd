"""Search a modernsearch service over HTTP with the same calls and results as an in-process :class:`Searcher`.

``RemoteSearcher("http://127.0.0.1:8000", "dbpedia").search("query", k=10)`` returns the same
:class:`SearchResult` objects as ``Searcher.load("dbpedia").search("query", k=10)``, so code moves between the
two by changing one line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, overload

from retrieval.config import SearchConfig
from retrieval.search.results import Hit, SearchResult


class RemoteSearchError(Exception):
    """The service refused or failed a request: its HTTP ``status``, the problem's ``title`` and ``detail``."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        self.status, self.title, self.detail = status, title, detail
        super().__init__(f"{title} ({status}): {detail}")


class RemoteSearcher:
    """One index of a running service (``modernsearch serve``); ``index_version`` is the version that last answered."""

    def __init__(self, url: str, index: str, api_key: str | None = None, timeout: float = 60.0) -> None:
        import httpx2 as httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self.index = index
        self.index_version: str | None = None

    @overload
    def search(
        self,
        queries: str,
        k: int = 10,
        mode: str | None = None,
        config: SearchConfig | None = None,
        filter: Mapping[str, Any] | str | None = None,
    ) -> SearchResult: ...
    @overload
    def search(
        self,
        queries: Sequence[str],
        k: int = 10,
        mode: str | None = None,
        config: SearchConfig | None = None,
        filter: Mapping[str, Any] | str | None = None,
    ) -> list[SearchResult]: ...

    def search(
        self,
        queries: str | Sequence[str],
        k: int = 10,
        mode: str | None = None,
        config: SearchConfig | None = None,
        filter: Mapping[str, Any] | str | None = None,
    ) -> SearchResult | list[SearchResult]:
        """Top-``k`` documents per query, as :meth:`retrieval.search.searcher.Searcher.search` answers them."""
        single = isinstance(queries, str)
        results = self.search_batch(
            [queries] if single else list(queries), k=k, mode=mode, config=config, filter=filter
        )
        return results[0] if single else results

    def search_batch(
        self,
        queries: Sequence[str],
        k: int = 10,
        mode: str | None = None,
        config: SearchConfig | None = None,
        filter: Mapping[str, Any] | str | None = None,
    ) -> list[SearchResult]:
        """A batch of queries in one request."""
        if not queries:
            return []
        settings = (
            dataclasses.asdict(config) if config else {}
        )  # none given: the server uses the index's tuned settings
        body: dict[str, Any] = {"queries": list(queries), "k": k, "mode": mode, "filter": filter, **settings}
        answer = self._post(f"/indexes/{self.index}/search", body)
        self.index_version = answer["index_version"]
        return [_result(r, answer["mode"]) for r in answer["searches"]]

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._client.post(path, json={k: v for k, v in body.items() if v is not None})
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            raise RemoteSearchError(
                response.status_code, problem.get("title", response.reason_phrase), problem.get("detail", response.text)
            )
        return response.json()

    def close(self) -> None:
        self._client.close()


def _result(data: dict[str, Any], mode: str) -> SearchResult:
    hits = [
        Hit(
            rank,
            h["id"],
            h["score"],
            h["title"],
            h["text"],
            h.get("metadata") or {},
            h.get("components") or {},
            tuple(h["passage"]) if h.get("passage") else None,
        )
        for rank, h in enumerate(data["results"], start=1)
    ]
    return SearchResult(
        data["query"], hits, mode, data.get("timings_ms") or {}, tuple(data.get("missing_shards") or ())
    )
