"""Resumable builds: an interrupted or killed build continues from its last encoded step and ends
with exactly the index an uninterrupted build writes (same payload checksums)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from index.format import partial_folder, read_manifest
from index.verify import verify_index
from retrieval.build.builder import build_index
from retrieval.build.progress import PROGRESS_NAME
from retrieval.config import BuildConfig
from retrieval.search.searcher import Searcher

from conftest import kill_when, progress_reached, start_cli

HYBRID = ["--mode", "hybrid", "--model", "minilm", "--multivector-model", "minilm-colbert", "--read-batch-size", "64"]


def payload_checksums(folder: Path) -> dict[str, str]:
    return {name: entry.sha256 for name, entry in read_manifest(folder).files.items()}


class StopsAfter:
    """The real encoder, interrupted (as by Ctrl-C) after a number of encoding calls."""

    def __init__(self, encoder, calls: int) -> None:
        self._encoder, self._left = encoder, calls

    def __getattr__(self, name):
        return getattr(self._encoder, name)

    def encode_documents(self, texts, batch_size: int = 32, **options):
        if self._left == 0:
            raise KeyboardInterrupt
        self._left -= 1
        return self._encoder.encode_documents(texts, batch_size=batch_size, **options)


@pytest.mark.slow
def test_an_interrupted_build_resumes_and_equals_an_uninterrupted_one(tmp_path, dbpedia_small, minilm):
    config = BuildConfig(model="minilm", batch_size=8)  # steps of 64 documents
    reference = build_index(dbpedia_small, tmp_path / "reference", config, encoder=minilm, progress=False)

    with pytest.raises(KeyboardInterrupt):
        build_index(dbpedia_small, tmp_path / "idx", config, encoder=StopsAfter(minilm, 3), progress=False)
    assert not (tmp_path / "idx").exists(), "nothing is published before the build completes"
    progress = json.loads((partial_folder(tmp_path / "idx") / PROGRESS_NAME).read_text())
    assert progress["phase"] == "encoding" and progress["encoded"] == 3 * 64

    resumed = build_index(dbpedia_small, tmp_path / "idx", config, encoder=minilm, progress=False)
    assert resumed.resumed_from == 3 * 64 and resumed.documents == reference.documents
    assert payload_checksums(tmp_path / "idx") == payload_checksums(tmp_path / "reference")
    assert not partial_folder(tmp_path / "idx").exists()
    assert set(os.listdir(tmp_path / "idx")) == set(os.listdir(tmp_path / "reference"))


@pytest.mark.slow
def test_changed_settings_or_corpus_start_over(tmp_path, dbpedia_small, minilm):
    config = BuildConfig(model="minilm", batch_size=8)
    with pytest.raises(KeyboardInterrupt):
        build_index(dbpedia_small, tmp_path / "idx", config, encoder=StopsAfter(minilm, 2), progress=False)
    other = BuildConfig(model="minilm", batch_size=16)
    assert build_index(dbpedia_small, tmp_path / "idx", other, encoder=minilm, progress=False).resumed_from == 0

    with pytest.raises(KeyboardInterrupt):
        build_index(dbpedia_small, tmp_path / "again", config, encoder=StopsAfter(minilm, 2), progress=False)
    no_resume = build_index(dbpedia_small, tmp_path / "again", config, encoder=minilm, progress=False, resume=False)
    assert no_resume.resumed_from == 0 and not partial_folder(tmp_path / "again").exists()


@pytest.mark.slow
def test_sigkilled_builds_resume_to_the_uninterrupted_index(tmp_path, dbpedia_small, minilm):
    """SIGKILL `modernsearch build --mode hybrid` at seeded random points of its recorded progress (just read, part
    encoded, indexing);
    the earlier index stays readable after every kill, and the final resumed index is byte-identical
    to an uninterrupted build: no document lost or duplicated."""
    reference = subprocess.run(
        [sys.executable, "-m", "app.cli", "build", str(dbpedia_small), "--index", str(tmp_path / "reference"), *HYBRID],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert reference.returncode == 0, reference.stderr

    target = tmp_path / "idx"
    earlier = tmp_path / "earlier.jsonl"  # the earlier index holds a quarter of the documents
    lines = (dbpedia_small / "corpus.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    earlier.write_text("".join(lines[::4]), encoding="utf-8")
    build_index(earlier, target, BuildConfig(model="minilm"), encoder=minilm, progress=False)

    def answer(folder: Path) -> list[str]:
        return Searcher.load(folder, encoder=minilm).search("river in europe", k=10, mode="dense").ids

    before, after = answer(target), answer(tmp_path / "reference")
    assert before != after, "the earlier index must answer differently to tell the states apart"

    rng = random.Random(11)
    kill_points = [
        0.0,
        *sorted(rng.uniform(0.1, 0.9) for _ in range(4)),
        1.0,
    ]  # share of documents encoded; 1.0: indexing
    resumed_runs = 0
    for share in kill_points:
        log = tmp_path / "build.log"
        with open(log, "w") as out:
            process = start_cli(
                "build", str(dbpedia_small), "--index", str(target), *HYBRID, stdout=out, stderr=subprocess.STDOUT
            )
            reached = progress_reached(
                lambda: [partial_folder(target) / PROGRESS_NAME],
                lambda p, share=share: p["phase"] != "reading" and p["encoded"] >= share * p["documents"],
            )
            kill_when(process, reached, timeout=900)
        resumed_runs += "Resuming the interrupted build" in log.read_text()
        state = answer(target)
        assert state in (before, after), f"killed at {share:.0%} encoded: neither the earlier nor the new index"
        if state == after:
            break  # it committed before this kill point

    finished = subprocess.run(
        [sys.executable, "-m", "app.cli", "build", str(dbpedia_small), "--index", str(target), *HYBRID, "--json"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert finished.returncode == 0, finished.stderr
    resumed_runs += "Resuming the interrupted build" in finished.stderr
    assert resumed_runs >= 1, f"no run resumed (kill points {kill_points})"
    assert payload_checksums(target) == payload_checksums(tmp_path / "reference")
    assert all(check.ok for check in verify_index(target))
    assert not partial_folder(target).exists()
