"""The HTTP service on the real hybrid index of a dbpedia slice, through FastAPI's TestClient for the fine-grained
cases (tests/test_service_server.py runs a real `modernsearch serve` process for the user's path)."""

from __future__ import annotations

import json
import time

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from app.service.api import ServiceLimits, create_app
from app.service.indexes import ServedIndexes
from index.verify import verify_index
from retrieval.config import SearchConfig

from servers import KEY

QUERIES = ["american football player", "a river in europe", "famous painter"]


@pytest.fixture
def served(copy_of_small_index, minilm, minilm_colbert):
    """A client of the service over a private copy of the small hybrid index, writes enabled with KEY."""
    indexes = ServedIndexes({"small": copy_of_small_index})
    # the session's models, so the service loads nothing (it shares its encoders by model record)
    indexes._encoders.update(_shared(copy_of_small_index, minilm, minilm_colbert))
    app = create_app(
        indexes, api_key=KEY, limits=ServiceLimits(max_query_chars=1000, max_batch=8, max_body_bytes=200_000)
    )
    with TestClient(app) as client:
        yield client, copy_of_small_index
    indexes.close()


def _shared(folder, minilm, minilm_colbert):
    from app.service.indexes import encoder_key
    from index.format import read_manifest

    models = {"dense": minilm, "multivector": minilm_colbert}
    return {
        encoder_key(name, section.model, queries_only): models[name]
        for name, section in read_manifest(folder).components.items()
        if getattr(section, "model", None)
        for queries_only in (True, False)
    }


def problem(response, status: int, title: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail"} and body["status"] == status and body["title"] == title
    assert "Traceback" not in response.text
    return body


@pytest.mark.parametrize("mode", ["hybrid", "dense", "multivector", "bm25"])
def test_search_answers_equal_the_in_process_searcher(served, small_searcher, mode):
    client, _ = served
    config = SearchConfig(rerank="multivector") if mode == "dense" else SearchConfig()
    for query in QUERIES:
        expected = small_searcher.search(query, k=7, mode=mode, config=config).to_dict()
        body = {"query": query, "k": 7, "mode": mode, **({"rerank": "multivector"} if mode == "dense" else {})}
        answer = client.post("/indexes/small/search", json=body).json()
        assert [h["id"] for h in answer["results"]] == [h["id"] for h in expected["results"]]
        assert [h["score"] for h in answer["results"]] == pytest.approx(
            [h["score"] for h in expected["results"]], abs=1e-6
        )
        assert answer["results"][0]["components"] == pytest.approx(expected["results"][0]["components"], abs=1e-6)
        assert answer["mode"] == mode and answer["index_version"]
    batch = client.post("/indexes/small/search", json={"queries": QUERIES, "k": 3, "mode": mode}).json()
    assert [[h["id"] for h in s["results"]] for s in batch["searches"]] == [
        small_searcher.search(q, k=3, mode=mode).ids for q in QUERIES
    ]


def test_filters_settings_and_documents(served, small_searcher):
    client, _ = served
    hits = client.post(
        "/indexes/small/search", json={"query": "a film", "k": 5, "fusion": "linear", "alpha": 0.7}
    ).json()["results"]
    assert [h["id"] for h in hits] == small_searcher.search(
        "a film", k=5, config=SearchConfig(fusion="linear", alpha=0.7)
    ).ids
    first = hits[0]["id"]
    document = client.get(f"/indexes/small/documents/{first}").json()
    assert document["id"] == first and document["text"] == hits[0]["text"]
    url = document["metadata"]["metadata"]["url"]
    only = client.post(
        "/indexes/small/search", json={"query": "a film", "filter": {"metadata": {"$exists": True}}, "k": 3}
    )
    assert only.status_code == 200 and len(only.json()["results"]) == 3
    assert url
    listed = client.get("/indexes").json()
    assert listed[0]["name"] == "small" and listed[0]["modes"] == ["hybrid", "dense", "multivector", "bm25"]
    details = client.get("/indexes/small").json()
    assert details["documents"] == len(small_searcher) and details["metadata_fields"] == {"metadata": "json"}
    assert "/indexes/{name}/search" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    ("request_body", "status", "title", "detail"),
    [
        ({"query": "x", "k": 1001}, 422, "Invalid request", "k: Input should be less than or equal to 1000"),
        ({"query": "x" * 1001}, 413, "Request too large", "at most 1,000 characters"),
        ({"queries": ["a"] * 9}, 413, "Request too large", "at most 8 queries"),
        ({"query": "   "}, 400, "Empty query", "no visible characters"),
        ({"query": "x", "queries": ["y"]}, 422, "Invalid request", "either 'query'"),
        ({"query": "x", "filter": "year >="}, 400, "Invalid filter", "malformed filter at column"),
        (
            {"query": "x", "filter": {"year": 1}},
            400,
            "Invalid filter",
            "unknown field 'year'; the index's metadata fields are: metadata (json)",
        ),
        ({"query": "x", "mode": "sparse"}, 422, "Invalid request", "mode"),
        ({"query": "x", "alpha": 2}, 400, "Invalid setting", "alpha must be between 0 and 1"),
        ({"query": "x", "surprise": 1}, 422, "Invalid request", "surprise"),
    ],
)
def test_bad_requests_get_problem_details(served, request_body, status, title, detail):
    client, _ = served
    body = problem(client.post("/indexes/small/search", json=request_body), status, title)
    assert detail in body["detail"]


