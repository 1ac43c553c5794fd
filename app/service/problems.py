"""Errors as RFC 9457 problem details (``type``, ``title``, ``status``, ``detail``), never a stack trace.

Library exceptions carry what went wrong; this module decides their HTTP status and wording. An error the
service does not know is logged with its traceback and answered with a bare 500. Library messages name folders
and processes for the people at the server's terminal; a client is told the index's name instead
(:class:`ServerPaths`), unless the server runs in debug mode.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
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


class ServerPaths:
    """What a client may read of a library's message, which names folders and processes for the people at the
    server's terminal. :meth:`served` names each served index instead of its folder (``<docs>``) and hides the
    files beside it (lock files, staging folders); calling it also hides every other absolute path and process id,
    for errors about the server's state, whose messages name nothing the client sent. With ``enabled`` false
    (a debug server) messages pass unchanged.

    >>> paths = ServerPaths({"docs": Path("/srv/indexes/docs")})
    >>> paths.served("2 documents are already in /srv/indexes/docs (for example ['/a/b'])")
    "2 documents are already in <docs> (for example ['/a/b'])"
    >>> paths.served("No index at /srv/indexes/docs. /srv/indexes/docs.bak and /srv/indexes/docs-2 are other folders.")
    'No index at <docs>. /srv/indexes/docs.bak and /srv/indexes/docs-2 are other folders.'
    >>> paths("/srv/indexes/docs is being written by process 4242 (lock /srv/indexes/.docs.lock); see /tmp/x.log.")
    '<docs> is being written by another process (lock <server path>); see <server path>.'
    """

    _PATH = re.compile(r"(?<![\w.~/-])(?:~|\.{1,2})?/[^\s'\"`,;()<>]*[^\s'\"`,;()<>.:]")
    _PROCESS = re.compile(r"\b(?:by )?(?:process|pid|PID) \d+")

    def __init__(self, folders: Mapping[str, Path], *, enabled: bool = True) -> None:
        self.enabled = enabled
        replacements = []
        for name, folder in folders.items():
            for spelling in {str(folder), str(Path(folder).absolute()), str(Path(folder).resolve())}:
                spelling = spelling.rstrip("/")
                replacements.append((re.escape(spelling) + r"(?![\w-]|\.[\w-])", f"<{name}>"))  # not docs-2, docs.bak
                parent = re.escape(spelling.rpartition("/")[0])
                replacements.append(
                    (rf"{parent}/\.[^\s'\"`,;()<>]*[^\s'\"`,;()<>.:]", "<server path>")
                )  # lock, staging
        replacements.sort(key=lambda pair: -len(pair[0]))  # longest first: nested folders
        self._served = [(re.compile(pattern), text) for pattern, text in replacements]

    def served(self, message: str) -> str:
        """``message`` with served folders named by their index, and files beside them hidden."""
        if not self.enabled:
            return message
        for pattern, text in self._served:
            message = pattern.sub(text, message)
        return message

    def __call__(self, message: str) -> str:
        """:meth:`served`, then every other absolute path and process id hidden."""
        if not self.enabled:
            return message
        message = self._PROCESS.sub(
            lambda m: "by another process" if m.group(0).startswith("by ") else "another process", self.served(message)
        )
        return self._PATH.sub("<server path>", message)


def problem_response(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """The JSON body of a problem, typed by its title (``about:blank`` plus a slug, so clients can switch on it)."""
    body = {
        "type": f"https://modernsearch.dev/problems/{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
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


def install(app: FastAPI, paths: ServerPaths) -> None:
    """Answer every error of ``app`` as problem details: echoes of the request as they are, library messages with the
    served folders named by their index, errors about the server's state with no path or process id (``paths``)."""
    _install_request_errors(app)
    _install_library_errors(app, paths)


