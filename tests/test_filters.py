"""Filtered search on real data: a slice of dbpedia-5k (and scifact for BM25) with seeded synthetic metadata.

Oracles: dense Flat and exhaustive multi-vector search under a filter equal an index built from only the matching
documents; BM25 under a filter equals its unfiltered scores restricted to them; the rows a filter admits equal a
plain-Python evaluation of the same filter; k results come back whenever k documents match.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.docstore import DocumentStore
from index.documents import Document
from index.where import parse_where, where_text
from retrieval.build.builder import build_index
from retrieval.config import BuildConfig
from retrieval.search.searcher import Searcher

from conftest import METADATA_CATEGORIES as CATEGORIES
from conftest import METADATA_TAGS as TAGS
from conftest import shared_dataset, synthetic_metadata
from conftest import write_corpus_with_metadata as write_corpus

QUERIES = [
    "american football player",
    "a river in europe",
    "famous painter",
    "computer software company",
    "war in the 19th century",
]


def python_match(meta: dict[str, Any], filter: dict[str, Any]) -> bool:
    """The filter language evaluated in plain Python (MongoDB semantics), independently of the SQL compiler."""

    def holds(key: str, value: Any) -> bool:
        if key == "$and":
            return all(python_match(meta, f) for f in value)
        if key == "$or":
            return any(python_match(meta, f) for f in value)
        if key == "$not":
            return not python_match(meta, value)
        stored = meta.get(key)
        values = stored if isinstance(stored, list) else [] if stored is None else [stored]
        conditions = value if isinstance(value, dict) else {"$eq": value}
        tests = {
            "$eq": lambda x: x in values,
            "$ne": lambda x: x not in values,
            "$in": lambda x: any(v in x for v in values),
            "$nin": lambda x: not any(v in x for v in values),
            "$gt": lambda x: any(v > x for v in values),
            "$gte": lambda x: any(v >= x for v in values),
            "$lt": lambda x: any(v < x for v in values),
            "$lte": lambda x: any(v <= x for v in values),
            "$contains": lambda x: x in values,
            "$exists": lambda x: bool(values) == x,
        }
        return all(tests[op](x) for op, x in conditions.items())

    return all(holds(k, v) for k, v in filter.items())


def matching_ids(metadata: dict[str, dict[str, Any]], filter: dict[str, Any]) -> set[str]:
    return {doc_id for doc_id, meta in metadata.items() if python_match(meta, filter)}


leaves = st.one_of(
    st.builds(lambda y: {"year": {"$gte": y}}, st.integers(1985, 2030)),
    st.builds(lambda y: {"year": {"$lt": y}}, st.integers(1985, 2030)),
    st.builds(lambda y: {"year": {"$ne": y}}, st.integers(1990, 2024)),
    st.builds(lambda c: {"category": {"$in": c}}, st.lists(st.sampled_from(CATEGORIES), max_size=6)),
    st.builds(lambda c: {"category": {"$nin": c}}, st.lists(st.sampled_from(CATEGORIES), max_size=6)),
    st.builds(lambda c: {"category": c}, st.sampled_from(CATEGORIES)),
    st.builds(lambda b: {"reviewed": b}, st.booleans()),
    st.builds(lambda t: {"tags": {"$contains": t}}, st.sampled_from(TAGS)),
    st.builds(lambda t: {"tags": t}, st.sampled_from(TAGS)),
    st.builds(lambda b: {"tags": {"$exists": b}}, st.booleans()),
    st.builds(lambda d: {"published": {"$gte": f"{d}-06-01"}}, st.integers(1999, 2024)),
)
filters = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(lambda fs: {"$and": fs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda fs: {"$or": fs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda f: {"$not": f}, inner),
    ),
    max_leaves=5,
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filter=filters, query=st.sampled_from(QUERIES), k=st.sampled_from([1, 5, 10, 30]))
def test_k_results_whenever_k_documents_match_in_every_mode(filtered, filter, query, k):
    searcher, metadata = filtered
    expected = matching_ids(metadata, filter)
    allowed = searcher.allowed(filter)
    assert {d.id for d in searcher._opened.store.get(list(allowed))} == expected, (
        "SQL admits what the Python oracle admits"
    )
    assert set(searcher.search(query, k=k, mode="dense", filter=parse_where(where_text(filter))).ids) <= expected, (
        "text spelling"
    )
    for mode in searcher.modes:
        ids = searcher.search(query, k=k, mode=mode, filter=filter).ids
        assert set(ids) <= expected and len(set(ids)) == len(ids)
        if mode != "bm25":
            assert len(ids) == min(k, len(expected)), (mode, filter)
        else:  # BM25 returns the documents that hold a query term: k of them whenever k matching ones do
            bm25 = searcher.component("bm25").index
            from retrieval.encode.lexical import analyse

            scores = bm25.scores(analyse([query])[0])
            with_term = {int(r) for r in bm25.row_ids[scores > 0]}
            assert len(ids) == min(k, len(with_term & set(allowed.tolist())))


@pytest.mark.slow
@pytest.mark.parametrize(
    "where",
    [
        "year >= 2010 and category in ('c01', 'c02', 'c03', 'c04', 'c05', 'c06', 'c07')",
        "reviewed or tags contains 'alpha'",
    ],
)
def test_filtered_search_equals_an_index_of_only_the_matching_documents(
    filtered, tmp_path, minilm, minilm_colbert, where
):
    """Oracle: dense Flat and exhaustive multi-vector (exact float32 token vectors) rank exactly as an index built
    from the matching documents alone, with the same scores."""
    searcher, _ = filtered
    filter = parse_where(where)
    subset = tmp_path
    matching = write_corpus(
        shared_dataset("dbpedia-5k"), subset / "corpus.jsonl", 300, keep=lambda meta: python_match(meta, filter)
    )
    assert 20 < len(matching) <= 256, "few enough for the multi-vector search to be exhaustive"
    config = BuildConfig(model="minilm", mode="both", multivector_model="minilm-colbert", multivector_codec="none")
    build_index(
        subset / "corpus.jsonl",
        subset / "index",
        config,
        encoder=minilm,
        multivector_encoder=minilm_colbert,
        progress=False,
    )
    alone = Searcher.load(subset / "index", encoder=minilm, multivector_encoder=minilm_colbert)
    for mode in ("dense", "multivector"):
        for query in QUERIES:
            got = searcher.search(query, k=10, mode=mode, filter=filter)
            want = alone.search(query, k=10, mode=mode)
            assert got.ids == want.ids, (mode, query)
            np.testing.assert_allclose([h.score for h in got.hits], [h.score for h in want.hits], atol=1e-5)


def test_bm25_under_a_filter_is_its_unfiltered_scores_restricted(tmp_path):
    """On all of scifact: the BM25 component's filtered top 10 is its full score vector cut to the matching rows."""
    from index.bm25 import BM25Index
    from retrieval.encode.lexical import analyse

    scifact = shared_dataset("scifact")
    rng = random.Random(3)
    store = DocumentStore.create(tmp_path / "documents.sqlite")
    documents = [json.loads(line) for line in (scifact / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    store.set_metadata_types(
        {"category": "string", "year": "integer", "reviewed": "boolean", "tags": "list", "published": "date"}
    )
    rows = np.array(
        store.insert([Document(d["_id"], d["text"], d.get("title", ""), synthetic_metadata(rng)) for d in documents])
    )
    bm25 = BM25Index.build(analyse([f"{d.get('title', '')} {d['text']}" for d in documents]), rows)
    queries = [
        json.loads(line)["text"] for line in (scifact / "queries.jsonl").read_text(encoding="utf-8").splitlines()[:30]
    ]
    for where in ("year < 1995", "category in ('c00', 'c01') and not reviewed", "tags contains 'beta'"):
        allowed = store.matching(parse_where(where))
        assert 0 < len(allowed) < len(rows)
        for query in queries:
            terms = analyse([query])[0]
            scores, found = bm25.search(terms, 10, allowed=allowed)
            full = bm25.scores(terms)
            keep = np.isin(bm25.row_ids, allowed) & (full > 0)
            order = np.lexsort((bm25.row_ids[keep], -full[keep]))[:10]
            assert found.tolist() == bm25.row_ids[keep][order].tolist()
            np.testing.assert_allclose(scores, full[keep][order], rtol=1e-6)


@pytest.mark.parametrize("index_type", ["HNSW32", "IVF64,Flat"])
def test_dense_planner_keeps_recall_at_every_selectivity(index_type):
    """Graph and IVF search under a filter against exact filtered search, from 0.1% of the rows allowed to all."""
    from index.dense import DenseIndex

    rng = np.random.default_rng(0)
    n, dim = 20_000, 64
    centres = rng.standard_normal((200, dim)).astype(
        np.float32
    )  # clustered, like embeddings: neighbours share a cluster
    vectors = centres[rng.integers(0, 200, n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = centres[rng.integers(0, 200, 50)] + 0.5 * rng.standard_normal((50, dim)).astype(np.float32)
    index = DenseIndex.create(dim, index_type)
    if index.needs_training:
        index.train(vectors)
    index.add(vectors, np.arange(n, dtype=np.int64) * 7)  # ids unlike positions
    for share in (0.001, 0.01, 0.1, 0.5):
        selected = rng.random(n) < share
        scores, ids = index.search(queries, 10, selected)
        exact = vectors[selected] @ queries.T
        top = np.argsort(-exact, axis=0)[:10].T
        expected_ids = (np.flatnonzero(selected)[top]) * 7
        assert (ids >= 0).sum(axis=1).min() == min(10, selected.sum()), "k results whenever k rows are allowed"
        assert np.isin(ids, np.flatnonzero(selected) * 7).all(), "only allowed rows"
        recall = np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(ids.tolist(), expected_ids.tolist())])
        assert recall >= 0.99, (index_type, share, recall, index.plan(int(selected.sum())))


@pytest.mark.slow
def test_cli_where_and_filter_agree_and_errors_point_at_the_column(filtered, filtered_index):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True)

    index = str(filtered_index)
    by_where = run(
        "search",
        index,
        "a river",
        "-k",
        "7",
        "--json",
        "--where",
        "year >= 2015 and not reviewed and tags contains 'beta'",
    )
    by_json = run(
        "search",
        index,
        "a river",
        "-k",
        "7",
        "--json",
        "--filter",
        '{"year": {"$gte": 2015}, "$not": {"reviewed": true}, "tags": {"$contains": "beta"}}',
    )
    assert by_where.returncode == 0 and by_json.returncode == 0
    hits = json.loads(by_where.stdout)["results"]
    assert hits == json.loads(by_json.stdout)["results"] and 0 < len(hits) <= 7
    assert all(
        h["metadata"]["year"] >= 2015 and not h["metadata"]["reviewed"] and "beta" in h["metadata"]["tags"]
        for h in hits
    )
    bad = run("search", index, "a river", "--where", "year >= 2015 and and")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.splitlines()[-2:] == ["  year >= 2015 and and", "  " + " " * len("year >= 2015 and ") + "^"]
    both = run("search", index, "a river", "--where", "year > 1", "--filter", "{}")
    assert both.returncode == 1 and "not both" in both.stderr
    info = run("info", index)
    assert info.returncode == 0
    assert [line.split()[1:4:2] for line in info.stdout.splitlines() if "│ year " in line] == [["year", "integer"]]


def test_eval_beir_with_a_filter_restricts_every_query(filtered, filtered_corpus, filtered_index, tmp_path):
    """A filter admitting only unjudged documents scores zero; the report records the filter."""
    searcher, metadata = filtered
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(filtered_corpus[0].read_text())
    some = sorted(metadata)[:40]
    (beir / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": f"q{i}", "text": QUERIES[i]}) + "\n" for i in range(len(QUERIES)))
    )
    (beir / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\t{d}\t1\n" for i in range(len(QUERIES)) for d in some)
    )
    out = tmp_path / "report.json"
    where = "year < 1990"  # no document is older: nothing can be found
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "eval",
            "beir",
            str(beir),
            "--index",
            str(filtered_index),
            "--mode",
            "dense",
            "--where",
            where,
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["filter"] == where and report["metrics"]["ndcg@10"] == 0.0
