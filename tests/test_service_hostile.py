"""Careless and hostile clients of a real `modernsearch serve` process (loopback only, bounded loops): one client's
bad request never fails another's search, every bad input is a 4xx problem that names no server path, and the
served indexes are unchanged and verify afterwards."""

from __future__ import annotations

import json
import re
import shutil
import threading
from pathlib import Path

import pytest

from index.docstore import DocumentStore
from index.lock import writer_lock
from index.verify import verify_index

from servers import KEY, running_server

pytestmark = pytest.mark.slow  # one server start (two models) for the module, about a minute on two cores

GOOD_QUERIES = ["american football player", "a river in europe", "famous painter", "rock band from england", "a film"]
BAD_QUERY = "\ud800 brain %d"  # a lone surrogate, as a JSON "\ud800" escape sends it
WRITE = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def folders(tmp_path_factory, small_index) -> dict[str, Path]:
    """Three copies of the small hybrid index: searched only, written to, and one to take away."""
    root = tmp_path_factory.mktemp("hostile")
    return {name: Path(shutil.copytree(small_index, root / name)) for name in ("small", "typed", "spare")}


@pytest.fixture(scope="module")
def server(folders, tmp_path_factory):
    """The served indexes, and an httpx client of the server; "typed" gains documents with typed metadata."""
    import httpx2 as httpx

    log = tmp_path_factory.mktemp("server-log") / "server.log"
    with running_server(folders, log) as url, httpx.Client(base_url=url, timeout=120) as client:
        documents = [
            {"_id": f"typed-{year}", "text": f"A chronicle of the year {year} in Europe.", "year": year, "score": 0.5}
            for year in (1999, 2020, 2024)
        ]
        assert post(client, "/indexes/typed/documents", {"documents": documents}, headers=WRITE).status_code == 200
        yield client, log


def post(client, path: str, body, headers: dict | None = None):
    """POST ``body`` as JSON with ASCII escapes, as most clients send it (a lone surrogate travels as ``\\ud800``)."""
    return client.post(
        path, content=json.dumps(body).encode(), headers={"content-type": "application/json", **(headers or {})}
    )


