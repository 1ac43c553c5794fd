"""The service as a real uvicorn process on a loopback port: remote searchers get the in-process answers and see
commits made beside the server, and concurrent searches during commits each see one committed version."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from retrieval.search.remote import RemoteSearcher, RemoteSearchError
from retrieval.search.searcher import Searcher

from servers import KEY, running_server

QUERIES = ["american football player", "a river in europe", "famous painter"]


def cli(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_a_real_server_answers_remote_searchers_and_picks_up_commits(copy_of_small_index, small_searcher, tmp_path):
    """`modernsearch serve` on a loopback port: RemoteSearcher equals Searcher; a commit made by another process
    (the CLI) is seen by the next request; the access log has one JSON line per request."""
    log = tmp_path / "server.log"
    with running_server({"small": copy_of_small_index}, log) as url:
        remote = RemoteSearcher(url, "small")
        for mode in ("hybrid", "dense", "multivector", "bm25"):
            got = remote.search(QUERIES, k=5, mode=mode)
            want = small_searcher.search(QUERIES, k=5, mode=mode)
            assert [r.ids for r in got] == [r.ids for r in want]
            assert got[0].hits[0].score == pytest.approx(want[0].hits[0].score, abs=1e-6) and got[0].mode == mode
        with pytest.raises(RemoteSearchError, match="Invalid filter"):
            remote.search("x", filter="year >")
        from retrieval.integrations.langchain import ModernSearchRetriever

        assert [d.id for d in ModernSearchRetriever(searcher=remote, k=3).invoke(QUERIES[1])] == small_searcher.search(
            QUERIES[1], k=3
        ).ids
        version = remote.index_version
        corpus = tmp_path / "more.jsonl"
        corpus.write_text(json.dumps({"_id": "cli-added", "text": "Zanzibar spice islands archipelago."}) + "\n")
        cli("add", str(copy_of_small_index), str(corpus))
        assert remote.search("Zanzibar spice archipelago", k=1, mode="bm25").ids == ["cli-added"]
        assert remote.index_version != version
        writer = RemoteSearcher(url, "small", api_key=KEY)
        response = writer._client.post("/indexes/small/documents:delete", json={"ids": ["cli-added"]})
        assert response.status_code == 200 and response.json()["deleted"] == 1
        assert "cli-added" not in remote.search("Zanzibar spice archipelago", k=3).ids
        from retrieval.build.tuned import apply_tuned_search  # tuned settings reach remote searches that give none

        apply_tuned_search(
            copy_of_small_index,
            {"fusion": "rrf", "rrf_k": 1, "rrf_alpha": 0.2},
            dataset="slice",
            metric="ndcg@10",
            cv_metric=0.5,
            in_sample_metric=0.5,
            queries=5,
        )
        tuned = Searcher.load(
            copy_of_small_index, encoder=small_searcher.encoder, multivector_encoder=small_searcher.multivector_encoder
        )
        assert [r.ids for r in remote.search(QUERIES, k=5)] == [r.ids for r in tuned.search(QUERIES, k=5)]
        assert [r.ids for r in tuned.search(QUERIES, k=5)] != [r.ids for r in small_searcher.search(QUERIES, k=5)]
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    searches = [line for line in lines if line["endpoint"] == "/indexes/{name}/search"]
    assert searches and all({"method", "path", "status", "ms"} <= set(line) for line in searches)
    assert {line["status"] for line in searches} == {200, 400}


@pytest.mark.slow
def test_concurrent_searches_during_commits_see_one_version_or_the_other(copy_of_small_index, small_searcher, tmp_path):
    """16 clients search while another process commits 5 updates (add, delete, ...): no errors, and every answer is
    exactly the answer of the index with or without the changing document."""
    query = "Zanzibar spice islands in the Indian Ocean"
    record = {
        "_id": "zanzibar",
        "title": "Zanzibar",
        "text": "Zanzibar is an archipelago of spice islands in the Indian Ocean.",
    }
    corpus = tmp_path / "zanzibar.jsonl"
    corpus.write_text(json.dumps(record) + "\n")
    without = small_searcher.search(query, k=5, mode="dense").ids
    answers: list[list[str]] = []
    errors: list[str] = []
    stop = threading.Event()
    with running_server({"small": copy_of_small_index}, tmp_path / "server.log") as url:

        def client() -> None:
            remote = RemoteSearcher(url, "small")
            while not stop.is_set():
                try:
                    answers.append(remote.search(query, k=5, mode="dense").ids)
                except Exception as err:  # noqa: BLE001 - every failure is collected and fails the test
                    errors.append(repr(err))
            remote.close()

        threads = [threading.Thread(target=client) for _ in range(16)]
        for thread in threads:
            thread.start()
        try:
            for step in range(5):
                cli("add", str(copy_of_small_index), str(corpus)) if step % 2 == 0 else cli(
                    "delete", str(copy_of_small_index), "--ids", "zanzibar"
                )
            time.sleep(1)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        with_it = RemoteSearcher(url, "small").search(query, k=5, mode="dense").ids
    assert errors == []
    assert with_it[0] == "zanzibar" and with_it != without
    assert len(answers) > 50 and {tuple(a) for a in answers} <= {tuple(without), tuple(with_it)}
    assert {tuple(a) for a in answers} == {tuple(without), tuple(with_it)}, "both versions were seen"
