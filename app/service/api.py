"""The FastAPI application: search, browse and update the served indexes over HTTP.

Reads need nothing; writes need the API key (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``), and with no
key configured they are refused with 403 and how to enable them. Every error is a problem-details body
(:mod:`app.service.problems`), every request one JSON line in the access log, and ``/metrics`` has request
counts, latencies, index versions and sizes for Prometheus.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from fastapi import Depends, FastAPI, Header
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from app.service import problems
from app.service.access import ObserveRequests
from app.service.batching import QueryBatcher
from app.service.indexes import ServedIndexes, UnknownIndexError
from app.service.metrics import ServiceMetrics
from app.service.schemas import (
    AddDocuments, BatchSearchResponse, DeleteDocuments, Document, IndexDetails, IndexSummary, SearchRequest, SearchResponse,
    UpdateResult, problem_responses,
)
from app.service.problems import Problem
from retrieval.search.query_text import check_query
from retrieval.search.results import AnswerTooLargeError


@dataclass(frozen=True)
class ServiceLimits:
    """What one request may ask for; beyond it the answer is a 4xx saying which limit."""

    max_query_chars: int = 5_000
    max_batch: int = 64
    max_body_bytes: int = 10_000_000
    max_documents: int = 1_000
    max_answer_bytes: int = 64_000_000
    """Stored text (titles, texts, metadata) one search answer may carry; a batch of n queries shares it, n-th each."""


def create_app(indexes: ServedIndexes, *, api_key: str | None = None, limits: ServiceLimits = ServiceLimits(),
               cors_origins: tuple[str, ...] = (), api_key_env: str = "MODERNSEARCH_API_KEY", debug: bool = False) -> FastAPI:
    """The service over ``indexes``; writes need ``api_key`` (none: writes disabled, saying to set ``api_key_env``).
    Problem details name the served indexes, never their folders or other server paths, unless ``debug``."""
    from index.errors import IndexFormatError
    from index.sharding import ShardUnavailableError

    app = FastAPI(title="modernsearch", summary="Dense, multi-vector, BM25 and hybrid search over modernsearch indexes.",
                  version="1")
    paths = problems.ServerPaths(indexes.folders, enabled=not debug)
    problems.install(app, paths)
    metrics = ServiceMetrics(indexes)
    batcher = QueryBatcher(limits.max_batch, shared_errors=(ShardUnavailableError, IndexFormatError))
    overlap: dict[tuple[str, Any, Any], int] = {}  # per index, mode and reranker: batches its encoders run well at once
    app.state.indexes, app.state.metrics = indexes, metrics
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"], allow_headers=["*"])
    app.add_middleware(problems.BodyLimit, max_body_size=limits.max_body_bytes)
    app.add_middleware(ObserveRequests, metrics=metrics)  # outermost: sees every request, CORS preflights included

    def require_key(authorization: Optional[str] = Header(None), x_api_key: Optional[str] = Header(None)) -> None:
        if api_key is None:
            raise Problem(403, "Writes disabled", f"This server takes no writes. Start it with an API key in an environment "
                                                  f"variable to enable them: {api_key_env}=... modernsearch serve ... --api-key-env {api_key_env}")
        given = x_api_key or (authorization[7:] if authorization and authorization.lower().startswith("bearer ") else None)
        if given is None or not hmac.compare_digest(given.encode(), api_key.encode()):
            raise Problem(401, "Unauthorized", "Writes need the API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'.")

    def served(name: str) -> Path:
        try:
            return indexes.folder(name)
        except UnknownIndexError as err:
            raise Problem(404, "Unknown index", f"No index is served as {name!r}; available: {', '.join(err.available)}.",
                          available=err.available) from None

    @app.get("/health", summary="Liveness: the process answers.")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: every index opened and its models loaded.", responses=problem_responses(503))
    def ready() -> JSONResponse:
        try:
            indexes.open_all()
        except Exception as err:  # noqa: BLE001 - not ready, whatever the reason; the log says which
            logging.getLogger(__name__).warning("Not ready: %s", err)
            return problems.problem_response(503, "Not ready", paths(f"An index or model could not be loaded: {err}"))
        return JSONResponse({"status": "ready", "indexes": indexes.names})

    @app.get("/metrics", summary="Prometheus metrics.", response_class=Response)
    def prometheus() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    @app.get("/indexes", response_model=list[IndexSummary], responses=problem_responses(503), summary="The served indexes.")
    def list_indexes() -> list[IndexSummary]:
        summaries = []
        for name in indexes.names:
            try:
                with indexes.lease(name) as (searcher, version):
                    summaries.append(IndexSummary(name=name, documents=len(searcher), modes=searcher.modes,
                                                  index_version=_version(version)))
            except IndexFormatError as err:  # one index gone does not hide the others
                summaries.append(IndexSummary(name=name, available=False, problem=paths(str(err))))
        return summaries

    @app.get("/indexes/{name}", response_model=IndexDetails, responses=problem_responses(404, 422, 503), summary="One index: model, modes, counts, metadata fields, version.")
    def index_details(name: str) -> IndexDetails:
        from index.component import component_type

        served(name)
        with indexes.lease(name) as (searcher, version):
            manifest = searcher.manifest
            components = {c: dict(component_type(c).summary(section)) for c, section in manifest.components.items()}
            fields = {field: stats["type"] for field, stats in searcher.metadata_fields().items()}
            return IndexDetails(name=name, documents=len(searcher), modes=searcher.modes, index_version=_version(version),
                                mode=manifest.mode, created_at=manifest.created_at, components=components,
                                metadata_fields=fields, updates=len(manifest.updates),
                                tuned_search=manifest.tuned_search.to_json() if manifest.tuned_search else None)

    @app.get("/indexes/{name}/documents/{doc_id:path}", response_model=Document, responses=problem_responses(404, 422, 503),
             summary="One stored document by id.")
    def get_document(name: str, doc_id: str) -> Document:
        served(name)
        with indexes.lease(name) as (searcher, _):
            found = searcher.document(doc_id)
        if found is None:
            raise Problem(404, "Unknown document", f"Index {name!r} holds no document with id {doc_id!r}.")
        return Document(id=found.id, title=found.title, text=found.text, metadata=found.metadata)

    @app.post("/indexes/{name}/search", response_model=SearchResponse | BatchSearchResponse,
              responses=problem_responses(400, 404, 413, 422, 503),
              summary="Search with one query or a batch; the same results as `modernsearch search --json`.")
    async def search(name: str, request: SearchRequest) -> Response:
        served(name)
        queries = _queries(request, limits)
        given = request.settings()
        documents = request.return_documents
        key = (name, request.k, request.mode, documents, tuple(sorted(given.items())),
               json.dumps(request.filter, sort_keys=True, default=str))
        encoding = (name, request.mode, given.get("rerank"))  # what decides the query encoders: a bounded set of keys
        # each query's share of the answer budget (ids and scores alone are bounded by k and the batch size)
        text_budget = limits.max_answer_bytes // len(queries) if documents else None

        def run(batch: Sequence[str]) -> list[tuple[Any, Any]]:
            """Each query's result with the index version that answered the batch."""
            with indexes.lease(name) as (searcher, version):
                config = searcher.search_config(**given)
                results = searcher.search_batch(batch, k=request.k, mode=request.mode, config=config, filter=request.filter,
                                                max_text_bytes=text_budget)
                overlap[encoding] = _concurrent_batches(searcher.query_encoders(request.mode or searcher.modes[0], config))
            return [(result, version) for result in results]

        try:
            if request.query is not None:  # joins the other clients' concurrent queries with the same settings
                result, version = await batcher.search(key, queries[0], run, max_in_flight=overlap.get(encoding, 1))
                return _json({**result.to_dict(documents), "mode": result.mode, "index_version": _version(version)})
            answers = await run_in_threadpool(run, queries)
        except AnswerTooLargeError as err:
            which, share = (f"of query {err.query + 1} ", f" (its share of a batch of {len(queries)})") if len(queries) > 1 else ("", "")
            raise Problem(413, "Answer too large",
                          f"The results {which}hold {_megabytes(err.size)} of documents, over the "
                          f"{_megabytes(err.limit)} an answer may hold{share}. Ask for fewer results (k) or fewer queries, or send "
                          f"\"return_documents\": false for ids and scores only.", limit_bytes=limits.max_answer_bytes) from None
        return _json({"searches": [r.to_dict(documents) for r, _ in answers], "mode": answers[0][0].mode,
                      "index_version": _version(answers[0][1])})

    @app.post("/indexes/{name}/documents", response_model=UpdateResult, dependencies=[Depends(require_key)],
              responses=problem_responses(401, 403, 404, 409, 413, 422, 503),
              summary="Add documents (or replace them with upsert), as `modernsearch add` does.")
    def add(name: str, body: AddDocuments) -> UpdateResult:
        from retrieval.corpus.readers import ReadStats, read_records
        from retrieval.build.updater import add_documents, recorded_config
        from index.format import read_manifest

        folder = served(name)
        if len(body.documents) > limits.max_documents:
            raise Problem(413, "Request too large", f"Send at most {limits.max_documents:,} documents per request.")
        config = recorded_config(read_manifest(folder))
        documents = list(read_records(body.documents, config.with_changes(skip_invalid=False), ReadStats()))
        summary = add_documents(folder, documents, upsert=body.upsert, encoders=indexes.document_encoders(name), progress=False)
        return _update_result(summary, folder)

    @app.post("/indexes/{name}/documents:delete", response_model=UpdateResult, dependencies=[Depends(require_key)],
              responses=problem_responses(401, 403, 404, 409, 413, 422, 503),
              summary="Delete documents by id (ids the index does not hold are listed, not an error).")
    def delete(name: str, body: DeleteDocuments) -> UpdateResult:
        from retrieval.build.updater import delete_documents

        folder = served(name)
        return _update_result(delete_documents(folder, body.ids), folder)

    return app


