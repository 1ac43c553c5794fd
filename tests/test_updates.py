"""Incremental updates (add, upsert, delete), the writer lock, crash safety and concurrent readers, on real indexes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from index.lock import IndexLockedError, writer_lock
from index.verify import verify_index
from retrieval import Searcher
from retrieval.build.builder import build_index
from retrieval.build.updater import add_documents, delete_documents
from retrieval.config import BuildConfig
from retrieval.corpus.readers import CorpusError

from conftest import kill_when, start_cli

QUERIES = ["american politician", "guitar tuning", "roman city in gaul", "a film directed by", "football club"]


@pytest.fixture(scope="module")
def records(dbpedia_small):
    return [json.loads(line) for line in (dbpedia_small / "corpus.jsonl").read_text().splitlines()][:120]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def answers(folder, minilm, minilm_colbert, modes=("dense", "multivector", "bm25", "hybrid")):
    """Each query's top 10 ids and scores in each mode."""
    searcher = Searcher.load(folder, encoder=minilm, multivector_encoder=minilm_colbert)
    try:
        return {
            (q, m): [(h.id, h.score) for h in searcher.search(q, k=10, mode=m).hits] for q in QUERIES for m in modes
        }
    finally:
        searcher.close()


def assert_same_answers(found, expected):
    """The same ids in the same order, and scores equal but for the last digits of float32 arithmetic (a text's
    vectors differ in those with the other texts of its encoding batch)."""
    assert found.keys() == expected.keys()
    for key in expected:
        assert [i for i, _ in found[key]] == [i for i, _ in expected[key]], key
        assert [s for _, s in found[key]] == pytest.approx([s for _, s in expected[key]], abs=1e-4), key


@pytest.fixture(scope="module")
def grown(tmp_path_factory, records, minilm, minilm_colbert):
    """An index of the first 80 records grown by the next 40, and one built from all 120 at once (exact token vectors,
    so multi-vector candidates do not depend on centroids trained before the update)."""
    folder = tmp_path_factory.mktemp("updates")
    config = BuildConfig(model="minilm", mode="hybrid", multivector_model="minilm-colbert", multivector_codec="none")
    kw = {"encoder": minilm, "multivector_encoder": minilm_colbert, "progress": False}
    build_index(write_jsonl(folder / "first.jsonl", records[:80]), folder / "grown", config, **kw)
    summary = add_documents(folder / "grown", write_jsonl(folder / "rest.jsonl", records[80:]), **kw)
    build_index(write_jsonl(folder / "all.jsonl", records), folder / "whole", config, **kw)
    return folder, summary


@pytest.mark.slow
def test_adding_documents_equals_building_them_in(grown, minilm, minilm_colbert):
    folder, summary = grown
    assert (summary.added, summary.replaced, summary.documents) == (40, 0, 120)
    assert_same_answers(
        answers(folder / "grown", minilm, minilm_colbert), answers(folder / "whole", minilm, minilm_colbert)
    )
    assert all(c.ok for c in verify_index(folder / "grown"))
    manifest = json.loads((folder / "grown" / "manifest.json").read_text())
    components = manifest["components"]
    assert manifest["documents"]["count"] == components["dense"]["count"] == components["bm25"]["documents"] == 120
    assert manifest["updates"][-1]["added"] == 40


def test_add_refuses_known_ids_unless_upsert(tmp_path, grown, records, minilm, minilm_colbert):
    folder, _ = grown
    target = tmp_path / "idx"
    shutil.copytree(folder / "grown", target)
    changed = dict(records[0], text="Zanzibar quokka telescope: a unique replacement text about marsupials.")
    update = write_jsonl(tmp_path / "changed.jsonl", [changed])
    kw = {"encoder": minilm, "multivector_encoder": minilm_colbert, "progress": False}
    with pytest.raises(CorpusError, match=r"1 documents are already in .*Pass upsert=True"):
        add_documents(target, update, **kw)
    summary = add_documents(target, update, upsert=True, **kw)
    assert (summary.added, summary.replaced, summary.documents) == (0, 1, 120)
    searcher = Searcher.load(target, encoder=minilm, multivector_encoder=minilm_colbert)
    for mode in ("dense", "bm25", "multivector", "hybrid"):
        top = searcher.search("quokka telescope marsupials", k=1, mode=mode).hits[0]
        assert top.id == records[0]["_id"] and "Zanzibar" in top.text, mode
    assert all(c.ok for c in verify_index(target))


def test_deleted_documents_never_come_back(tmp_path, grown, records, minilm, minilm_colbert):
    folder, _ = grown
    shutil.copytree(folder / "grown", tmp_path / "idx")
    gone = [r["_id"] for r in records[::7]]
    summary = delete_documents(tmp_path / "idx", gone + ["<no-such-doc>"])
    assert (
        summary.deleted == len(gone) and summary.not_found == ["<no-such-doc>"] and summary.documents == 120 - len(gone)
    )
    searcher = Searcher.load(tmp_path / "idx", encoder=minilm, multivector_encoder=minilm_colbert)
    for mode in ("dense", "multivector", "bm25", "hybrid"):
        for query in QUERIES + [records[0]["title"]]:
            hits = searcher.search(query, k=1000, mode=mode).ids
            assert not set(hits) & set(gone), mode
    assert len(searcher.search("the", k=1000, mode="dense").hits) == 120 - len(gone)
    assert all(c.ok for c in verify_index(tmp_path / "idx"))


