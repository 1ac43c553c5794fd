"""Search: one query (batched with other clients' concurrent queries of the same settings) or a batch of queries,
answered as ``modernsearch search --json`` answers."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from app.service.problems import Problem
from app.service.schemas import BatchSearchResponse, SearchRequest, SearchResponse, problem_responses
from app.service.state import ServiceLimits, ServiceState, service_state, version_text
from retrieval.search.query_text import check_query
from retrieval.search.results import AnswerTooLargeError

router = APIRouter()


@router.post(
    "/indexes/{name}/search",
    response_model=SearchResponse | BatchSearchResponse,
    responses=problem_responses(400, 404, 413, 422, 503),
    summary="Search with one query or a batch; the same results as `modernsearch search --json`.",
)
async def search(name: str, request: SearchRequest, state: ServiceState = Depends(service_state)) -> Response:
    state.served(name)
    queries = _queries(request, state.limits)
    given = request.settings()
    documents = request.return_documents
    key = (
        name,
        request.k,
        request.mode,
        documents,
        json.dumps(given, sort_keys=True),  # the settings, component settings included
        json.dumps(request.filter, sort_keys=True, default=str),
    )
    encoding = (name, request.mode, given.get("rerank"))  # what decides the query encoders: a bounded set of keys
    # each query's share of the answer budget (ids and scores alone are bounded by k and the batch size)
    text_budget = state.limits.max_answer_bytes // len(queries) if documents else None

    def run(batch: Sequence[str]) -> list[tuple[Any, Any]]:
        """Each query's result with the index version that answered the batch."""
        with state.indexes.lease(name) as (searcher, version):
            config = searcher.search_config(**given)
            results = searcher.search_batch(
                batch, k=request.k, mode=request.mode, config=config, filter=request.filter, max_text_bytes=text_budget
            )
            state.overlap[encoding] = _concurrent_batches(
                searcher.query_encoders(request.mode or searcher.modes[0], config)
            )
        return [(result, version) for result in results]

    try:
        if request.query is not None:  # joins the other clients' concurrent queries with the same settings
            result, version = await state.batcher.search(
                key, queries[0], run, max_in_flight=state.overlap.get(encoding, 1)
            )
            return _json({**result.to_dict(documents), "mode": result.mode, "index_version": version_text(version)})
        answers = await run_in_threadpool(run, queries)
    except AnswerTooLargeError as err:
        raise _too_large(err, len(queries), state.limits) from None
    return _json(
        {
            "searches": [r.to_dict(documents) for r, _ in answers],
            "mode": answers[0][0].mode,
            "index_version": version_text(answers[0][1]),
        }
    )


def _queries(request: SearchRequest, limits: ServiceLimits) -> list[str]:
    if (request.query is None) == (request.queries is None):
        raise Problem(422, "Invalid request", "Send either 'query' (one string) or 'queries' (a list of strings).")
    queries = [request.query] if request.query is not None else list(request.queries or [])
    if not queries:
        raise Problem(422, "Invalid request", "'queries' is empty.")
    if len(queries) > limits.max_batch:
        raise Problem(
            413, "Request too large", f"Send at most {limits.max_batch} queries per request, not {len(queries)}."
        )
    longest = max(len(q) for q in queries)
    if longest > limits.max_query_chars:
        raise Problem(
            413,
            "Request too large",
            f"A query may hold at most {limits.max_query_chars:,} characters, not {longest:,}.",
        )
    for query in queries:  # before a query joins other clients' batch
        check_query(query)
    return queries


def _too_large(err: AnswerTooLargeError, n_queries: int, limits: ServiceLimits) -> Problem:
    which, share = (
        (f"of query {err.query + 1} ", f" (its share of a batch of {n_queries})") if n_queries > 1 else ("", "")
    )
    return Problem(
        413,
        "Answer too large",
        f"The results {which}hold {_megabytes(err.size)} of documents, over the {_megabytes(err.limit)} an "
        f'answer may hold{share}. Ask for fewer results (k) or fewer queries, or send "return_documents": '
        f"false for ids and scores only.",
        limit_bytes=limits.max_answer_bytes,
    )


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
