"""BEIR evaluation: metric values on hand-computed examples, dataset errors, and the dbpedia-5k acceptance figures."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from eval.beir import DatasetError, evaluate_run, evaluate_searcher, load_beir
from retrieval.search.searcher import Searcher


def test_ndcg_uses_graded_gains_like_trec_eval():
    qrels = {"q": {"d1": 2, "d2": 1, "d9": 0}}
    run = {"q": {"d2": 3.0, "d3": 2.0, "d1": 1.0}}
    mean, per_query = evaluate_run(run, qrels)
    dcg = 1 / math.log2(2) + 2 / math.log2(4)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert per_query["q"]["ndcg@10"] == pytest.approx(dcg / ideal)
    assert per_query["q"]["mrr@10"] == pytest.approx(1.0)
    assert mean["recall@100"] == pytest.approx(1.0)


def test_mrr_is_cut_at_ten_and_missing_queries_count_as_zero():
    qrels = {"q1": {"rel": 1}, "q2": {"x": 1}}
    run = {"q1": {f"d{i}": 100.0 - i for i in range(10)} | {"rel": 1.0}}
    mean, per_query = evaluate_run(run, qrels)
    assert per_query["q1"]["mrr@10"] == 0.0 and per_query["q1"]["recall@100"] == 1.0
    assert per_query["q2"] == {"ndcg@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    assert mean["recall@100"] == pytest.approx(0.5)


@pytest.fixture()
def dataset_copy(tmp_path, dbpedia_small):
    target = tmp_path / "ds"
    shutil.copytree(dbpedia_small, target)
    return target


def test_missing_qrels_file(dataset_copy):
    (dataset_copy / "qrels" / "test.tsv").unlink()
    with pytest.raises(DatasetError, match=r"qrels/test.tsv is missing"):
        load_beir(dataset_copy)


def test_qrels_naming_unknown_queries(dataset_copy):
    with open(dataset_copy / "qrels" / "test.tsv", "a", encoding="utf-8") as handle:
        handle.write("no-such-query\tdoc\t1\n")
    with pytest.raises(DatasetError, match=r"judges 1 queries missing from queries.jsonl .*no-such-query"):
        load_beir(dataset_copy)


def test_empty_query_text_names_the_line(dataset_copy):
    path = dataset_copy / "queries.jsonl"
    path.write_text(path.read_text() + json.dumps({"_id": "blank", "text": " "}) + "\n")
    lines = len(path.read_text().splitlines())
    with pytest.raises(DatasetError, match=rf"queries.jsonl: line {lines}: query 'blank' has empty text"):
        load_beir(dataset_copy)


def test_malformed_qrels_line(dataset_copy):
    path = dataset_copy / "qrels" / "test.tsv"
    path.write_text(path.read_text() + "q\td\tnot-a-number\n")
    with pytest.raises(DatasetError, match=r"test.tsv: line \d+: score 'not-a-number' is not a number"):
        load_beir(dataset_copy)


@pytest.mark.slow
def test_dbpedia_5k_matches_the_independent_measurement(dbpedia_dir, dbpedia_index, minilm):
    """MiniLM + Flat on dbpedia-5k: nDCG@10 0.511 and Recall@100 0.942, measured independently with
    sentence-transformers + faiss.IndexFlatIP + pytrec_eval over the 40 judged queries."""
    dataset = load_beir(dbpedia_dir)
    report = evaluate_searcher(Searcher.load(dbpedia_index, encoder=minilm), dataset)
    assert report.n_queries == 40
    assert report.metrics["ndcg@10"] == pytest.approx(0.511, abs=0.005)
    assert report.metrics["recall@100"] == pytest.approx(0.942, abs=0.005)
    assert set(report.per_query) == set(dataset.qrels)
    assert report.factory == "IDMap2,Flat"