def test_delete_from_an_hnsw_index(tmp_path, records, minilm):
    build_index(
        write_jsonl(tmp_path / "c.jsonl", records[:50]),
        tmp_path / "hnsw",
        BuildConfig(model="minilm", index_type="hnsw"),
        encoder=minilm,
        progress=False,
    )
    delete_documents(tmp_path / "hnsw", [records[3]["_id"]])
    searcher = Searcher.load(tmp_path / "hnsw", encoder=minilm)
    assert records[3]["_id"] not in searcher.search(records[3]["title"], k=49).ids and len(searcher) == 49
    assert searcher.manifest.components["dense"].factory == "IDMap2,HNSW32"


def test_a_second_writer_fails_fast_with_a_lock_message(tmp_path, grown):
    folder, _ = grown
    with writer_lock(folder / "grown"):
        with pytest.raises(IndexLockedError, match=rf"is being written by process {os.getpid()}"):
            delete_documents(folder / "grown", ["anything"])
        started = time.monotonic()
        process = subprocess.run(
            [sys.executable, "-m", "app.cli", "delete", str(folder / "grown"), "--ids", "x"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert process.returncode == 1 and "is being written by process" in process.stderr
        assert time.monotonic() - started < 30, "the second writer fails at once, it does not wait"


@pytest.mark.slow
def test_sigkilled_adds_leave_the_last_committed_state(tmp_path, grown, records, minilm):
    """Kill `modernsearch add` at seeded random moments; the index must always open, verify, and hold either
    the old or the new document set, never a mix. Then let one finish."""
    folder, _ = grown
    target = tmp_path / "idx"
    shutil.copytree(folder / "grown", target)
    extra = [dict(r, _id=f"new-{i}") for i, r in enumerate(records[:30])]
    corpus = write_jsonl(tmp_path / "extra.jsonl", extra)
    before = {h.id for h in Searcher.load(target, encoder=minilm).search("a", k=1000, mode="dense").hits}

    def staged(name: str):  # a point of the update's progress: its staging folder holds this file
        return lambda: any(tmp_path.glob(f".idx.building-*/{name}"))

    kill_points = {"copied the index": staged("documents.sqlite"), "wrote the new manifest": staged("manifest.json")}
    for point, ready in kill_points.items():
        process = start_cli("add", str(target), str(corpus))
        kill_when(process, ready)
        assert all(c.ok for c in verify_index(target)), f"killed once it {point}"
        ids = {h.id for h in Searcher.load(target, encoder=minilm).search("a", k=1000, mode="dense").hits}
        assert ids in (before, before | {r["_id"] for r in extra}), f"killed once it {point}: a mixed state"
        if ids != before:
            break  # this kill came after the commit
    finished = subprocess.run(
        [sys.executable, "-m", "app.cli", "add", str(target), str(corpus), "--upsert"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stderr
    ids = {h.id for h in Searcher.load(target, encoder=minilm).search("a", k=1000, mode="dense").hits}
    assert ids == before | {r["_id"] for r in extra}
    assert not list(tmp_path.glob(".idx.building-*")), "the next writer removes what killed ones left behind"
    assert all(c.ok for c in verify_index(target))


def test_readers_see_the_old_or_the_new_state_while_a_writer_commits(tmp_path, grown, records, minilm):
    folder, _ = grown
    target = tmp_path / "idx"
    shutil.copytree(folder / "grown", target)
    gone = [r["_id"] for r in records[:40]]

    def state() -> dict:
        searcher = Searcher.load(target, encoder=minilm)
        try:
            return {q: searcher.search(q, k=5, mode="dense").ids for q in QUERIES}
        finally:
            searcher.close()

    old = state()
    seen: list[dict] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(state())
            except BaseException as err:  # noqa: BLE001 - any failure is a test failure
                errors.append(err)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    (tmp_path / "gone.txt").write_text("\n".join(gone) + "\n")
    writer = subprocess.run(
        [sys.executable, "-m", "app.cli", "delete", str(target), "--ids-file", str(tmp_path / "gone.txt")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert writer.returncode == 0, writer.stderr
    new = state()
    assert not errors, errors[:3]
    assert old != new and len(seen) >= 8
    assert all(answer in (old, new) for answer in seen), "a reader saw a state that was never committed"


def test_one_searcher_shared_by_threads_answers_like_one_thread(small_index, minilm):
    searcher = Searcher.load(small_index, encoder=minilm)
    expected = {q: searcher.search(q, k=10, mode="hybrid").ids for q in QUERIES}
    results: list[tuple[str, list[str]]] = []

    def worker(offset: int) -> None:
        for i in range(10):
            query = QUERIES[(i + offset) % len(QUERIES)]
            results.append((query, searcher.search(query, k=10, mode="hybrid").ids))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 60 and all(ids == expected[q] for q, ids in results)


def test_a_writer_killed_while_swapping_leaves_nothing_the_next_writer_keeps(copy_of_small_index):
    """A writer removes its owner file just before renaming its finished staging folder into place; killed between
    the two, it leaves a complete index of ours without an owner. The next writer (holding the lock, so no live
    writer can be between those steps) removes it, and still leaves alone a folder of that name that is not ours."""
    from index.format import MANIFEST_NAME

    parent = copy_of_small_index.parent
    abandoned = parent / f".{copy_of_small_index.name}.building-killed"
    shutil.copytree(copy_of_small_index, abandoned)
    foreign = parent / f".{copy_of_small_index.name}.building-notes"
    foreign.mkdir()
    (foreign / MANIFEST_NAME).write_text('{"someone": "else"}')
    stored = next(iter(Searcher.load(copy_of_small_index).documents_sample(1))).id
    assert delete_documents(copy_of_small_index, [stored]).deleted == 1
    assert not abandoned.exists() and (foreign / MANIFEST_NAME).read_text() == '{"someone": "else"}'
    assert all(check.ok for check in verify_index(copy_of_small_index))