def _queries(request: SearchRequest, limits: ServiceLimits) -> list[str]:
    if (request.query is None) == (request.queries is None):
        raise Problem(422, "Invalid request", "Send either 'query' (one string) or 'queries' (a list of strings).")
    queries = [request.query] if request.query is not None else list(request.queries or [])
    if not queries:
        raise Problem(422, "Invalid request", "'queries' is empty.")
    if len(queries) > limits.max_batch:
        raise Problem(413, "Request too large", f"Send at most {limits.max_batch} queries per request, not {len(queries)}.")
    longest = max(len(q) for q in queries)
    if longest > limits.max_query_chars:
        raise Problem(413, "Request too large", f"A query may hold at most {limits.max_query_chars:,} characters, not {longest:,}.")
    for query in queries:  # before a query joins other clients' batch
        check_query(query)
    return queries


def _concurrent_batches(encoders: dict[str, Any]) -> int:
    """How many batches the query encoders of a search run well at once (an encoder that does not say: one)."""
    return min((getattr(e, "concurrent_batches", 1) for e in encoders.values() if e is not None), default=1)


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def _json(payload: dict[str, Any]) -> Response:
    """A search answer serialised once, as the response model documents it (the hot path skips re-validating
    what :meth:`SearchResult.to_dict` built; the tests check the shape against the schema)."""
    try:
        body = json.dumps(payload, ensure_ascii=False, allow_nan=False)
    except ValueError:  # a NaN or infinity stored before such numbers were refused: null, as JSON spells no other
        body = json.dumps(_finite(payload), ensure_ascii=False)
    return Response(body, media_type="application/json")


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _version(stamp: Any) -> str:
    """A committed version as an opaque string (the manifest's inode and modification time: new with every commit)."""
    return "none" if stamp is None else f"{stamp[1]}-{stamp[0]}"


def _update_result(summary: Any, folder: Path) -> UpdateResult:
    from index.format import version_stamp

    return UpdateResult(added=summary.added, replaced=summary.replaced, deleted=summary.deleted, documents=summary.documents,
                        seconds=summary.seconds, not_found=summary.not_found, index_version=_version(version_stamp(folder)))
