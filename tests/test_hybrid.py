"""Hybrid search: BM25 + dense fused by RRF or weighted scores, MaxSim reranking, on a real index of dbpedia."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eval.beir import evaluate_run, load_beir
from index.bm25 import BM25Index
from retrieval import Searcher
from retrieval.config import SearchConfig
from retrieval.encode.lexical import analyse
from retrieval.search.fusion import linear_fusion, min_max_normalise, reciprocal_rank_fusion

from conftest import shared_dataset

# Pure fusion functions on hand-computed rankings.


def test_rrf_matches_hand_computed_scores():
    fused = dict(reciprocal_rank_fusion([["d1", "d2", "d3"], ["d3", "d1"]], k=60))
    assert fused["d1"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["d2"] == pytest.approx(1 / 62)
    assert fused["d3"] == pytest.approx(1 / 63 + 1 / 61)
    assert list(fused) == ["d1", "d3", "d2"]


def test_rrf_keeps_ids_found_by_one_component_only():
    fused = reciprocal_rank_fusion([["a"], ["b", "c"]], k=0)
    assert fused == [("a", 1.0), ("b", 1.0), ("c", 0.5)], "a and b tie at 1/1 and are ordered by id"


def test_ties_are_ordered_by_id_whatever_the_input_order():
    one = reciprocal_rank_fusion([["z", "y"], ["y", "z"]])
    two = reciprocal_rank_fusion([["y", "z"], ["z", "y"]])
    assert one == two and [doc for doc, _ in one] == ["y", "z"]
    assert linear_fusion([{"b": 1.0, "a": 1.0}], [1.0]) == [("a", 1.0), ("b", 1.0)]


def test_rrf_of_nothing_is_empty_and_negative_k_is_refused():
    assert reciprocal_rank_fusion([[], []]) == []
    with pytest.raises(ValueError, match="k must be >= 0"):
        reciprocal_rank_fusion([["a"]], k=-1)


def test_linear_fusion_by_hand():
    dense = {"a": 0.8, "b": 0.6, "c": 0.4}  # normalised: a 1, b 0.5, c 0
    bm25 = {"b": 9.0, "d": 3.0}  # normalised: b 1, d 0
    fused = dict(linear_fusion([dense, bm25], [0.25, 0.75]))
    assert fused == pytest.approx({"a": 0.25, "b": 0.25 * 0.5 + 0.75, "c": 0.0, "d": 0.0})
    assert min_max_normalise({}) == {}
    with pytest.raises(ValueError, match="2 score lists but 1 weights"):
        linear_fusion([dense, bm25], [1.0])


def test_search_config_refuses_bad_settings():
    for bad in ({"fusion": "max"}, {"alpha": 1.5}, {"rerank": "cross-encoder"}, {"rrf_k": -1}, {"candidates": 0}):
        with pytest.raises(ValueError):
            SearchConfig(**bad)


# Searches on the real hybrid index of the dbpedia slice (offline models): the small_searcher fixture.

QUERY = "roman emperor who built a wall in britain"


def test_hybrid_rrf_equals_fusing_the_component_searches(small_searcher):
    depth = SearchConfig().candidates
    bm25 = small_searcher.search(QUERY, k=depth, mode="bm25").ids
    dense = small_searcher.search(QUERY, k=depth, mode="dense").ids
    expected = reciprocal_rank_fusion([bm25, dense], k=60)[:10]
    hybrid = small_searcher.search(QUERY, k=10, mode="hybrid", config=SearchConfig(fusion="rrf"))
    assert hybrid.ids == [doc for doc, _ in expected]
    np.testing.assert_allclose([h.score for h in hybrid.hits], [s for _, s in expected], rtol=1e-6)


def test_default_hybrid_is_dense_weighted_linear_fusion_of_the_component_searches(small_searcher):
    """The default (chosen by `bench fusion`, docs/hybrid.md): 0.85 x min-max dense + 0.15 x min-max BM25."""
    depth = SearchConfig().candidates
    dense = {h.id: h.score for h in small_searcher.search(QUERY, k=depth, mode="dense").hits}
    bm25 = {h.id: h.score for h in small_searcher.search(QUERY, k=depth, mode="bm25").hits}
    expected = linear_fusion([dense, bm25], [0.85, 0.15])[:10]
    hybrid = small_searcher.search(QUERY, k=10, mode="hybrid")
    assert [h.score for h in hybrid.hits] == pytest.approx([s for _, s in expected], rel=1e-5)
    assert {h.id for h in hybrid.hits[:5]} == {doc for doc, _ in expected[:5]}


def test_component_scores_are_those_of_each_stage(small_searcher):
    dense = {h.id: h.score for h in small_searcher.search(QUERY, k=100, mode="dense").hits}
    bm25 = {h.id: h.score for h in small_searcher.search(QUERY, k=100, mode="bm25").hits}
    hits = small_searcher.search(QUERY, k=20, mode="hybrid").hits
    for hit in hits:
        assert hit.components["fused"] == hit.score
        assert hit.components.get("dense") == (pytest.approx(dense[hit.id], abs=1e-6) if hit.id in dense else None)
        assert hit.components.get("bm25") == (pytest.approx(bm25[hit.id], abs=1e-6) if hit.id in bm25 else None)
    assert any("bm25" in h.components and "dense" in h.components for h in hits)


def test_linear_fusion_alpha_extremes_reproduce_each_component(small_searcher):
    dense = small_searcher.search(QUERY, k=5, mode="dense").ids
    bm25 = small_searcher.search(QUERY, k=5, mode="bm25").ids
    assert (
        small_searcher.search(QUERY, k=5, mode="hybrid", config=SearchConfig(fusion="linear", alpha=1.0)).ids == dense
    )
    assert small_searcher.search(QUERY, k=5, mode="hybrid", config=SearchConfig(fusion="linear", alpha=0.0)).ids == bm25


def test_rerank_orders_by_the_multivector_index_maxsim(small_searcher):
    config = SearchConfig(rerank="multivector", rerank_depth=30)
    reranked = small_searcher.search(QUERY, k=10, mode="hybrid", config=config)
    first_stage = small_searcher.search(QUERY, k=30, mode="hybrid").ids
    assert set(reranked.ids) <= set(first_stage), "the reranker only reorders the first stage's top rerank_depth"
    exact = {h.id: h.score for h in small_searcher.search(QUERY, k=len(small_searcher), mode="multivector").hits}
    for hit in reranked.hits:
        assert hit.components["maxsim"] == hit.score == pytest.approx(exact[hit.id], abs=1e-4)
    assert [h.score for h in reranked.hits] == sorted((h.score for h in reranked.hits), reverse=True)
    assert "rerank" in reranked.timings_ms and reranked.timings_ms["total"] >= reranked.timings_ms["rerank"]
    assert reranked.ids[0] == max((d for d in first_stage), key=lambda d: exact[d])


def test_stopword_query_has_no_bm25_hits_and_hybrid_falls_back_on_dense(small_searcher):
    assert analyse(["the of and to"]) == [[]]
    assert small_searcher.search("the of and to", mode="bm25").hits == []
    hybrid = small_searcher.search("the of and to", k=5, mode="hybrid")
    dense = small_searcher.search("the of and to", k=5, mode="dense")
    assert hybrid.ids == dense.ids and all("bm25" not in h.components for h in hybrid.hits)


def test_unknown_words_are_not_an_error(small_searcher):
    assert small_searcher.search("zzqxv wqpflk", mode="bm25").hits == []


def test_k_larger_than_the_corpus_in_every_mode(small_searcher):
    for mode in ("hybrid", "bm25"):
        hits = small_searcher.search("film", k=100_000, mode=mode).hits
        assert 0 < len(hits) <= len(small_searcher) and len({h.id for h in hits}) == len(hits)
    reranked = small_searcher.search("film", k=100_000, mode="hybrid", config=SearchConfig(rerank="multivector"))
    assert len(reranked.hits) == len(small_searcher.search("film", k=100_000, mode="hybrid").hits)


@pytest.mark.slow
def test_rerank_without_a_multivector_index_is_a_clear_error(dbpedia_small, tmp_path, minilm):
    from retrieval.build.builder import build_index
    from retrieval.config import BuildConfig

    build_index(dbpedia_small, tmp_path / "dense", BuildConfig(model="minilm"), encoder=minilm, progress=False)
    dense_only = Searcher.load(tmp_path / "dense", encoder=minilm)
    with pytest.raises(ValueError, match="rerank='multivector' needs a multivector component"):
        dense_only.search("film", config=SearchConfig(rerank="multivector"))


def test_bm25_parameters_and_analyser_are_in_the_manifest(small_index):
    manifest = json.loads((small_index / "manifest.json").read_text())
    bm25 = manifest["components"]["bm25"]
    assert bm25["k1"] == 1.5 and bm25["b"] == 0.75
    assert bm25["analyser"]["stemmer"] == "snowball-english" and bm25["analyser"]["name"] == "text"  # auto: prose
    assert bm25["documents"] == manifest["documents"]["count"]
    assert any(name.startswith("bm25/") for name in manifest["files"])


def test_bm25_on_full_scifact_matches_an_independent_bm25s_run():
    """nDCG@10 of this project's BM25 on all of scifact (300 queries, 5,183 documents).

    Expected value measured independently with bm25s' own pipeline (bm25s.tokenize with
    stopwords="en" and PyStemmer's English stemmer, bm25s.BM25(k1=1.5, b=0.75).retrieve,
    top 100) scored by pytrec_eval: 0.6863.
    """
    dataset = load_beir(shared_dataset("scifact"))
    records = [
        json.loads(line) for line in dataset.corpus_path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    ids = [r["_id"] for r in records]
    index = BM25Index.build(
        analyse([f"{r.get('title', '')} {r['text']}".strip() for r in records]), np.arange(len(ids))
    )
    run = {}
    for qid, text in dataset.judged_queries.items():
        scores, rows = index.search(analyse([text])[0], 100)
        run[qid] = {ids[r]: float(s) for s, r in zip(scores, rows)}
    mean, _ = evaluate_run(run, dataset.qrels)
    assert mean["ndcg@10"] == pytest.approx(0.6863, abs=0.003)


CODE_CORPUS = [
    {
        "_id": "iterable",
        "text": "def is_iterable(obj):\n    try:\n        iter(obj)\n    except TypeError:\n"
        "        return False\n    return True",
    },
    {"_id": "variable", "text": "def set_variable(name, value):\n    os.environ[name] = value\n    return value"},
    {
        "_id": "check",
        "text": "def check(value):\n    if value is None:\n        raise ValueError('a value is needed')\n"
        "    return value",
    },
    {
        "_id": "camel",
        "text": "function parseHttpResponse(raw) {\n  const body = raw.split('\\r\\n\\r\\n')[1];\n"
        "  return JSON.parse(body);\n}",
    },
    {"_id": "join", "text": "def data_path(name):\n    return os.path.join(DATA_DIR, name)"},
]


@pytest.mark.parametrize("analyser", ["auto", "text", "code"])
def test_the_code_analyser_matches_identifier_words_and_is_chosen_for_code(tmp_path, minilm, minilm_colbert, analyser):
    """A query in words meets the identifiers that spell them only with the code analyser, which `auto` picks for a
    corpus of source code; the manifest records the analyser, and queries are analysed with it."""
    from retrieval.build.builder import build_index
    from retrieval.config import BuildConfig

    corpus = tmp_path / "code.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in CODE_CORPUS), encoding="utf-8")
    folder = tmp_path / analyser
    build_index(
        corpus,
        folder,
        BuildConfig(model="minilm", mode="hybrid", multivector_model="minilm-colbert", bm25_analyzer=analyser),
        encoder=minilm,
        multivector_encoder=minilm_colbert,
        progress=False,
    )
    searcher = Searcher.load(folder, encoder=minilm, multivector_encoder=minilm_colbert)
    chosen = searcher.manifest.components["bm25"].analyser["name"]
    assert chosen == ("text" if analyser == "text" else "code")
    top = {q: searcher.search(q, k=1, mode="bm25").ids for q in ("http response", "data dir", "set variable")}
    if chosen == "code":
        assert top == {"http response": ["camel"], "data dir": ["join"], "set variable": ["variable"]}
        assert searcher.search("parseHttpResponse", k=1, mode="bm25").ids == ["camel"]  # the whole identifier too
    else:  # the text analyser sees parseHttpResponse, DATA_DIR and set_variable as single words
        assert top == {"http response": [], "data dir": [], "set variable": []}
    searcher.close()
