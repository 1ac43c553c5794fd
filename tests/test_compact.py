"""Compaction: space reclaimed after deletes, retraining exactly when the data has drifted, crash safety."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from remembered import remembering

from index.format import read_manifest
from index.verify import verify_index
from retrieval.build.builder import build_index
from retrieval.build.compaction import DRIFT_THRESHOLD, compact_index, measure_drift
from retrieval.build.updater import add_documents, delete_documents
from retrieval.config import BuildConfig
from retrieval.search.searcher import Searcher

from conftest import kill_when, progress_reached, shared_dataset, start_cli

MULTIVECTOR = BuildConfig(model="minilm-colbert", mode="multivector")


def corpus_lines(dataset: str, start: int, stop: int, target: Path) -> Path:
    """Documents ``start:stop`` of a shared dataset's corpus as a JSONL file."""
    with open(shared_dataset(dataset) / "corpus.jsonl", encoding="utf-8") as source:
        lines = source.readlines()[start:stop]
    target.write_text("".join(lines), encoding="utf-8")
    return target


def payload_checksums(folder: Path, skip: str = "documents.sqlite") -> dict[str, str]:
    return {name: entry.sha256 for name, entry in read_manifest(folder).files.items() if name != skip}


@pytest.mark.slow
def test_compact_reclaims_the_space_deletes_left_and_keeps_every_answer(tmp_path, dbpedia_small, minilm):
    folder = tmp_path / "idx"
    build_index(dbpedia_small, folder, BuildConfig(model="minilm"), encoder=minilm, progress=False)
    ids = [
        json.loads(line)["_id"] for line in (dbpedia_small / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    delete_documents(folder, ids[::2])
    searcher = Searcher.load(folder, encoder=minilm)
    before = [searcher.search(q, k=20).to_dict()["results"] for q in ("river", "american actor", "rock band")]
    store_bytes = (folder / "documents.sqlite").stat().st_size

    summary = compact_index(folder, progress=False)

    assert not summary.retrained and summary.drift == {}, "a Flat index has no centroids to drift from"
    assert (folder / "documents.sqlite").stat().st_size < 0.8 * store_bytes
    assert summary.bytes_after < summary.bytes_before
    searcher = Searcher.load(folder, encoder=minilm)
    assert [searcher.search(q, k=20).to_dict()["results"] for q in ("river", "american actor", "rock band")] == before
    assert all(check.ok for check in verify_index(folder))
    assert read_manifest(folder).updates[-1]["compacted"] is True


@pytest.fixture(scope="module")
def remembering_colbert(minilm_colbert):
    """The session's ColBERT model remembering documents: the drift fixture's builds and the compaction that retrains
    one of them encode the same texts again."""
    return remembering(minilm_colbert)


def grow(folder: Path, size: int, encoder: Any) -> Path:
    """In ``folder``: a multi-vector index trained on ``size`` dbpedia documents, grown with ``size`` more dbpedia
    documents (same source) in one copy (``same``) and with ``size`` scifact abstracts (another domain) in the other
    (``other``), and a fresh build of what ``other`` holds (``fresh``)."""
    first = corpus_lines("dbpedia-5k", 0, size, folder / "first.jsonl")
    same = corpus_lines("dbpedia-5k", size, 2 * size, folder / "same.jsonl")
    other = corpus_lines("scifact", 0, size, folder / "other.jsonl")
    build_index(first, folder / "same", MULTIVECTOR, multivector_encoder=encoder, progress=False)
    shutil.copytree(folder / "same", folder / "other")  # one build, grown two ways
    for name, extra in (("same", same), ("other", other)):
        add_documents(folder / name, extra, multivector_encoder=encoder, progress=False)
    combined = folder / "combined.jsonl"
    combined.write_text(first.read_text(encoding="utf-8") + other.read_text(encoding="utf-8"), encoding="utf-8")
    build_index(combined, folder / "fresh", MULTIVECTOR, multivector_encoder=encoder, progress=False)
    return folder


@pytest.fixture(scope="module")
def drifted(tmp_path_factory, remembering_colbert):
    """The drift indexes over 300 + 300 documents (:func:`grow`)."""
    return grow(tmp_path_factory.mktemp("drift"), 300, remembering_colbert)


@pytest.fixture(scope="module")
def drifted_small(tmp_path_factory, drifted, remembering_colbert):
    """The drift indexes over 100 + 100 documents, whose texts the 300-document ones encoded already: the kill
    test's subprocesses re-encode them at every kill point."""
    return grow(tmp_path_factory.mktemp("drift-small"), 100, remembering_colbert)


@pytest.mark.slow
def test_drift_is_measured_against_training(drifted):
    same, other = measure_drift(drifted / "same"), measure_drift(drifted / "other")
    assert measure_drift(drifted / "fresh") == {"multivector": 1.0}
    assert same["multivector"] < DRIFT_THRESHOLD < other["multivector"], (same, other)


@pytest.mark.slow
def test_compact_retrains_only_a_drifted_index_and_then_equals_a_fresh_build(tmp_path, drifted, remembering_colbert):
    for name in ("same", "other"):
        shutil.copytree(drifted / name, tmp_path / name)
    kept = compact_index(tmp_path / "same", multivector_encoder=remembering_colbert, progress=False)
    assert not kept.retrained
    assert payload_checksums(tmp_path / "same") == payload_checksums(drifted / "same"), (
        "no retraining: vectors untouched"
    )

    retrained = compact_index(tmp_path / "other", multivector_encoder=remembering_colbert, progress=False)
    assert retrained.retrained and retrained.documents == 600
    assert measure_drift(tmp_path / "other") == {"multivector": 1.0}
    # Retraining re-encodes the stored documents in their order: the same files as building them at once.
    assert payload_checksums(tmp_path / "other") == payload_checksums(drifted / "fresh")
    history = read_manifest(tmp_path / "other").updates
    assert [("added" in h, h.get("compacted", False)) for h in history] == [(True, False), (False, True)]
    assert all(check.ok for check in verify_index(tmp_path / "other"))


@pytest.mark.slow
def test_sigkilled_compaction_leaves_the_last_committed_state(tmp_path, drifted_small, minilm_colbert):
    """Kill `modernsearch compact --retrain always` at seeded points of its rebuild's progress: the index always
    verifies and answers as the old version or as the retrained one (which equals a fresh build), never anything
    else."""
    target = tmp_path / "idx"
    shutil.copytree(drifted_small / "other", target)

    def answer(folder: Path) -> list[str]:
        return (
            Searcher.load(folder, multivector_encoder=minilm_colbert)
            .search("protein folding", k=20, mode="multivector")
            .ids
        )

    old, new = answer(target), answer(drifted_small / "fresh")
    assert old != new, "retraining must change the answer, or the kill points could not tell the versions apart"
    rng = random.Random(5)
    kill_points = [rng.uniform(0.1, 0.9) for _ in range(2)] + [1.0]  # share of documents re-encoded; 1.0: retraining
    for share in kill_points:
        process = start_cli("compact", str(target), "--retrain", "always")
        rebuilding = progress_reached(
            lambda: list(tmp_path.glob(".idx.building-*/progress.json")),
            lambda p, share=share: p["phase"] != "reading" and p["encoded"] >= share * p["documents"],
        )
        kill_when(process, rebuilding)
        assert all(check.ok for check in verify_index(target)), f"killed at {share:.0%} re-encoded"
        assert answer(target) in (old, new), f"killed at {share:.0%} re-encoded"