def test_unknown_index_lists_the_available_ones_and_limits_hold(served):
    client, _ = served
    body = problem(client.post("/indexes/nope/search", json={"query": "x"}), 404, "Unknown index")
    assert body["available"] == ["small"] and "available: small" in body["detail"]
    problem(client.get("/indexes/small/documents/no-such-id"), 404, "Unknown document")
    problem(
        client.post("/indexes/small/search", content=b"x" * 200_001, headers={"content-type": "application/json"}),
        413,
        "Request too large",
    )
    chunked = iter([b"x" * 150_000, b"x" * 60_000])  # no Content-Length: the limit counts the bytes as they come
    body = problem(
        client.post("/indexes/small/search", content=chunked, headers={"content-type": "application/json"}),
        413,
        "Request too large",
    )
    assert body["detail"] == "The body may hold at most 200,000 bytes."
    problem(client.get("/indexes/small/../../etc/passwd"), 404, "Not found")


def test_writes_need_the_key_and_show_up_in_the_next_search(served, small_searcher):
    client, folder = served
    record = {
        "_id": "new-river",
        "title": "Vltava",
        "text": "The Vltava is the longest river in the Czech Republic.",
        "year": 2024,
    }
    problem(client.post("/indexes/small/documents", json={"documents": [record]}), 401, "Unauthorized")
    problem(
        client.post("/indexes/small/documents", json={"documents": [record]}, headers={"X-API-Key": "wrong"}),
        401,
        "Unauthorized",
    )
    before = client.post("/indexes/small/search", json={"query": "Vltava Czech river", "k": 1, "mode": "bm25"}).json()
    added = client.post(
        "/indexes/small/documents", json={"documents": [record]}, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert (
        added.status_code == 200
        and added.json()["added"] == 1
        and added.json()["index_version"] != before["index_version"]
    )
    after = client.post("/indexes/small/search", json={"query": "Vltava Czech river", "k": 1, "mode": "bm25"}).json()
    assert [h["id"] for h in after["results"]] == ["new-river"] and after["index_version"] == added.json()[
        "index_version"
    ]
    assert (
        client.post("/indexes/small/search", json={"query": "river", "k": 5, "filter": "year = 2024"}).json()[
            "results"
        ][0]["id"]
        == "new-river"
    )
    again = client.post("/indexes/small/documents", json={"documents": [record]}, headers={"X-API-Key": KEY})
    assert (
        "already in" in problem(again, 422, "Invalid documents")["detail"]
        and '"upsert": true' in again.json()["detail"]
    )
    bad = client.post("/indexes/small/documents", json={"documents": [{"_id": "x"}]}, headers={"X-API-Key": KEY})
    assert "documents[0]: missing field 'text'" in problem(bad, 422, "Invalid documents")["detail"]
    gone = client.post(
        "/indexes/small/documents:delete", json={"ids": ["new-river", "never-there"]}, headers={"X-API-Key": KEY}
    ).json()
    assert gone["deleted"] == 1 and gone["not_found"] == ["never-there"]
    assert "new-river" not in [
        h["id"] for h in client.post("/indexes/small/search", json={"query": "Vltava", "k": 3}).json()["results"]
    ]
    assert all(check.ok for check in verify_index(folder))


def test_without_a_key_writes_are_disabled_with_how_to_enable_them(copy_of_small_index):
    with TestClient(create_app(ServedIndexes({"small": copy_of_small_index}))) as client:
        body = problem(client.post("/indexes/small/documents:delete", json={"ids": ["a"]}), 403, "Writes disabled")
        assert "--api-key-env" in body["detail"]
        assert client.get("/health").json() == {"status": "ok"}


def test_metrics_count_requests_and_describe_indexes(served):
    client, _ = served
    client.post("/indexes/small/search", json={"query": "a film", "k": 2})
    client.post("/indexes/nope/search", json={"query": "a film"})
    text = client.get("/metrics").text
    assert 'modernsearch_requests_total{endpoint="/indexes/{name}/search",method="POST",status="200"} 1.0' in text
    assert 'modernsearch_requests_total{endpoint="/indexes/{name}/search",method="POST",status="404"} 1.0' in text
    assert 'modernsearch_request_seconds_bucket{endpoint="/indexes/{name}/search",le="0.001",method="POST"}' in text
    assert (
        'modernsearch_index_documents{index="small"}' in text
        and "modernsearch_index_committed_timestamp_seconds" in text
    )


def test_fuzzed_requests_never_fail_and_answers_match_the_schema(served):
    """Property-based requests generated from the OpenAPI schema for every operation (writes with the key): no 5xx,
    and every response as documented (status, content type, body schema)."""
    client, _ = served
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def answers_as_documented(case):
            case.call_and_validate(headers={"X-API-Key": KEY})

        answers_as_documented()


def test_langchain_and_llamaindex_retrievers_return_the_searchers_hits(small_searcher):
    """The framework retrievers, on the real core packages, return the searcher's hits with their metadata and
    scores."""
    from retrieval.integrations.langchain import ModernSearchRetriever
    from retrieval.integrations.llama_index import ModernSearchLlamaRetriever

    expected = small_searcher.search(QUERIES[0], k=4, mode="dense")
    documents = ModernSearchRetriever(searcher=small_searcher, k=4, mode="dense").invoke(QUERIES[0])
    assert [d.id for d in documents] == expected.ids and documents[0].page_content == expected.hits[0].text
    assert documents[0].metadata["score"] == expected.hits[0].score and documents[0].metadata["rank"] == 1
    assert documents[0].metadata["metadata"] == expected.hits[0].metadata["metadata"], "the document's own fields"
    nodes = ModernSearchLlamaRetriever(small_searcher, k=4, mode="dense").retrieve(QUERIES[0])
    assert [n.node.id_ for n in nodes] == expected.ids and [n.score for n in nodes] == [h.score for h in expected.hits]
    assert (
        nodes[0].node.get_content() == expected.hits[0].text
        and nodes[0].node.metadata["title"] == expected.hits[0].title
    )
    filtered = ModernSearchRetriever(searcher=small_searcher, k=3, filter={"metadata": {"$exists": False}}).invoke(
        QUERIES[0]
    )
    assert filtered == []


@pytest.mark.parametrize("max_in_flight, sizes", [(1, [1, 7]), (2, [1, 1, 6])])
def test_concurrent_queries_with_the_same_settings_are_searched_together(small_searcher, max_in_flight, sizes):
    """Eight concurrent clients: the first query runs at once; with one batch in flight the seven that arrive
    meanwhile go in one batch, with two the second query starts its own at once and the last six wait together;
    every client gets the answer to its own query."""
    import asyncio

    from app.service.batching import QueryBatcher

    batches: list[list[str]] = []

    def search(queries):
        batches.append(list(queries))
        time.sleep(0.3)  # the first batches are still running when the others arrive
        return small_searcher.search_batch(queries, k=3, mode="dense")

    async def clients():
        batcher = QueryBatcher(max_batch=32)
        queries = [f"{q} {i}" for i, q in enumerate(QUERIES * 3)][:8]
        tasks = []
        for group in (queries[:1], queries[1:2], queries[2:]):  # 50 ms apart
            tasks += [asyncio.create_task(batcher.search("key", q, search, max_in_flight=max_in_flight)) for q in group]
            await asyncio.sleep(0.05)
        return queries, [await t for t in tasks]

    queries, results = asyncio.run(clients())
    assert [len(b) for b in batches] == sizes
    assert [r.query for r in results] == queries
    assert [r.ids for r in results] == [small_searcher.search(q, k=3, mode="dense").ids for q in queries]


def test_a_query_that_fails_in_a_batch_fails_only_its_own_request(small_searcher):
    """Queries of several clients batched together, one of which the search fails: the batch is searched again query by
    query, so every other client gets its own answer and only the failing one its error."""
    import asyncio

    from app.service.batching import QueryBatcher

    batches: list[list[str]] = []

    def search(queries):
        batches.append(list(queries))
        time.sleep(0.2)
        if "poison" in queries:
            raise ValueError("this query cannot be searched")
        return small_searcher.search_batch(queries, k=3, mode="dense")

    async def clients():
        batcher = QueryBatcher(max_batch=32)
        first = asyncio.create_task(batcher.search("key", QUERIES[0], search))
        await asyncio.sleep(0.05)  # the others arrive while the first batch runs, and wait for one batch together
        rest = [asyncio.create_task(batcher.search("key", q, search)) for q in [*QUERIES[1:], "poison", QUERIES[0]]]
        return await asyncio.gather(first, *rest, return_exceptions=True)

    answers = asyncio.run(clients())
    assert batches[:2] == [[QUERIES[0]], [*QUERIES[1:], "poison", QUERIES[0]]]
    assert [type(a).__name__ for a in answers] == ["SearchResult"] * 3 + ["ValueError", "SearchResult"]
    assert [a.ids for a in answers if not isinstance(a, Exception)] == [
        small_searcher.search(q, k=3, mode="dense").ids for q in [*QUERIES, QUERIES[0]]
    ]


def test_answers_over_the_size_budget_are_413s_and_ids_only_answers_are_not(
    copy_of_small_index, small_searcher, minilm, minilm_colbert
):
    """An answer's stored text is bounded (a batch shares the budget); ``return_documents: false`` answers with ids and
    scores alone, whatever the budget."""
    indexes = ServedIndexes({"small": copy_of_small_index})
    indexes._encoders.update(_shared(copy_of_small_index, minilm, minilm_colbert))
    full = small_searcher.search("a film", k=100, mode="dense")
    size = sum(hit.stored_bytes() for hit in full.hits)
    with TestClient(create_app(indexes, limits=ServiceLimits(max_answer_bytes=size - 1))) as client:
        body = problem(
            client.post("/indexes/small/search", json={"query": "a film", "k": 100, "mode": "dense"}),
            413,
            "Answer too large",
        )
        assert (
            f"hold {size / 1e6:,.1f} MB of documents" in body["detail"]
            and '"return_documents": false' in body["detail"]
        )
        assert body["limit_bytes"] == size - 1
        fits = client.post("/indexes/small/search", json={"query": "a film", "k": 10, "mode": "dense"})
        assert fits.status_code == 200 and [h["id"] for h in fits.json()["results"]] == full.ids[:10]
        batch = client.post("/indexes/small/search", json={"queries": ["a film", "a film"], "k": 100, "mode": "dense"})
        assert "of query 1" in problem(batch, 413, "Answer too large")["detail"], "two queries share the budget"
        ids_only = client.post(
            "/indexes/small/search", json={"query": "a film", "k": 100, "mode": "dense", "return_documents": False}
        )
        assert ids_only.status_code == 200
        assert [h["id"] for h in ids_only.json()["results"]] == full.ids and set(ids_only.json()["results"][0]) == {
            "id",
            "score",
            "components",
        }
    indexes.close()


def test_fuzzed_requests_with_lone_surrogates_and_huge_integers_never_fail(served):
    """The schema's requests with every string of the body given a lone surrogate or non-ASCII text and every integer
    made huge: always an answer or a 4xx problem, never a 5xx (sent by the test client: schemathesis's own
    validation cannot encode lone surrogates)."""
    from hypothesis import strategies as st

    client, _ = served
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    poisons = st.sampled_from(["\ud800", "\udfff tail", "Москва 東京 🚀", "\x00", "%d %s"])
    huge = st.sampled_from([2**63, -(2**63) - 1, 10**30, 2**64])

    def poisoned(value, text, number):
        if isinstance(value, dict):
            return {k: poisoned(v, text, number) for k, v in value.items()}
        if isinstance(value, list):
            return [poisoned(v, text, number) for v in value]
        if isinstance(value, str):
            return value + text
        if isinstance(value, int) and not isinstance(value, bool):
            return number
        return value

    for operation in (result.ok() for result in schema.get_all_operations()):

        @given(case=operation.as_strategy(), text=poisons, number=huge)
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def never_a_server_error(case, text, number):
            body = poisoned(case.body, text, number) if isinstance(case.body, (dict, list)) else None
            content = (
                json.dumps(body).encode() if body is not None else None
            )  # JSON escapes keep lone surrogates sendable
            response = client.request(
                case.method,
                case.formatted_path,
                content=content,
                params=case.query or None,
                headers={"X-API-Key": KEY, "content-type": "application/json"},
            )
            assert response.status_code < 500, (case.method, case.formatted_path, body, response.text[:300])

        never_a_server_error()
