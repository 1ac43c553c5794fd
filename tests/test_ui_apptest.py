"""Streamlit pages driven by AppTest against a real index built from ../shared/data with the offline model."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from eval.beir import evaluate_searcher, load_beir
from retrieval.search.searcher import Searcher

APP = str(Path(__file__).resolve().parent.parent / "app" / "ui" / "streamlit_app.py")


def start(monkeypatch, tmp_path, indexes=(), results=None) -> AppTest:
    monkeypatch.setenv("MODERNSEARCH_INDEXES", os.pathsep.join(str(p) for p in indexes))
    monkeypatch.setenv("MODERNSEARCH_RESULTS", str(results or tmp_path / "no-results"))
    monkeypatch.setenv("MODERNSEARCH_HOME", str(tmp_path / "home"))  # no demo index to fall back on
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    return at


def search(at: AppTest, query: str) -> AppTest:
    at.text_input[0].input(query)
    at.button[0].click()
    at.run()
    return at


def page_text(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in [*at.markdown, *at.html, *at.caption])


@pytest.fixture(scope="module")
def known_hit(small_index, minilm, dbpedia_small):
    """A judged query whose relevant document the index ranks in the top 5 (found through the Python API)."""
    dataset = load_beir(dbpedia_small)
    searcher = Searcher.load(small_index, encoder=minilm)
    for qid, text in dataset.judged_queries.items():
        relevant = {d for d, grade in dataset.qrels[qid].items() if grade > 0}
        top5 = searcher.search(text, k=5).ids
        found = [d for d in top5 if d in relevant]
        if found:
            return text, found[0]
    pytest.fail("no judged query has a relevant document in the top 5")


def test_search_page_shows_result_cards_and_timings(monkeypatch, tmp_path, small_index, known_hit):
    query, expected_id = known_hit
    at = start(monkeypatch, tmp_path, [small_index])
    assert not at.exception
    assert at.title[0].value == "Search"
    assert at.radio[0].options == ["hybrid", "dense", "multivector", "bm25"], (
        "only the modes the index supports are offered"
    )
    assert at.slider[0].value == 10
    search(at, query)
    assert not at.exception
    text = page_text(at)
    assert expected_id.replace("<", "&lt;").replace(">", "&gt;") in text
    assert text.count("class='ms-rank'") == 10
    assert "encode" in text and "search" in text and "total" in text
    assert "<mark>" in text, "query words found in the documents are highlighted"
    assert [e.label for e in at.expander].count("Full text") == 10


def test_sharded_index_searches_and_describes_as_its_whole(monkeypatch, tmp_path, small_index, known_hit):
    """The UI opens a sharded index (``modernsearch shard``) through the same Searcher: the same modes, the same
    result cards (ids and scores) in the same order, and an Index page with the whole collection's counts."""
    from index.shard_folders import shard_index

    query, _ = known_hit
    shard_index(small_index, tmp_path / "sharded", 2)
    seen = {}
    for name, folder in (("whole", small_index), ("sharded", tmp_path / "sharded")):
        at = start(monkeypatch, tmp_path / name, [folder])
        assert not at.exception
        assert at.radio[0].options == ["hybrid", "dense", "multivector", "bm25"]
        search(at, query)
        assert not at.exception
        cards = re.findall(r"<div class='ms-meta'><code>(.*?)</code> · score ([-\d.]+)", page_text(at))
        at.switch_page("pages/index_info.py").run()
        assert not at.exception
        values = {label: value for table in at.table for label, value in zip(table.value.index, table.value["value"])}
        seen[name] = cards, values["documents"], len(at.dataframe[0].value)
    (whole_cards, *whole_rest), (sharded_cards, *sharded_rest) = seen["whole"], seen["sharded"]
    assert len(whole_cards) == 10 and [i for i, _ in sharded_cards] == [i for i, _ in whole_cards]
    assert [float(s) for _, s in sharded_cards] == pytest.approx([float(s) for _, s in whole_cards], abs=1.1e-4)
    assert sharded_rest == whole_rest


def test_hybrid_mode_offers_fusion_and_rerank_and_shows_each_stage(monkeypatch, tmp_path, small_index):
    at = start(monkeypatch, tmp_path, [small_index])
    assert at.radio[0].value == "hybrid", "an index built for hybrid search opens in hybrid mode"
    assert at.radio[1].label == "Fusion" and at.radio[1].options == ["linear", "rrf"] and at.radio[1].value == "linear"
    assert [s.value for s in at.slider if s.label == "Dense weight (alpha)"] == [0.85]
    assert [s.value for s in at.selectbox if s.label == "Normalisation"] == ["minmax"]
    at.radio[1].set_value("rrf").run()
    assert not [s for s in at.slider if s.label == "Dense weight (alpha)"], (
        "alpha and normalisation are linear fusion's"
    )
    assert not [s for s in at.selectbox if s.label == "Normalisation"]
    at.toggle[0].set_value(True).run()
    search(at, "guitar chord tuning")
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "rerank" in captions and "search" in captions and "encode" in captions
    text = page_text(at)
    assert text.count("class='ms-rank'") == 10
    assert text.count("maxsim") >= 10 and "fused" in text, "cards show each stage's score"
    assert [e.label for e in at.expander].count("Token matches (MaxSim)") == 10