def problem(response, status: int, title: str, folders: dict[str, Path]) -> dict:
    """The problem body of ``response``, checked: status, media type, title, and no server path or process id."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] == title, body
    for folder in folders.values():
        assert str(folder) not in response.text and str(folder.parent) not in response.text, body["detail"]
    assert "/tmp" not in response.text and not re.search(r"(process|pid) \d", response.text), body["detail"]
    return body


@pytest.mark.slow
def test_one_clients_bad_query_fails_no_other_clients_search(server, folders, small_searcher):
    """Eight clients search in dense mode with the same settings (so their queries are batched together) while one
    more sends a lone surrogate in the same mode: all 120 good searches answer exactly as the index does in process,
    and every bad one is a 400 for that client alone."""
    import httpx2 as httpx

    client, _ = server
    expected = {q: small_searcher.search(q, k=5, mode="dense").ids for q in GOOD_QUERIES}
    answers: list[tuple[int, list[str] | None, str]] = []
    bad: list[tuple[int, str]] = []

    def good_client(number: int) -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=120) as own:
            for i in range(15):
                query = GOOD_QUERIES[(number + i) % len(GOOD_QUERIES)]
                response = post(own, "/indexes/small/search", {"query": query, "k": 5, "mode": "dense"})
                ids = [h["id"] for h in response.json()["results"]] if response.status_code == 200 else None
                answers.append((response.status_code, ids, query))

    def bad_client() -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=120) as own:
            for _ in range(30):
                response = post(own, "/indexes/small/search", {"query": BAD_QUERY, "k": 5, "mode": "dense"})
                bad.append((response.status_code, response.json().get("title", "")))

    threads = [threading.Thread(target=good_client, args=(n,)) for n in range(8)] + [
        threading.Thread(target=bad_client)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(answers) == 120 and [status for status, _, _ in answers].count(200) == 120
    assert all(ids == expected[query] for _, ids, query in answers)
    assert bad == [(400, "Invalid query")] * 30


@pytest.mark.parametrize("mode", ["dense", "multivector", "hybrid", "bm25"])
def test_a_lone_surrogate_is_a_400_in_every_mode(server, folders, mode):
    client, _ = server
    body = problem(
        post(client, "/indexes/small/search", {"query": BAD_QUERY, "mode": mode}), 400, "Invalid query", folders
    )
    assert "character 1" in body["detail"] and "valid UTF-8" in body["detail"]
    problem(
        post(client, "/indexes/small/search", {"queries": ["a film", BAD_QUERY], "mode": mode}),
        400,
        "Invalid query",
        folders,
    )


HUGE = 10**30
FILTERS = [  # (filter, what the detail says)
    ({"year": HUGE}, "64-bit"),
    ({"year": {"$in": [2020, -HUGE]}}, "64-bit"),
    ("year > 99999999999999999999999", "64-bit"),
    ({"$or": [{"year": y} for y in range(600)]}, "$or takes at most 256 filters, got 600"),
    (" or ".join(f"year = {y}" for y in range(520)), "more than 256 conditions"),
    ("not " * 3000 + "year exists", "nests deeper than 32"),
    ("year = 1 and " * 80_000 + "year = 2", "over the limit of 100,000"),
    ("year > 'abc'", "compare it with a number"),
    ({"nothing": 1}, "unknown field 'nothing'"),
    ("year >=", "unexpected end of the filter"),
]


@pytest.mark.parametrize(("filter", "detail"), FILTERS, ids=[d for _, d in FILTERS])
def test_filters_beyond_the_limits_are_400s(server, folders, filter, detail):
    client, _ = server
    body = problem(
        post(client, "/indexes/typed/search", {"query": "a chronicle", "filter": filter}),
        400,
        "Invalid filter",
        folders,
    )
    assert detail in body["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"query": "x", "k": "5"}, 'expected an integer, not "5"'),
        ({"query": "x", "k": True}, "expected an integer, not true"),
        ({"query": "x", "alpha": "0.5"}, "expected a number"),
        ({"query": "x", "return_documents": "no"}, "expected true or false"),
        ({"query": "x", "k": 10_001}, "less than or equal to 1000"),
    ],
)
def test_values_of_another_json_type_are_never_coerced(server, folders, body, detail):
    client, _ = server
    assert detail in problem(post(client, "/indexes/small/search", body), 422, "Invalid request", folders)["detail"]


def test_invalid_utf8_and_broken_json_are_4xx(server, folders):
    client, _ = server
    undecodable = client.post(
        "/indexes/small/search", content=b'{"query": "\xff\xfe brain"}', headers={"content-type": "application/json"}
    )
    assert "not UTF-8 JSON" in problem(undecodable, 400, "Invalid request", folders)["detail"]
    for content in (b'{"query": "brain', b"\x00" * 64):
        problem(
            client.post("/indexes/small/search", content=content, headers={"content-type": "application/json"}),
            422,
            "Invalid request",
            folders,
        )


def test_bad_documents_are_422s_that_add_nothing_and_hint_only_what_a_request_can_send(server, folders):
    client, _ = server
    version = client.get("/indexes/typed").json()["index_version"]
    raw = [  # JSON the standard library reads, with numbers SQLite cannot hold
        (b'{"documents": [{"_id": "nan", "text": "t", "score": NaN}]}', "non-finite"),
        (b'{"documents": [{"_id": "inf", "text": "t", "weight": -Infinity}]}', "non-finite"),
        (b'{"documents": [{"_id": "big", "text": "t", "year": 100000000000000000000000000000}]}', "64-bit"),
        (b'{"documents": [{"_id": "deep", "text": "t", "extra": {"a": [NaN]}}]}', "non-finite"),
    ]
    for content, detail in raw:
        body = problem(
            client.post(
                "/indexes/typed/documents", content=content, headers={**WRITE, "content-type": "application/json"}
            ),
            422,
            "Invalid documents",
            folders,
        )
        assert detail in body["detail"] and "on_type_error" not in body["detail"]
    missing = problem(
        post(client, "/indexes/typed/documents", {"documents": [{"_id": "no-text"}]}, headers=WRITE),
        422,
        "Invalid documents",
        folders,
    )
    assert "missing field 'text'" in missing["detail"]
    assert not any(name in missing["detail"] for name in ("id_field", "text_field", "skip_invalid")), missing["detail"]
    twice = [{"_id": "twin", "text": "word " * 20_000}] * 2  # a 200 KB request: the error must not echo it
    response = post(client, "/indexes/typed/documents", {"documents": twice}, headers=WRITE)
    assert "repeats document ids ['twin']" in problem(response, 422, "Invalid documents", folders)["detail"]
    assert len(response.content) < 2_000
    held = problem(
        post(
            client, "/indexes/typed/documents", {"documents": [{"_id": "typed-2020", "text": "again"}]}, headers=WRITE
        ),
        422,
        "Invalid documents",
        folders,
    )
    assert '"upsert": true' in held["detail"]
    problem(
        post(
            client,
            "/indexes/typed/documents",
            {"documents": [{"_id": "y", "text": "t"}], "upsert": "yes"},
            headers=WRITE,
        ),
        422,
        "Invalid request",
        folders,
    )
    problem(
        post(
            client,
            "/indexes/typed/documents",
            {"documents": [{"_id": "y", "text": "t"}], "skip_invalid": True},
            headers=WRITE,
        ),
        422,
        "Invalid request",
        folders,
    )
    for doc_id in ("nan", "inf", "big", "deep", "no-text", "twin", "y"):
        assert client.get(f"/indexes/typed/documents/{doc_id}").status_code == 404
    assert client.get("/indexes/typed").json()["index_version"] == version
    assert all(check.ok for check in verify_index(folders["typed"]))


def test_busy_and_emptying_writes_name_the_index_not_its_folder(server, folders):
    client, _ = server
    with writer_lock(folders["typed"]):
        body = problem(
            post(client, "/indexes/typed/documents:delete", {"ids": ["typed-1999"]}, headers=WRITE),
            409,
            "Index busy",
            folders,
        )
    assert "<typed>" in body["detail"]
    store = DocumentStore.open(folders["typed"] / "documents.sqlite")
    try:
        every = [d.id for d in store.iter_documents()]
    finally:
        store.close()
    body = problem(
        post(client, "/indexes/typed/documents:delete", {"ids": every}, headers=WRITE), 400, "Bad request", folders
    )
    assert "would leave <typed> empty" in body["detail"]
    version = client.get("/indexes/typed").json()["index_version"]
    absent = post(client, "/indexes/typed/documents:delete", {"ids": ["never-there"]}, headers=WRITE).json()
    assert absent["deleted"] == 0 and absent["not_found"] == ["never-there"] and absent["index_version"] == version
    assert all(check.ok for check in verify_index(folders["typed"]))


def test_ids_and_scores_only_answer_a_large_batch(server, folders, small_searcher):
    client, _ = server
    response = post(
        client,
        "/indexes/small/search",
        {"queries": GOOD_QUERIES * 12, "k": 1000, "mode": "dense", "return_documents": False},
    )
    assert response.status_code == 200
    searches = response.json()["searches"]
    assert len(searches) == 60 and len(searches[0]["results"]) == len(small_searcher)
    assert set(searches[0]["results"][0]) == {"id", "score", "components"}
    assert [h["id"] for h in searches[0]["results"][:5]] == small_searcher.search(
        GOOD_QUERIES[0], k=5, mode="dense"
    ).ids


def test_an_index_taken_away_leaves_the_others_listed(server, folders, tmp_path):
    client, _ = server
    spare = folders["spare"]
    moved = spare.rename(tmp_path / "moved-away")
    try:
        listed = {entry["name"]: entry for entry in client.get("/indexes").json()}
        assert listed["small"]["available"] and listed["small"]["documents"] > 0
        assert listed["spare"]["available"] is False and "<spare>" in listed["spare"]["problem"]
        assert str(spare) not in json.dumps(listed)
        problem(client.get("/ready"), 503, "Not ready", folders)
        problem(post(client, "/indexes/spare/search", {"query": "a film"}), 503, "Index unavailable", folders)
        assert post(client, "/indexes/small/search", {"query": "a film"}).status_code == 200
    finally:
        moved.rename(spare)
    assert client.get("/ready").status_code == 200
