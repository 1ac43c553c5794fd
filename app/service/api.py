"""The FastAPI application: search, browse and update the served indexes over HTTP.

Reads need nothing; writes need the API key (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``), and with no
key configured they are refused with 403 and how to enable them. Every error is a problem-details body
(:mod:`app.service.problems`), every request one JSON line in the access log, and ``/metrics`` has request
counts, latencies, index versions and sizes for Prometheus.
"""

from __future__ import annotations

from fastapi import FastAPI

from app.service import problems
from app.service.access import ObserveRequests
from app.service.batching import QueryBatcher
from app.service.indexes import ServedIndexes
from app.service.metrics import ServiceMetrics
from app.service.routes import documents, operations, search
from app.service.routes import indexes as index_routes
from app.service.state import ServiceLimits, ServiceState

__all__ = ["ServiceLimits", "create_app"]


def create_app(
    indexes: ServedIndexes,
    *,
    api_key: str | None = None,
    limits: ServiceLimits = ServiceLimits(),
    cors_origins: tuple[str, ...] = (),
    api_key_env: str = "MODERNSEARCH_API_KEY",
    debug: bool = False,
) -> FastAPI:
    """The service over ``indexes``; writes need ``api_key`` (none: writes disabled, saying to set ``api_key_env``).
    Problem details name the served indexes, never their folders or other server paths, unless ``debug``."""
    from index.errors import IndexFormatError
    from index.sharding import ShardUnavailableError

    app = FastAPI(
        title="modernsearch",
        summary="Dense, multi-vector, BM25 and hybrid search over modernsearch indexes.",
        version="1",
    )
    paths = problems.ServerPaths(indexes.folders, enabled=not debug)
    problems.install(app, paths)
    metrics = ServiceMetrics(indexes)
    batcher = QueryBatcher(limits.max_batch, shared_errors=(ShardUnavailableError, IndexFormatError))
    app.state.service = ServiceState(indexes, limits, metrics, batcher, paths, api_key, api_key_env)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"], allow_headers=["*"]
        )
    app.add_middleware(problems.BodyLimit, max_body_size=limits.max_body_bytes)
    app.add_middleware(ObserveRequests, metrics=metrics)  # outermost: sees every request, CORS preflights included
    for routes in (operations, index_routes, search, documents):
        app.include_router(routes.router)
    return app
