"""Fusion tuned from judgments (`modernsearch tune`): a planted strong component is found, the offline evaluation of
a setting equals a real search with it, and `--apply` makes it the index's default until options say otherwise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from eval.beir import BeirDataset, evaluate_searcher
from eval.fusion_tuning import collect_runs, fused_run, settings_grid, tune
from retrieval.config import SearchConfig


def planted_dataset(searcher, corpus: Path, folder: Path, component: str) -> BeirDataset:
    """A BEIR folder over the index's own corpus whose judgments are ``component``'s top 3 for each of 20 queries
    (document titles and the slice's queries), so that component alone is perfect."""
    records = [
        json.loads(line) for line in (corpus / "corpus.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    base = [
        json.loads(line)["text"]
        for line in (corpus / "queries.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    texts = (base + [r["title"] + " history" for r in records if r.get("title")])[:20]
    queries = {f"q{i}": text for i, text in enumerate(texts)}
    results = searcher.search_batch(list(queries.values()), k=3, mode=component)
    qrels = {qid: {hit.id: 1 for hit in result.hits} for qid, result in zip(queries, results)}
    (folder / "qrels").mkdir(parents=True)
    shutil.copy(corpus / "corpus.jsonl", folder / "corpus.jsonl")
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()), encoding="utf-8"
    )
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, docs in qrels.items() for d in docs),
        encoding="utf-8",
    )
    return BeirDataset(folder, queries, qrels)


@pytest.mark.parametrize("component, alpha", [("dense", 1.0), ("bm25", 0.0)])
def test_tuning_finds_a_planted_strong_component(small_searcher, dbpedia_small, tmp_path, component, alpha):
    dataset = planted_dataset(small_searcher, dbpedia_small, tmp_path / "planted", component)
    runs = collect_runs(small_searcher, dataset)
    report = tune(runs, dataset.qrels, folds=5)
    assert report.chosen == {"fusion": "linear", "alpha": alpha, "rerank": "none", "normalisation": "minmax"}
    assert report.chosen_metric == pytest.approx(1.0) and report.components[component] == pytest.approx(1.0)
    assert report.best_component == component
    versus = report.cv_vs_best_component  # every fold also picks the perfect component: no loss, no spread
    assert (versus["difference"], versus["low"], versus["high"]) == pytest.approx((0.0, 0.0, 0.0), abs=1e-9)
    assert report.grid_size == len(settings_grid("multivector")) and len(report.fold_choices) == 5


def test_offline_fusion_equals_a_real_search_with_the_same_setting(small_searcher, dbpedia_small, tmp_path):
    """Oracle: the run tuning scores for a setting is the run `Searcher` returns with it (top 10 ids, per query)."""
    dataset = planted_dataset(small_searcher, dbpedia_small, tmp_path / "planted", "dense")
    runs = collect_runs(small_searcher, dataset)
    settings = [
        SearchConfig(),
        SearchConfig(fusion="rrf"),
        SearchConfig(fusion="linear", alpha=0.7, normalisation="zscore"),
        SearchConfig(fusion="linear", alpha=0.4, normalisation="bounds"),
        SearchConfig(fusion="rrf", rrf_k=20, rrf_alpha=0.8),
        SearchConfig(fusion="linear", alpha=0.6, rerank="multivector", rerank_depth=100),
    ]
    for setting in settings:
        offline = fused_run(runs, setting)
        searched = small_searcher.search_batch(list(dataset.queries.values()), k=10, mode="hybrid", config=setting)
        for qid, result in zip(dataset.queries, searched):
            assert list(offline[qid])[:10] == result.ids, (setting, qid)
            assert list(offline[qid].values())[:10] == pytest.approx([h.score for h in result.hits], rel=1e-5)


@pytest.mark.slow
def test_apply_makes_the_tuned_setting_the_default_until_options_say_otherwise(
    copy_of_small_index, small_searcher, dbpedia_small, tmp_path, minilm, minilm_colbert, monkeypatch
):
    from typer.testing import CliRunner

    from app.cli import app
    from index.documents import Document
    from retrieval.build.compaction import compact_index
    from retrieval.build.updater import add_documents
    from retrieval.search.searcher import Searcher

    folder = copy_of_small_index
    planted = planted_dataset(small_searcher, dbpedia_small, tmp_path / "planted", "dense")
    report_path = tmp_path / "tune.json"
    result = CliRunner().invoke(
        app, ["tune", str(folder), str(planted.root), "--folds", "4", "--out", str(report_path), "--apply"]
    )
    assert result.exit_code == 0, result.output
    assert "chosen on all queries (fusion=linear, alpha=1.0" in result.output and "cross-validated" in result.output
    report = json.loads(report_path.read_text())
    assert report["chosen"]["alpha"] == 1.0 and report["folds"] == 4

    searcher = Searcher.load(folder, encoder=minilm, multivector_encoder=minilm_colbert)
    assert searcher.search_config() == SearchConfig(fusion="linear", alpha=1.0, normalisation="minmax")
    query = next(iter(planted.queries.values()))
    dense = searcher.search(query, k=5, mode="dense")
    assert searcher.search(query, k=5, mode="hybrid").ids == dense.ids  # the default is now pure dense
    assert (
        searcher.search(query, k=5, mode="hybrid", config=searcher.search_config(fusion="rrf")).hits[0].score < 0.1
    )  # RRF scores
    evaluated = evaluate_searcher(searcher, planted, mode="hybrid")
    assert evaluated.metrics["ndcg@10"] == pytest.approx(
        report["chosen_metric"]
    )  # the figure tuning reported, searched for real
    searcher.close()

    shown = CliRunner().invoke(app, ["info", str(folder)]).output
    assert "tuned search settings" in shown and "fusion=linear, alpha=1.0" in shown
    given = CliRunner().invoke(app, ["search", str(folder), query, "-k", "3", "--json", "--fusion", "rrf"]).output
    assert json.loads(given)["results"][0]["score"] < 0.1  # an explicit option still wins

    from streamlit.testing.v1 import AppTest  # the UI's controls start at the tuned setting and say where it came from

    monkeypatch.setenv("MODERNSEARCH_INDEXES", str(folder))
    monkeypatch.setenv("MODERNSEARCH_RESULTS", str(tmp_path / "no-results"))
    page = AppTest.from_file(str(Path(__file__).parents[1] / "app" / "ui" / "streamlit_app.py"), default_timeout=180)
    page.run()
    assert not page.exception
    assert page.radio[1].value == "linear" and [s.value for s in page.slider if s.label == "Dense weight (alpha)"] == [
        1.0
    ]
    assert any("Defaults tuned for this index" in c.value for c in page.caption)

    add_documents(
        folder,
        [Document("new-doc", "The Vltava is the longest river in the Czech Republic.", "Vltava")],
        encoders={"dense": minilm, "multivector": minilm_colbert},
        progress=False,
    )
    kept = Searcher.load(folder, encoder=minilm, multivector_encoder=minilm_colbert)
    assert kept.manifest.tuned_search.settings == report["chosen"] and kept.search_config().alpha == 1.0
    kept.close()
    compact_index(folder, retrain="always", encoders={"dense": minilm, "multivector": minilm_colbert}, progress=False)
    rebuilt = Searcher.load(
        folder, encoder=minilm, multivector_encoder=minilm_colbert
    )  # a retraining compaction rebuilds
    assert rebuilt.manifest.tuned_search.settings == report["chosen"] and rebuilt.search_config().alpha == 1.0
    rebuilt.close()
    assert CliRunner().invoke(app, ["verify", str(folder)]).exit_code == 0