def test_stopword_query_in_bm25_mode_explains_the_empty_result(monkeypatch, tmp_path, small_index):
    at = start(monkeypatch, tmp_path, [small_index])
    at.radio[0].set_value("bm25").run()
    search(at, "the of and")
    assert not at.exception
    assert "BM25 ignores stopwords" in at.info[0].value


def test_multivector_mode_explains_token_matches(monkeypatch, tmp_path, small_index):
    at = start(monkeypatch, tmp_path, [small_index])
    at.radio[0].set_value("multivector").run()
    search(at, "guitar chord tuning")
    assert not at.exception
    text = page_text(at)
    assert text.count("class='ms-rank'") == 10
    assert "<mark title=" in text, "matched document tokens are highlighted with their query token and score"
    assert "matched best (MaxSim)" in text
    labels = [e.label for e in at.expander]
    assert labels.count("Token matches (MaxSim)") == 10
    table = at.dataframe[0].value
    assert list(table.columns) == ["query token", "best document token", "similarity"]
    assert "guitar" in set(table["query token"])


def test_k_changes_the_number_of_cards(monkeypatch, tmp_path, small_index):
    at = start(monkeypatch, tmp_path, [small_index])
    at.slider[0].set_value(3)
    search(at, "american politician")
    assert page_text(at).count("class='ms-rank'") == 3


def test_empty_query_gets_a_friendly_warning(monkeypatch, tmp_path, small_index):
    at = start(monkeypatch, tmp_path, [small_index])
    search(at, "   ")
    assert not at.exception
    assert "no visible characters" in at.warning[0].value


def test_very_long_query_is_truncated_with_a_notice(monkeypatch, tmp_path, small_index):
    at = start(monkeypatch, tmp_path, [small_index])
    search(at, "history of the roman empire " * 400)
    assert not at.exception
    notices = " ".join(i.value for i in at.info)
    assert "only the first 5,000 are used" in notices
    assert "reads only its first 256 tokens" in notices
    assert "class='ms-rank'" in page_text(at)


def test_no_index_explains_how_to_build_one(monkeypatch, tmp_path):
    at = start(monkeypatch, tmp_path, [])
    assert not at.exception
    assert "No index found" in at.error[0].value and "modernsearch build CORPUS --index DIR" in at.error[0].value


def test_missing_index_folder(monkeypatch, tmp_path):
    at = start(monkeypatch, tmp_path, [tmp_path / "nowhere"])
    assert not at.exception
    assert "No index found at" in at.error[0].value


def test_corrupt_index_is_reported_without_traceback(monkeypatch, tmp_path, small_index):
    broken = tmp_path / "broken"
    shutil.copytree(small_index, broken)
    data = bytearray((broken / "dense.faiss").read_bytes())
    data[100] ^= 0xFF
    (broken / "dense.faiss").write_bytes(bytes(data))
    at = start(monkeypatch, tmp_path, [broken])
    assert not at.exception
    assert "cannot be used" in at.error[0].value and "checksum" in at.error[0].value


