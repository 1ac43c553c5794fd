"""What every route of the service shares: the served indexes, the request limits, the query batcher, metrics and
how errors name server paths; one :class:`ServiceState` per application, reached through :func:`service_state`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request

from app.service.batching import QueryBatcher
from app.service.indexes import ServedIndexes, UnknownIndexError
from app.service.metrics import ServiceMetrics
from app.service.problems import Problem, ServerPaths


@dataclass(frozen=True)
class ServiceLimits:
    """What one request may ask for; beyond it the answer is a 4xx saying which limit."""

    max_query_chars: int = 5_000
    max_batch: int = 64
    max_body_bytes: int = 10_000_000
    max_documents: int = 1_000
    max_answer_bytes: int = 64_000_000
    """Stored text (titles, texts, metadata) one search answer may carry; a batch of n queries shares it, n-th each."""


@dataclass
class ServiceState:
    """The application's shared objects; writes need ``api_key`` (none: writes disabled, saying to set
    ``api_key_env``)."""

    indexes: ServedIndexes
    limits: ServiceLimits
    metrics: ServiceMetrics
    batcher: QueryBatcher
    paths: ServerPaths
    api_key: str | None
    api_key_env: str
    overlap: dict[tuple[str, Any, Any], int] = field(default_factory=dict)
    """Per index, mode and reranker: how many batches its query encoders run well at once."""

    def served(self, name: str) -> Path:
        """The folder served as ``name``, or a 404 naming the served indexes."""
        try:
            return self.indexes.folder(name)
        except UnknownIndexError as err:
            raise Problem(
                404,
                "Unknown index",
                f"No index is served as {name!r}; available: {', '.join(err.available)}.",
                available=err.available,
            ) from None


def service_state(request: Request) -> ServiceState:
    """The :class:`ServiceState` of the application answering ``request`` (a FastAPI dependency)."""
    return request.app.state.service


def version_text(stamp: Any) -> str:
    """A committed version as an opaque string (the manifest's inode and modification time: new with every commit)."""
    return "none" if stamp is None else f"{stamp[1]}-{stamp[0]}"
