"""Every request observed once: one JSON line in the access log and the Prometheus counters and latency.

A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``: it only watches the response start go by,
so a request costs no extra task, stream or copy of the body (that machinery was a large share of the event loop's
time per search request; docs/service.md has the measurement).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.service.metrics import ServiceMetrics

access_log = logging.getLogger("app.service.access")


class ObserveRequests:
    """Log and count each HTTP request with its endpoint (the route's path template), status and latency."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the application fails before answering

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            seconds = time.perf_counter() - started
            endpoint = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(scope["method"], endpoint, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(json.dumps(_entry(scope, endpoint, status, seconds)))


def _entry(scope: Scope, endpoint: str, status: int, seconds: float) -> dict[str, Any]:
    client = scope.get("client")
    return {
        "method": scope["method"],
        "path": scope["path"],
        "endpoint": endpoint,
        "status": status,
        "ms": round(seconds * 1000, 2),
        "client": client[0] if client else None,
    }
