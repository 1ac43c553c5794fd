"""Errors as RFC 9457 problem details (``type``, ``title``, ``status``, ``detail``), never a stack trace.

Library exceptions carry what went wrong; this module decides their HTTP status and wording. An error the
service does not know is logged with its traceback and answered with a bare 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """An error to answer with ``status``; ``title`` is its kind in a few words, ``detail`` this occurrence."""

    def __init__(self, status: int, title: str, detail: str, **extra: Any) -> None:
        self.status, self.title, self.detail, self.extra = status, title, detail, extra
        super().__init__(detail)


def problem_response(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """The JSON body of a problem, typed by its title (``about:blank`` plus a slug, so clients can switch on it)."""
    body = {"type": f"https://modernsearch.dev/problems/{title.lower().replace(' ', '-')}", "title": title,
            "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


class BodyLimit:
    """Refuse request bodies over ``max_body_size`` bytes with a 413 problem: at once when ``Content-Length`` says
    so, otherwise (a chunked body) as soon as the bytes read pass the limit.

    FastAPI's ``max_body_size`` sits outside the application's middleware and answers a declared oversize body in
    plain text, whatever the application answers; this keeps every error a problem body.
    """

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_size
        detail = f"The body may hold at most {limit:,} bytes."
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await problem_response(413, "Request too large", detail)(scope, receive, send)
            return
        read = 0

        async def counted_receive() -> Message:
            nonlocal read
            message = await receive()
            read += len(message.get("body", b""))
            if read > limit:
                raise HTTPException(413, detail)  # answered by the application's handler, as a problem
            return message

        await self.app(scope, counted_receive, send)


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` as problem details."""
    from index.errors import IndexFormatError, SettingError
    from index.sharding import ShardUnavailableError
    from index.filters import FilterError
    from index.lock import IndexLockedError
    from retrieval.corpus.readers import CorpusError
    from retrieval.query_text import EmptyQueryError

    @app.exception_handler(Problem)
    async def problem(request: Request, error: Problem) -> JSONResponse:
        return problem_response(error.status, error.title, error.detail, **error.extra)

    @app.exception_handler(HTTPException)
    async def http(request: Request, error: HTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 413: "Request too large"}
        return problem_response(error.status_code, titles.get(error.status_code, "HTTP error"), str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [{"location": ".".join(map(str, e.get("loc", ()))), "message": e.get("msg", "")} for e in error.errors()]
        detail = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
        return problem_response(422, "Invalid request", detail, errors=errors)

    @app.exception_handler(FilterError)
    async def bad_filter(request: Request, error: FilterError) -> JSONResponse:
        return problem_response(400, "Invalid filter", str(error), **({"field": error.field} if error.field else {}))

    @app.exception_handler(CorpusError)
    async def bad_documents(request: Request, error: CorpusError) -> JSONResponse:
        return problem_response(422, "Invalid documents", error.message(_json_spelling))

    @app.exception_handler(SettingError)
    async def bad_setting(request: Request, error: SettingError) -> JSONResponse:
        return problem_response(400, "Invalid setting", f"{error.setting} {error.requirement}, got {error.value!r}", setting=error.setting)

    @app.exception_handler(EmptyQueryError)
    async def empty_query(request: Request, error: EmptyQueryError) -> JSONResponse:
        return problem_response(400, "Empty query", str(error))

    @app.exception_handler(IndexLockedError)
    async def locked(request: Request, error: IndexLockedError) -> JSONResponse:
        return problem_response(409, "Index busy", f"{error} Retry when the other update has finished.")

    @app.exception_handler(ShardUnavailableError)
    async def shard_missing(request: Request, error: ShardUnavailableError) -> JSONResponse:
        return problem_response(503, "Shard unavailable", str(error), missing_shards=[error.shard])

    @app.exception_handler(IndexFormatError)
    async def unusable_index(request: Request, error: IndexFormatError) -> JSONResponse:
        logger.error("An index cannot be read: %s", error)
        return problem_response(503, "Index unavailable", str(error))

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, error: ValueError) -> JSONResponse:
        return problem_response(400, "Bad request", str(error))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("Unexpected error answering %s %s", request.method, request.url.path)
        return problem_response(500, "Internal error", "The server failed to answer; its log has the details.")


def _json_spelling(name: str, value: str | None) -> str:
    """A setting as a request field: ``"upsert": true``."""
    return f'"{name}": true' if value is None else f'"{name}": {value!r}'
