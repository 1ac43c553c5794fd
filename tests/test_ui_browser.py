"""End to end in a real browser: `modernsearch app` on localhost, driven by Playwright in Debian's Chromium."""

from __future__ import annotations

import re

import pytest

from eval.beir import evaluate_searcher, load_beir
from retrieval.search.searcher import Searcher

from browser import (
    ARTIFACTS,
    assert_no_streamlit_exception,
    chromium_page,
    full_page_screenshot,
    needs_chromium,
    running_app,
)

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def served_app(tmp_path_factory, small_index, minilm, dbpedia_small):
    """`modernsearch app` running against the small real index, with one evaluation report to show."""
    results = tmp_path_factory.mktemp("results")
    evaluate_searcher(Searcher.load(small_index, encoder=minilm), load_beir(dbpedia_small)).write(
        results / "small.json"
    )
    with running_app([small_index], tmp_path_factory.mktemp("home"), results) as url:
        yield url


@pytest.fixture(scope="module")
def browser_page():
    with chromium_page() as page:
        yield page


@pytest.mark.slow
def test_search_mode_and_pages_in_a_real_browser(served_app, browser_page, small_index, minilm, dbpedia_small):
    dataset = load_beir(dbpedia_small)
    searcher = Searcher.load(small_index, encoder=minilm)
    query, expected = next(
        (text, hit)
        for qid, text in dataset.judged_queries.items()
        for hit in searcher.search(text, k=5).ids
        if dataset.qrels[qid].get(hit, 0) > 0
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser_page
    page.goto(served_app)
    box = page.get_by_label("Query")
    box.wait_for(timeout=120_000)
    box.fill(query)
    box.press("Enter")
    page.locator(".ms-rank").nth(4).wait_for(timeout=120_000)
    top5 = [page.locator(".ms-meta code").nth(i).inner_text() for i in range(5)]
    assert expected in top5, f"{expected} not in the UI's top 5 {top5} for {query!r}"
    assert "total" in page.get_by_text("encode").first.inner_text()
    assert_no_streamlit_exception(page)

    full_page_screenshot(page, "search.png")

    # Hybrid is the default here; reranking by MaxSim adds a rerank timing and each card shows every stage's score.
    assert page.get_by_role("radio").count() == 6, "four modes and two fusion methods"
    page.get_by_text("Rerank with MaxSim").click()
    page.get_by_text(re.compile(r"rerank \d+ ms")).wait_for(timeout=120_000)
    page.locator(".ms-meta", has_text="maxsim").nth(4).wait_for(timeout=60_000)  # cards re-render after the caption
    assert "fused" in page.locator(".ms-meta").first.inner_text()
    assert page.get_by_text("Token matches (MaxSim)").count() > 0
    assert_no_streamlit_exception(page)
    full_page_screenshot(page, "search-hybrid-rerank.png")

    # Switch to multi-vector: the same query is answered by MaxSim and the cards explain their token matches.
    page.get_by_text("multivector", exact=True).click()
    page.get_by_text("Token matches (MaxSim)").first.wait_for(timeout=120_000)
    page.locator(".ms-rank").nth(4).wait_for()
    assert page.locator("mark[title]").count() > 0
    assert_no_streamlit_exception(page)
    full_page_screenshot(page, "search-multivector.png")

    page.get_by_role("link", name="Index").click()
    page.get_by_text("Manifest").wait_for(timeout=60_000)
    page.get_by_text("IDMap2,Flat").first.wait_for()
    page.get_by_text("k-means centroids").first.wait_for()
    assert_no_streamlit_exception(page)
    full_page_screenshot(page, "index.png")

    page.get_by_role("link", name="Evaluation").click()
    page.get_by_text("nDCG@10 per configuration").wait_for(timeout=60_000)
    page.locator('[data-testid="stVegaLiteChart"]').nth(1).wait_for(timeout=60_000)
    assert_no_streamlit_exception(page)
    full_page_screenshot(page, "evaluation.png")