def test_model_that_cannot_be_loaded_offline(monkeypatch, tmp_path, small_index):
    other = tmp_path / "other-model"
    shutil.copytree(small_index, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["components"]["dense"]["model"]["spec"] = "example-org/uncached-embedder"
    (other / "manifest.json").write_text(json.dumps(manifest))
    at = start(monkeypatch, tmp_path, [other])
    assert not at.exception
    message = at.error[0].value
    assert "cannot be loaded on this machine" in message and "example-org/uncached-embedder" in message


def test_index_picker_switches_between_indexes(monkeypatch, tmp_path, small_index):
    second = tmp_path / "second"
    shutil.copytree(small_index, second)
    at = start(monkeypatch, tmp_path, [small_index, second])
    assert len(at.selectbox[0].options) == 2
    at.selectbox[0].select_index(1).run()
    assert not at.exception
    search(at, "american politician")
    assert "class='ms-rank'" in page_text(at)


def test_index_page_shows_manifest_and_documents(monkeypatch, tmp_path, small_index):
    at = start(monkeypatch, tmp_path, [small_index])
    at.switch_page("pages/index_info.py").run()
    assert not at.exception
    assert at.title[0].value == "Index"
    values = {label: value for table in at.table for label, value in zip(table.value.index, table.value["value"])}
    assert values["FAISS factory"] == "IDMap2,Flat"
    assert values["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert values["dimensions"] == "384"
    sample = at.dataframe[0].value
    assert len(sample) == 25 and list(sample.columns) == ["id", "title", "text"]


def test_evaluation_page_reads_reports_and_plots(monkeypatch, tmp_path, small_index, minilm, dbpedia_small):
    results = tmp_path / "results"
    report = evaluate_searcher(Searcher.load(small_index, encoder=minilm), load_beir(dbpedia_small))
    report.write(results / "small.json")
    (results / "garbage.json").write_text("{oops")
    at = start(monkeypatch, tmp_path, [small_index], results=results)
    at.switch_page("pages/evaluation.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 1
    assert table["ndcg@10"][0] == pytest.approx(report.metrics["ndcg@10"])
    assert "garbage.json" in at.warning[0].value
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2


def test_evaluation_page_without_reports(monkeypatch, tmp_path, small_index):
    at = start(monkeypatch, tmp_path, [small_index])
    at.switch_page("pages/evaluation.py").run()
    assert not at.exception
    assert "No evaluation reports" in at.info[0].value and "modernsearch eval beir" in at.info[0].value


@pytest.fixture(scope="module")
def metadata_index(tmp_path_factory, minilm) -> Path:
    """A dense index of a few documents with a low-cardinality string, a number, a boolean and a date field."""
    from retrieval.build.builder import build_index
    from retrieval.config import BuildConfig

    folder = tmp_path_factory.mktemp("ui-metadata")
    rows = [
        ("danube", "The Danube is a long river in Europe.", "rivers", 2019, False, "2019-05-01"),
        ("rhine", "The Rhine is a river that flows to the North Sea.", "rivers", 2023, True, "2023-02-11"),
        ("alps", "The Alps are high mountains in Europe.", "mountains", 2021, True, "2021-08-30"),
        ("<b>odd</b>", "A river of *markdown* and <i>tags</i>.", "<script>x</script>", 2024, False, "2024-01-01"),
    ]
    corpus = folder / "corpus.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"_id": i, "text": t, "topic": c, "year": y, "reviewed": r, "day": d}) + "\n"
            for i, t, c, y, r, d in rows
        ),
        encoding="utf-8",
    )
    build_index(corpus, folder / "index", BuildConfig(model="minilm"), encoder=minilm, progress=False)
    return folder / "index"


def test_filter_widgets_come_from_the_metadata_and_restrict_the_results(monkeypatch, tmp_path, metadata_index):
    at = start(monkeypatch, tmp_path, [metadata_index])
    assert not at.exception
    assert [m.label for m in at.multiselect] == ["topic"]
    assert sorted(at.multiselect[0].options) == sorted(["rivers", "mountains", "<script>x</script>"])
    assert [s.label for s in at.slider][1:] == ["year", "day"] and at.slider[1].value == (2019, 2024)
    assert [c.label for c in at.checkbox] == ["only reviewed"]
    search(at, "a river in Europe")
    assert len(at.html) >= 4
    at.multiselect[0].select("rivers").run()
    cards = "\n".join(str(h.value) for h in at.html)
    assert "Filter: `topic in ('rivers')`" in page_text(at)
    assert "danube" in cards and "rhine" in cards and "alps" not in cards and "odd" not in cards
    assert "<span class='ms-field'>year</span> 2019" in cards, "each card shows the document's metadata"
    at.checkbox[0].check().run()
    cards = "\n".join(str(h.value) for h in at.html)
    assert "rhine" in cards and "danube" not in cards
    assert "Filter: `topic in ('rivers') and reviewed`" in page_text(at)
    at.checkbox[0].uncheck().run()
    at.multiselect[0].unselect("rivers").run()
    at.slider[1].set_value((2024, 2024)).run()
    cards = "\n".join(str(h.value) for h in at.html)
    assert "&lt;b&gt;odd&lt;/b&gt;" in cards and "&lt;script&gt;x&lt;/script&gt;" in cards and "<script>" not in cards
    at.text_input[1].input("year >= 2030").run()
    assert "No document matches the filter" in page_text(at) + "\n".join(str(i.value) for i in at.info)
    at.text_input[1].input("year >>").run()
    assert [e.value for e in at.error] and "malformed filter at column" in at.error[0].value
    for condition, message in [
        ("year > 'abc'", "compare it with a number"),
        ("yeer = 1", "unknown field 'yeer'"),
        ("year = 99999999999999999999", "64-bit range"),
        ("not " * 40 + "reviewed", "nests deeper"),
    ]:
        at.text_input[1].input(condition).run()
        assert not at.exception, condition
        assert [e.value for e in at.error] and message in at.error[0].value, condition
        assert "class='ms-rank'" not in "\n".join(str(h.value) for h in at.html), (
            "no results under a filter that cannot apply"
        )
