"""The builder with the real offline model: manifest, counts, duplicates, atomic replacement, crash safety."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from index.chunks import pack_ids
from index.format import file_sha256, read_manifest
from index.manifest import FORMAT_VERSION
from retrieval.build.builder import build_index
from retrieval.build.progress import PROGRESS_NAME
from retrieval.config import BuildConfig
from retrieval.corpus.readers import CorpusError
from retrieval.search.searcher import Searcher

from conftest import kill_when, progress_reached, start_cli

TOPICS = [
    ("py", "Python", "Python is a programming language with dynamic typing and garbage collection."),
    ("paris", "Paris", "Paris is the capital and most populous city of France, on the Seine."),
    ("whale", "Blue whale", "The blue whale is a marine mammal and the largest animal known to have lived."),
    ("jazz", "Jazz", "Jazz is a music genre that originated in New Orleans with swing and blue notes."),
    ("volcano", "Volcano", "A volcano is a rupture in the crust where lava, ash and gases escape."),
]


def write_corpus(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in rows), encoding="utf-8")
    return path


def test_build_writes_manifest_and_answers_queries(tmp_path, minilm):
    corpus = write_corpus(tmp_path / "c.jsonl", TOPICS)
    summary = build_index(corpus, tmp_path / "idx", BuildConfig(model="minilm"), encoder=minilm, progress=False)
    assert (summary.documents, summary.read, summary.skipped_empty, summary.duplicates) == (5, 5, 0, 0)
    assert summary.index_bytes > 0 and summary.docs_per_second > 0

    manifest = read_manifest(tmp_path / "idx")
    assert manifest.format_version == FORMAT_VERSION == 3
    assert manifest.mode == "dense" and list(manifest.components) == ["dense"]
    dense = manifest.components["dense"]
    assert dense.model["spec"] == "minilm"
    assert dense.model["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert dense.model["dimension"] == 384
    assert dense.factory == "IDMap2,Flat"
    assert manifest.documents.count == 5
    for name, entry in manifest.files.items():
        assert file_sha256(tmp_path / "idx" / name) == entry.sha256
    assert not [p for p in tmp_path.glob(".idx.*") if p.name != ".idx.lock"], "no staging folder may be left behind"

    searcher = Searcher.load(tmp_path / "idx", encoder=minilm)
    assert searcher.search("largest animal in the ocean", k=1).ids == ["whale"]
    assert searcher.search("French capital city", k=1).ids == ["paris"]


def test_embeddings_match_plain_sentence_transformers(tmp_path, minilm):
    """The index stores exactly what sentence-transformers computes for title + ' ' + text."""
    corpus = write_corpus(tmp_path / "c.jsonl", TOPICS)
    build_index(corpus, tmp_path / "idx", BuildConfig(read_batch_size=2, batch_size=3), encoder=minilm, progress=False)
    searcher = Searcher.load(tmp_path / "idx", encoder=minilm)
    stored = searcher.component("dense").index.reconstruct(pack_ids(np.arange(1, 6), np.zeros(5)))  # one chunk each
    expected = minilm.model.encode([f"{t} {x}" for _, t, x in TOPICS], normalize_embeddings=True)
    np.testing.assert_allclose(stored, expected, atol=1e-5)


def test_duplicate_ids_fail_with_the_first_duplicates_listed(tmp_path, minilm):
    corpus = write_corpus(tmp_path / "c.jsonl", TOPICS + [("py", "Again", "Duplicate python"), ("jazz", "J", "again")])
    with pytest.raises(CorpusError) as info:
        build_index(corpus, tmp_path / "idx", encoder=minilm, progress=False)
    message = str(info.value)
    assert "Duplicate document ids: 'py'" in message and "'jazz'" in message
    assert f"{corpus}:1 and {corpus}:6" in message
    assert "on_duplicate='first'" in message and "--" not in message.split(". ", 1)[1]
    assert not (tmp_path / "idx").exists()


@pytest.mark.parametrize("keep, expected_title", [("first", "Python"), ("last", "Again")])
def test_on_duplicate_keeps_one_copy(tmp_path, minilm, keep, expected_title):
    corpus = write_corpus(tmp_path / "c.jsonl", TOPICS + [("py", "Again", "Snakes are reptiles without legs.")])
    summary = build_index(corpus, tmp_path / "idx", BuildConfig(on_duplicate=keep), encoder=minilm, progress=False)
    assert (summary.documents, summary.duplicates) == (5, 1)
    searcher = Searcher.load(tmp_path / "idx", encoder=minilm)
    titles = {h.id: h.title for h in searcher.search("anything", k=5).hits}
    assert titles["py"] == expected_title


def test_empty_documents_are_counted_in_the_summary(tmp_path, minilm):
    corpus = write_corpus(tmp_path / "c.jsonl", TOPICS + [("empty", "Title only", "  ")])
    summary = build_index(corpus, tmp_path / "idx", encoder=minilm, progress=False)
    assert (summary.documents, summary.read, summary.skipped_empty) == (5, 6, 1)


def test_corpus_without_any_text_is_an_error(tmp_path, minilm):
    corpus = write_corpus(tmp_path / "c.jsonl", [("a", "", ""), ("b", "", " ")])
    with pytest.raises(CorpusError, match="no documents with text"):
        build_index(corpus, tmp_path / "idx", encoder=minilm, progress=False)


def test_failed_build_leaves_the_previous_index_untouched(tmp_path, minilm):
    good = write_corpus(tmp_path / "good.jsonl", TOPICS)
    build_index(good, tmp_path / "idx", encoder=minilm, progress=False)
    before = {p.name: file_sha256(p) for p in (tmp_path / "idx").iterdir()}

    bad = write_corpus(tmp_path / "bad.jsonl", TOPICS[:2])
    with open(bad, "a", encoding="utf-8") as handle:
        handle.write("{broken json\n")
    with pytest.raises(CorpusError, match="line 3: malformed JSON"):
        build_index(bad, tmp_path / "idx", encoder=minilm, progress=False)

    assert {p.name: file_sha256(p) for p in (tmp_path / "idx").iterdir()} == before
    assert Searcher.load(tmp_path / "idx", encoder=minilm).search("jazz music", k=1).ids == ["jazz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "good.jsonl", "idx"], (
        "no lock, staging or partial folder is left behind"
    )


@pytest.mark.slow
def test_killed_build_leaves_the_earlier_index_readable(tmp_path, minilm, dbpedia_small):
    """SIGKILL a real build subprocess while it encodes; the earlier index still loads and answers the same."""
    build_index(write_corpus(tmp_path / "small.jsonl", TOPICS), tmp_path / "idx", encoder=minilm, progress=False)
    before = Searcher.load(tmp_path / "idx", encoder=minilm).search("whales", k=5).to_dict()["results"]

    process = start_cli(
        "build", str(dbpedia_small), "--index", str(tmp_path / "idx"), "--model", "minilm", "--read-batch-size", "32"
    )
    encoding = progress_reached(lambda: [tmp_path / ".idx.partial" / PROGRESS_NAME], lambda p: p["encoded"] >= 128)
    assert kill_when(process, encoding), "the build ended before it could be interrupted"

    assert (tmp_path / ".idx.partial").exists(), "the killed build's work should be kept for a resume"
    after = Searcher.load(tmp_path / "idx", encoder=minilm).search("whales", k=5).to_dict()["results"]
    assert after == before

    # A build of another corpus discards the killed build's work and replaces the index.
    build_index(write_corpus(tmp_path / "new.jsonl", TOPICS[:3]), tmp_path / "idx", encoder=minilm, progress=False)
    assert not (tmp_path / ".idx.partial").exists()
    assert len(Searcher.load(tmp_path / "idx", encoder=minilm)) == 3


def test_interrupted_swap_is_recovered(tmp_path, minilm):
    """A crash between the two renames of a swap leaves the old folder aside; the next open puts it back."""
    from index.format import recover_interrupted_swap

    build_index(write_corpus(tmp_path / "c.jsonl", TOPICS), tmp_path / "idx", encoder=minilm, progress=False)
    os.rename(tmp_path / "idx", tmp_path / ".idx.old-123")
    recover_interrupted_swap(tmp_path / "idx")
    assert len(Searcher.load(tmp_path / "idx", encoder=minilm)) == 5