def _install_request_errors(app: FastAPI) -> None:
    """Errors in what the client sent: its body, its settings, its filter or query."""
    from index.errors import SettingError
    from index.filters import FilterError
    from retrieval.search.query_text import EmptyQueryError, InvalidQueryError

    @app.exception_handler(Problem)
    async def problem(request: Request, error: Problem) -> JSONResponse:
        return problem_response(error.status, error.title, error.detail, **error.extra)

    @app.exception_handler(HTTPException)
    async def http(request: Request, error: HTTPException) -> JSONResponse:
        titles = {400: "Invalid request", 404: "Not found", 405: "Method not allowed", 413: "Request too large"}
        detail = str(error.detail)
        if detail == "There was an error parsing the body":  # FastAPI's words for a body it cannot decode
            detail = "The body is not UTF-8 JSON; send the request as JSON encoded in UTF-8."
        return problem_response(error.status_code, titles.get(error.status_code, "HTTP error"), detail)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"location": ".".join(map(str, e.get("loc", ()))), "message": e.get("msg", "")} for e in error.errors()
        ]
        detail = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
        return problem_response(422, "Invalid request", detail, errors=errors)

    @app.exception_handler(FilterError)
    async def bad_filter(request: Request, error: FilterError) -> JSONResponse:
        return problem_response(400, "Invalid filter", str(error), **({"field": error.field} if error.field else {}))

    @app.exception_handler(EmptyQueryError)
    async def empty_query(request: Request, error: EmptyQueryError) -> JSONResponse:
        return problem_response(400, "Empty query", str(error))

    @app.exception_handler(InvalidQueryError)
    async def invalid_query(request: Request, error: InvalidQueryError) -> JSONResponse:
        return problem_response(400, "Invalid query", str(error))

    @app.exception_handler(SettingError)
    async def bad_setting(request: Request, error: SettingError) -> JSONResponse:
        return problem_response(
            400, "Invalid setting", f"{error.setting} {error.requirement}, got {error.value!r}", setting=error.setting
        )


def _install_library_errors(app: FastAPI, paths: ServerPaths) -> None:
    """Errors the library raised answering: documents it refused, the index's state, and anything unexpected."""
    from index.errors import IndexFormatError
    from index.lock import IndexLockedError
    from index.sharding import ShardUnavailableError
    from retrieval.corpus.readers import CorpusError

    @app.exception_handler(CorpusError)
    async def bad_documents(request: Request, error: CorpusError) -> JSONResponse:
        # a remedy that names settings the request cannot carry (reader settings of the index) is left out
        offered = set(error.settings) <= _REQUEST_SETTINGS
        return problem_response(
            422, "Invalid documents", paths.served(error.message(_json_spelling) if offered else f"{error.problem}.")
        )

    @app.exception_handler(IndexLockedError)
    async def locked(request: Request, error: IndexLockedError) -> JSONResponse:
        return problem_response(409, "Index busy", paths(f"{error} Retry when the other update has finished."))

    @app.exception_handler(ShardUnavailableError)
    async def shard_missing(request: Request, error: ShardUnavailableError) -> JSONResponse:
        return problem_response(503, "Shard unavailable", paths(str(error)), missing_shards=[error.shard])

    @app.exception_handler(IndexFormatError)
    async def unusable_index(request: Request, error: IndexFormatError) -> JSONResponse:
        logger.error("An index cannot be read: %s", error)
        return problem_response(503, "Index unavailable", paths(str(error)))

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, error: ValueError) -> JSONResponse:
        return problem_response(400, "Bad request", paths.served(str(error)))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("Unexpected error answering %s %s", request.method, request.url.path)
        return problem_response(500, "Internal error", "The server failed to answer; its log has the details.")


_REQUEST_SETTINGS = {"upsert"}  # the settings of a corpus error's remedy that a request body takes


def _json_spelling(name: str, value: str | None) -> str:
    """A setting as a request field: ``"upsert": true``."""
    return f'"{name}": true' if value is None else f'"{name}": {value!r}'
