"""What a search returns: ranked hits with each stage's score, and the candidates passed between stages."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


class AnswerTooLargeError(ValueError):
    """The hits of one query carry more stored text than the caller allows: ``size`` and ``limit`` in bytes (UTF-8
    of titles, texts and metadata as JSON), ``query`` the query's position in its batch."""

    def __init__(self, size: int, limit: int, query: int) -> None:
        self.size, self.limit, self.query = size, limit, query
        super().__init__(
            f"the results of query {query + 1} hold {size:,} bytes of documents, over the limit of {limit:,}"
        )


@dataclass(frozen=True)
class Hit:
    """One retrieved document."""

    rank: int
    id: str
    score: float
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    components: dict[str, float] = field(default_factory=dict)
    """Score of each stage that saw this document: bm25, dense, fused, maxsim (absent where a stage did not retrieve
    it)."""
    passage: tuple[int, int] | None = None
    """For a document indexed in chunks: ``[start, end)`` in ``text`` of the chunk that matched best (dense stage)."""

    def to_dict(self, documents: bool = True) -> dict[str, Any]:
        """JSON form used by ``search --json``; without ``documents``, only the id and the scores."""
        if not documents:
            return {"id": self.id, "score": self.score, "components": self.components}
        found = {
            "id": self.id,
            "score": self.score,
            "title": self.title,
            "text": self.text,
            "metadata": self.metadata,
            "components": self.components,
        }
        return {**found, "passage": list(self.passage)} if self.passage else found

    def stored_bytes(self) -> int:
        """What the stored document adds to an answer: UTF-8 bytes of its title and text, and of its metadata as
        JSON."""
        text = self.title + self.text
        size = len(text) if text.isascii() else len(text.encode("utf-8", errors="replace"))
        return size + (len(json.dumps(self.metadata, default=str)) if self.metadata else 0)


@dataclass(frozen=True)
class SearchResult:
    """The answer to one query: ranked hits, the mode used, and where the time went (milliseconds)."""

    query: str
    hits: list[Hit]
    mode: str
    timings_ms: dict[str, float]
    missing_shards: tuple[str, ...] = ()
    """Shards of a sharded index served elsewhere that did not answer in time: the hits are the other shards' best."""

    @property
    def ids(self) -> list[str]:
        """Document ids in rank order."""
        return [h.id for h in self.hits]

    def to_dict(self, documents: bool = True) -> dict[str, Any]:
        """JSON form: ``{"query", "results": [{"id", "score", "title", "text", "metadata", "components"}],
        "timings_ms"}``
        (without ``documents``, results hold only ids and scores), and ``"partial": true, "missing_shards": [...]``
        for an answer some shards missed."""
        found = {
            "query": self.query,
            "results": [h.to_dict(documents) for h in self.hits],
            "timings_ms": self.timings_ms,
        }
        return {**found, "partial": True, "missing_shards": list(self.missing_shards)} if self.missing_shards else found


@dataclass(frozen=True)
class Candidate:
    """A document between stages: row id, current score, and the score of each stage so far."""

    row_id: int
    score: float
    components: dict[str, float]
    chunk: int = -1  # best-matching chunk of a document stored in chunks, -1 where unknown


@dataclass(frozen=True)
class TokenMatch:
    """One query token of a multi-vector match: the document token it matched best, and how well."""

    query_token: str
    document_token: str
    span: tuple[int, int] | None
    similarity: float
