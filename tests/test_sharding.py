"""Sharded indexes built on a real local Ray cluster: they answer exactly as one index, verify, and resume after a kill.

One Ray session for the module (``ray.init(num_cpus=2)``); the encoder actors load the offline models themselves.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from remembered import remembering

from app.commands.settings_options import flag
from index.verify import verify_index
from retrieval.build.builder import build_index
from retrieval.build.progress import PROGRESS_NAME
from retrieval.build.updater import add_documents
from retrieval.config import BuildConfig, SearchConfig
from retrieval.search.searcher import Searcher

from conftest import kill_when, progress_reached, start_cli
from servers import free_port

pytestmark = pytest.mark.slow
# float32 like the session's encoders, so Ray's actors (which load their own models) encode as the whole index did
CONFIG = BuildConfig(model="minilm", mode="hybrid", multivector_model="minilm-colbert", backend="torch")
CONFIG_CANDIDATES = (
    256  # the multi-vector search's candidates at this size (index.multivector.defaults.search_defaults)
)
SEARCHES = [  # mode, settings, filter
    ("dense", None, None),
    ("bm25", None, None),
    ("multivector", None, None),
    ("hybrid", None, None),
    ("hybrid", SearchConfig(fusion="rrf"), None),
    ("hybrid", SearchConfig(rerank="multivector"), None),
    ("dense", None, "group = 1"),
    ("multivector", None, "group = 2"),
    ("hybrid", SearchConfig(rerank="multivector"), "group != 0"),
]


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster for this module's builds, shut down after them."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def grouped_corpus(tmp_path_factory, dbpedia_small) -> Path:
    """The dbpedia slice with a ``group`` field (0, 1, 2 in turn) to filter on."""
    target = tmp_path_factory.mktemp("grouped")
    with (
        open(dbpedia_small / "corpus.jsonl", encoding="utf-8") as src,
        open(target / "corpus.jsonl", "w", encoding="utf-8") as dst,
    ):
        for i, line in enumerate(src):
            dst.write(json.dumps({**json.loads(line), "group": i % 3}) + "\n")
    return target / "corpus.jsonl"


@pytest.fixture(scope="module")
def encoders(minilm, minilm_colbert) -> dict[str, Any]:
    """The session's models remembering the documents they encode: the one-folder index and the sharded updates'
    builds and retraining index the same texts, each encoded once (queries are always encoded afresh)."""
    return {"encoder": remembering(minilm), "multivector_encoder": remembering(minilm_colbert)}


@pytest.fixture(scope="module")
def whole(tmp_path_factory, grouped_corpus, encoders) -> Path:
    folder = tmp_path_factory.mktemp("whole") / "idx"
    build_index(grouped_corpus, folder, CONFIG, **encoders, progress=False)
    return folder


def _queries(dbpedia_small: Path) -> list[str]:
    judged = [
        json.loads(line)["text"] for line in (dbpedia_small / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    return judged + ["history of the tango", "a river in europe", "american football player born 1980", "xyzzy"]


@pytest.fixture(scope="module")
def killed_ray_build(ray_cluster, tmp_path_factory, grouped_corpus) -> dict[str, Any]:
    """A 2-shard build on Ray by the command line, its driver SIGKILLed mid-encoding and run again: whether the kill
    came before the end, whether it left an index behind, the rerun's summary (None if it failed) and its errors.
    It is also the 2-shard index the other tests check (``ray_built(2)``): a resumed build must answer exactly as
    one index."""
    folder = tmp_path_factory.mktemp("killed-ray")
    options = {flag(name): getattr(CONFIG, name) for name in ("mode", "model", "multivector_model", "backend")}
    options |= {"--index": folder / "idx", "--shards": 2, "--engine": "ray", "--ray-address": ray_cluster}
    args = ["build", str(grouped_corpus), *(str(part) for pair in options.items() for part in pair)]
    encoding = progress_reached(lambda: [folder / ".idx.partial" / PROGRESS_NAME], lambda p: p["encoded"] >= 128)
    killed = kill_when(start_cli(*args), encoding)
    left_an_index = (folder / "idx").exists()
    rerun = start_cli(*args, "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = rerun.communicate(timeout=600)
    summary = json.loads(out) if rerun.returncode == 0 else None
    return {"folder": folder / "idx", "killed": killed, "left_an_index": left_an_index, "summary": summary, "err": err}


@pytest.fixture(scope="module")
def ray_built(request, ray_cluster, tmp_path_factory, grouped_corpus, minilm, minilm_colbert):
    """Ray-built sharded indexes of the grouped corpus by shard count, each built once: (folder, documents the build
    reported). Two shards: the killed and resumed build; three: one uninterrupted build in this process."""
    built: dict[int, tuple[Path, int]] = {}

    def build(shards: int) -> tuple[Path, int]:
        if shards == 2:
            resumed = request.getfixturevalue("killed_ray_build")
            assert resumed["summary"], f"the resumed 2-shard build failed: {resumed['err'][-2000:]}"
            return resumed["folder"], resumed["summary"]["documents"]
        if shards not in built:
            folder = tmp_path_factory.mktemp(f"sharded-{shards}") / "idx"
            summary = build_index(
                grouped_corpus,
                folder,
                CONFIG.with_changes(shards=shards, engine="ray", ray_address=ray_cluster),
                encoder=minilm,
                multivector_encoder=minilm_colbert,
                progress=False,
            )
            built[shards] = folder, summary.documents
        return built[shards]

    return build


@pytest.mark.slow
@pytest.mark.parametrize("shards", [2, 3])
def test_ray_built_shards_answer_exactly_as_one_index(ray_built, whole, dbpedia_small, minilm, minilm_colbert, shards):
    folder, documents = ray_built(shards)
    one = Searcher.load(whole, encoder=minilm, multivector_encoder=minilm_colbert)
    split = Searcher.load(folder, encoder=minilm, multivector_encoder=minilm_colbert)
    assert documents == len(one) == len(split) > CONFIG_CANDIDATES, "the multi-vector search must select candidates"
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", *(f"shard-{i:03d}" for i in range(shards))]

    for mode, settings, where in SEARCHES:
        for query in _queries(dbpedia_small):
            expected = one.search(query, k=10, mode=mode, config=settings, filter=where)
            found = split.search(query, k=10, mode=mode, config=settings, filter=where)
            assert found.ids == expected.ids, (mode, settings, where, query)
            assert np.allclose([h.score for h in found.hits], [h.score for h in expected.hits], atol=1e-5)
            for got, want in zip(found.hits, expected.hits):  # every stage's score: dense, bm25, fused, maxsim
                assert got.components == pytest.approx(want.components, abs=1e-5)
    assert split.metadata_fields() == one.metadata_fields()
    assert split.document("<dbpedia:Tango>").text == one.document("<dbpedia:Tango>").text

    checks = verify_index(folder)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert sum(c.name.endswith("dense ids") for c in checks) == shards
    for number in range(shards):  # every shard is an index of its own, holding its run of the documents
        alone = Searcher.load(folder / f"shard-{number:03d}", encoder=minilm, multivector_encoder=minilm_colbert)
        assert 0 < len(alone) < len(one)
        assert set(alone.search("tango", k=5, mode="bm25").ids) <= set(one.search("tango", k=len(one), mode="bm25").ids)


@pytest.mark.slow
def test_sharded_updates_keep_answering_as_one_index(
    tmp_path, grouped_corpus, whole, copy_index, encoders, minilm, minilm_colbert
):
    """The same adds, upserts and deletes applied to a one-folder index and to a sharded one: afterwards both answer
    every search alike (BM25 statistics stay collection-wide), the new documents get the same row ids, and verify
    passes; compaction vacuums the shards (answers unchanged) or retrains them into as many shards."""
    from retrieval.build.compaction import compact_index
    from retrieval.build.tuned import apply_tuned_search
    from retrieval.build.updater import delete_documents

    one_dir = copy_index(whole, "one")
    split_dir = tmp_path / "split"
    build_index(
        grouped_corpus,
        split_dir,
        CONFIG.with_changes(shards=2),
        **encoders,
        progress=False,
    )
    replaced = json.loads(grouped_corpus.read_text(encoding="utf-8").splitlines()[3])
    new = [
        {
            "_id": "new-tango",
            "title": "Tango nuevo",
            "text": "A history of the tango in Buenos Aires dance halls.",
            "group": 1,
        },
        {
            "_id": "new-river",
            "title": "A river",
            "text": "The Danube is a river in Europe that flows to the Black Sea.",
            "group": 2,
        },
        {**replaced, "text": replaced["text"] + " Revised and extended."},
    ]
    updates = tmp_path / "updates.jsonl"
    updates.write_text("".join(json.dumps(d) + "\n" for d in new), encoding="utf-8")
    doomed = [json.loads(line)["_id"] for line in grouped_corpus.read_text(encoding="utf-8").splitlines()[10:13]] + [
        "no-such-id"
    ]
    for folder in (one_dir, split_dir):
        added = add_documents(folder, updates, upsert=True, **encoders, progress=False)
        assert (added.added, added.replaced) == (2, 1)
        gone = delete_documents(folder, doomed)
        assert (gone.deleted, gone.not_found) == (3, ["no-such-id"])

    one = Searcher.load(one_dir, encoder=minilm, multivector_encoder=minilm_colbert)
    split = Searcher.load(split_dir, encoder=minilm, multivector_encoder=minilm_colbert)
    assert len(split) == len(one)
    for mode, settings, where in SEARCHES:
        for query in ("history of the tango", "a river in europe", "revised and extended"):
            expected = one.search(query, k=10, mode=mode, config=settings, filter=where)
            found = split.search(query, k=10, mode=mode, config=settings, filter=where)
            assert found.ids == expected.ids, (mode, settings, where, query)
            assert np.allclose([h.score for h in found.hits], [h.score for h in expected.hits], atol=1e-5)
    original = len(grouped_corpus.read_text(encoding="utf-8").splitlines())
    for doc_id in ("new-tango", "new-river", replaced["_id"]):  # the row ids the one-folder index gave them
        assert split.row_of(doc_id) == one.row_of(doc_id) > original
    checks = verify_index(split_dir)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]

    compacted = compact_index(split_dir, retrain="never", progress=False)  # stores vacuumed, answers unchanged
    assert compacted.documents == len(one) and not compacted.retrained and set(compacted.drift) == {"multivector"}
    again = Searcher.load(split_dir, encoder=minilm, multivector_encoder=minilm_colbert)
    for mode in ("dense", "multivector", "bm25", "hybrid"):
        assert (
            again.search("history of the tango", k=10, mode=mode).ids
            == one.search("history of the tango", k=10, mode=mode).ids
        )
    retrained = compact_index(split_dir, retrain="always", **encoders, progress=False)
    assert retrained.retrained and retrained.documents == len(one)
    assert sorted(p.name for p in split_dir.iterdir()) == ["manifest.json", "shard-000", "shard-001"]
    assert all(c.ok for c in verify_index(split_dir))
    assert (
        Searcher.load(split_dir, encoder=minilm, multivector_encoder=minilm_colbert)
        .search("tango", k=1, mode="bm25")
        .ids
    )
    apply_tuned_search(
        split_dir, {"alpha": 0.5}, dataset="slice", metric="ndcg@10", cv_metric=0.5, in_sample_metric=0.5, queries=5
    )
    assert Searcher.load(split_dir).search_config().alpha == 0.5 and all(c.ok for c in verify_index(split_dir))


@pytest.mark.slow
def test_killed_ray_build_resumes_and_ends_equal(killed_ray_build, whole, minilm, minilm_colbert):
    """SIGKILL the driver of a distributed build mid-encoding; the rerun continues from its last committed step (the
    resumed index answers every search of the exact-answers test too: it is its 2-shard index)."""
    assert killed_ray_build["killed"], "the build ended before it could be interrupted"
    assert not killed_ray_build["left_an_index"]
    assert killed_ray_build["summary"] is not None, f"the rerun failed: {killed_ray_build['err'][-2000:]}"
    assert killed_ray_build["summary"]["resumed_from"] >= 128

    folder = killed_ray_build["folder"]
    one = Searcher.load(whole, encoder=minilm, multivector_encoder=minilm_colbert)
    split = Searcher.load(folder, encoder=minilm, multivector_encoder=minilm_colbert)
    for mode in ("dense", "multivector", "bm25", "hybrid"):
        for query in ("history of the tango", "a river in europe"):
            expected, found = one.search(query, k=10, mode=mode), split.search(query, k=10, mode=mode)
            assert found.ids == expected.ids
            assert np.allclose([h.score for h in found.hits], [h.score for h in expected.hits], atol=1e-5)
    assert all(c.ok for c in verify_index(folder))


@pytest.mark.slow
def test_ray_serve_answers_like_one_index_and_marks_answers_a_dead_shard_missed(
    ray_built, whole, minilm, minilm_colbert
):
    """The router and a deployment per shard on Ray Serve: the same HTTP answers as one index in one process; with one
    shard's replica frozen and then killed under a bounded load, every answer is complete and right or marked partial
    (always partial while it is frozen), and the replica comes back."""
    import httpx2 as httpx
    import ray
    from ray import serve

    from app.service import ray_serve
    from retrieval.search.remote import RemoteSearcher

    folder, _ = ray_built(2)
    port = free_port()
    ray_serve.start(
        {"split": folder, "whole": whole}, port=port, cpus_per_replica=0.25, policy=ray_serve.ShardPolicy(timeout=3.0)
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: httpx.get(f"{url}/ready", timeout=30).status_code == 200, 120)
        one = Searcher.load(whole, encoder=minilm, multivector_encoder=minilm_colbert)
        remote = RemoteSearcher(url, "split")
        for mode in ("dense", "multivector", "bm25", "hybrid"):
            for query in ("history of the tango", "a river in europe", "xyzzy"):
                expected, found = one.search(query, k=10, mode=mode), remote.search(query, k=10, mode=mode)
                assert found.ids == expected.ids, (mode, query)
                assert np.allclose([h.score for h in found.hits], [h.score for h in expected.hits], atol=1e-5)
        assert httpx.get(f"{url}/indexes/split", timeout=30).json()["documents"] == len(one)

        second = {int(r) for r in Searcher.load(folder / "shard-001", verify=False).component("dense").row_ids()}
        expected = one.search("history of the tango", k=10, mode="hybrid")
        replica = next(a for a in ray.util.list_named_actors(all_namespaces=True) if "split-shard-001" in a["name"])
        actor = ray.get_actor(replica["name"], namespace=replica["namespace"])
        pid = ray.get(actor.__ray_call__.remote(lambda _: os.getpid()), timeout=60)
        # A bounded load: shard-001's replica is frozen for the first requests (it cannot answer, so they must say the
        # shard is missing, however fast Serve would replace a dead replica), then killed while the load goes on.
        os.kill(pid, signal.SIGSTOP)
        outcomes, killed = [], False
        try:
            for i in range(12):
                if i == 2:
                    os.kill(pid, signal.SIGKILL)
                    killed = True
                answer = httpx.post(
                    f"{url}/indexes/split/search",
                    json={"query": "history of the tango", "k": 10, "mode": "hybrid"},
                    timeout=120,
                )
                assert answer.status_code == 200, answer.text
                body = answer.json()
                if body.get("partial"):
                    assert body["missing_shards"] == ["shard-001"]
                    assert all(one.row_of(hit["id"]) not in second for hit in body["results"])
                    outcomes.append("partial")
                else:
                    assert [hit["id"] for hit in body["results"]] == expected.ids
                    outcomes.append("complete")
        finally:
            if not killed:  # the load failed while the replica was frozen: never leave it stopped
                os.kill(pid, signal.SIGKILL)
        assert outcomes[:2] == ["partial", "partial"], outcomes
        _wait_until(
            lambda: (
                not httpx.post(f"{url}/indexes/split/search", json={"query": "tango", "mode": "hybrid"}, timeout=60)
                .json()
                .get("partial")
            ),
            120,
        )  # Serve starts a new replica
    finally:
        serve.shutdown()


def _wait_until(condition, seconds: float) -> None:
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            if condition():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.5)


def test_shard_command_splits_an_index_without_encoding_and_answers_alike(tmp_path, whole, minilm, minilm_colbert):
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "shard", str(whole), "--out", str(tmp_path / "split"), "--shards", "3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("documents (rows") == 3
    one = Searcher.load(whole, encoder=minilm, multivector_encoder=minilm_colbert)
    split = Searcher.load(tmp_path / "split", encoder=minilm, multivector_encoder=minilm_colbert)
    for mode in ("dense", "multivector", "bm25", "hybrid"):
        for query in ("history of the tango", "a river in europe"):
            assert split.search(query, k=10, mode=mode).ids == one.search(query, k=10, mode=mode).ids
    assert all(c.ok for c in verify_index(tmp_path / "split"))
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "shard",
            str(tmp_path / "split"),
            "--out",
            str(tmp_path / "again"),
            "--shards",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 1 and "sharded already" in again.stderr and not (tmp_path / "again").exists()
