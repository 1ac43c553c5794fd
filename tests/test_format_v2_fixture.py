"""A hybrid index written by the version-2 format as it was (commit 37cc976, before the format changes that
follow), kept as a fixture: it must keep opening, verifying and answering exactly as it did then.

tests/fixtures/index-v2 was built from tests/fixtures/index-v2-corpus.jsonl (20 hand-written documents) with
`modernsearch build ... --mode hybrid --model minilm --multivector-model minilm-colbert`;
index-v2-expected.json holds that code's answers (ids and scores) to four queries in every mode.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from index.format import read_manifest
from index.verify import verify_index
from retrieval.build.updater import add_documents
from retrieval.config import SearchConfig
from retrieval.search.searcher import Searcher

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "index-v2-expected.json").read_text(encoding="utf-8"))


@pytest.fixture
def v2_index(tmp_path) -> Path:
    target = tmp_path / "index-v2"
    shutil.copytree(FIXTURES / "index-v2", target)  # tests never write into the repository
    return target


def test_the_version_2_fixture_opens_verifies_and_answers_as_when_it_was_written(v2_index, minilm, minilm_colbert):
    assert read_manifest(v2_index).read_from_version == 2
    assert all(check.ok for check in verify_index(v2_index))
    searcher = Searcher.load(v2_index, encoder=minilm, multivector_encoder=minilm_colbert)
    for key, expected in EXPECTED.items():
        mode, query = key.split("|")
        config = SearchConfig(
            fusion="rrf", rerank="multivector" if mode.endswith("+rerank") else "none"
        )  # that code's defaults
        result = searcher.search(query, k=5, mode=mode.removesuffix("+rerank"), config=config)
        assert [h.id for h in result.hits] == [doc_id for doc_id, _ in expected], key
        assert [h.score for h in result.hits] == pytest.approx([score for _, score in expected], abs=1e-5), key


def test_the_version_2_fixture_takes_updates(v2_index, minilm, minilm_colbert, tmp_path):
    more = tmp_path / "more.jsonl"
    more.write_text(
        json.dumps(
            {
                "_id": "danube",
                "title": "Danube",
                "text": "The Danube flows from Germany to the Black Sea.",
                "year": 2024,
            }
        )
        + "\n"
    )
    add_documents(v2_index, more, encoder=minilm, multivector_encoder=minilm_colbert, progress=False)
    assert all(check.ok for check in verify_index(v2_index))
    written = json.loads((v2_index / "manifest.json").read_text())
    assert (
        written["format_version"] == 3
        and set(written["components"]) == {"dense", "multivector", "bm25"}
        and "model" not in written
    )
    assert written["components"]["dense"]["model"]["spec"] == "minilm", (
        "the version-2 top-level model moved into the dense section"
    )
    searcher = Searcher.load(v2_index, encoder=minilm, multivector_encoder=minilm_colbert)
    assert searcher.search("danube black sea", k=1, mode="hybrid").ids == ["danube"]
    assert searcher.search("rivers", k=5, filter="year = 2024").ids == ["danube"], (
        "the update gave the store its metadata tables"
    )
