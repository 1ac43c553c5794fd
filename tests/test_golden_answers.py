"""Golden answers: ids and scores of the session's shared indexes in every search mode, recorded in
tests/fixtures/golden-answers.json. A change that moves code must leave every answer as recorded; a change meant to
alter answers re-records them (``MODERNSEARCH_RECORD_GOLDEN=1 pytest tests/test_golden_answers.py``) and says why in
its commit.

Covered: dense, multi-vector, BM25, hybrid (linear and RRF), each first stage reranked by MaxSim, on the default
build (36-byte token codec) of the dbpedia slice; and every mode under metadata filters (document and text
spellings) on the filtered index (exact token vectors).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from retrieval.config import SearchConfig
from retrieval.search.searcher import Searcher

GOLDEN = Path(__file__).parent / "fixtures" / "golden-answers.json"
RECORD = os.environ.get("MODERNSEARCH_RECORD_GOLDEN") == "1"
K = 10
TIE = 1e-6  # scores this close may swap places between machines; everything else must match exactly

UNFILTERED = [  # (mode, settings)
    ("dense", {}),
    ("multivector", {}),
    ("bm25", {}),
    ("hybrid", {}),
    ("hybrid", {"fusion": "rrf"}),
    ("hybrid", {"normalisation": "zscore", "alpha": 0.6}),
    ("dense", {"rerank": "multivector"}),
    ("bm25", {"rerank": "multivector"}),
    ("hybrid", {"rerank": "multivector", "rerank_depth": 30}),
]
FILTERS: list[Any] = [
    {"year": {"$gte": 2005}},
    {"category": {"$in": ["c01", "c02", "c03", "c04", "c05"]}},
    {"$or": [{"reviewed": True}, {"tags": {"$contains": "alpha"}}]},
    "year < 2000 AND NOT reviewed = true",
]
FILTERED_MODES = ["dense", "multivector", "bm25", "hybrid"]
EXTRA_QUERIES = ["famous painter", "a river in europe"]


def queries_of(beir_folder: Path) -> list[str]:
    lines = (beir_folder / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()] + EXTRA_QUERIES


def answers(
    searcher: Searcher, queries: list[str], mode: str, settings: dict[str, Any], filter: Any = None
) -> list[list[list[Any]]]:
    results = searcher.search(queries, k=K, mode=mode, config=SearchConfig(**settings), filter=filter)
    return [[[hit.id, float(hit.score)] for hit in result.hits] for result in results]


def key(index: str, mode: str, settings: dict[str, Any], filter: Any = None) -> str:
    return json.dumps({"index": index, "mode": mode, "settings": settings, "filter": filter}, sort_keys=True)


@pytest.fixture(scope="module")
def current(small_searcher, dbpedia_small, filtered_index, minilm, minilm_colbert) -> dict[str, Any]:
    """Every case's answers from the code as it is now."""
    found: dict[str, Any] = {}
    queries = queries_of(dbpedia_small)
    for mode, settings in UNFILTERED:
        found[key("small", mode, settings)] = answers(small_searcher, queries, mode, settings)
    filtered = Searcher.load(filtered_index, encoder=minilm, multivector_encoder=minilm_colbert)
    for filter in FILTERS:
        for mode in FILTERED_MODES:
            found[key("filtered", mode, {}, filter)] = answers(filtered, EXTRA_QUERIES, mode, {}, filter)
    filtered.close()
    if RECORD:
        GOLDEN.write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
    return found


def same_ranking(got: list[list[Any]], expected: list[list[Any]]) -> bool:
    """Ids equal position by position, except that documents whose recorded scores tie (within TIE) may swap."""
    if len(got) != len(expected):
        return False
    for (got_id, _), (expected_id, expected_score) in zip(got, expected):
        if got_id != expected_id:
            tied = [doc for doc, score in expected if abs(score - expected_score) <= TIE]
            if got_id not in tied:
                return False
    return True


def test_golden_cases_cover_every_mode_and_filters(current):
    recorded = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert set(recorded) == set(current), "the recorded cases are the cases this test runs (re-record on purpose only)"
    modes = {json.loads(k)["mode"] for k in recorded}
    assert modes == {"dense", "multivector", "bm25", "hybrid"}
    for case, hits in recorded.items():
        assert all(hits), f"{case}: every query has answers"
        if json.loads(case)["mode"] != "bm25":  # BM25 answers only documents sharing a term with the query
            assert all(len(h) == K for h in hits), f"{case}: every query fills k"


def test_answers_are_as_recorded(current):
    recorded = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for case, expected in recorded.items():
        got = current[case]
        for number, (got_hits, expected_hits) in enumerate(zip(got, expected, strict=True)):
            assert same_ranking(got_hits, expected_hits), f"{case} query {number}: ids differ"
            assert [s for _, s in got_hits] == pytest.approx([s for _, s in expected_hits], abs=TIE), (
                f"{case} query {number}"
            )
