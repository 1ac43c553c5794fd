"""End to end in a real browser: `modernsearch app` on localhost, driven by Playwright in Debian's Chromium."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from eval.beir import evaluate_searcher, load_beir
from retrieval.searcher import Searcher

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("MODERNSEARCH_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing: apt-get install -y chromium (make test does this)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served_app(tmp_path_factory, small_index, minilm, dbpedia_small):
    """`modernsearch app` running against the small real index, with one evaluation report to show."""
    results = tmp_path_factory.mktemp("results")
    evaluate_searcher(Searcher.load(small_index, encoder=minilm), load_beir(dbpedia_small)).write(results / "small.json")
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MODERNSEARCH_HOME": str(tmp_path_factory.mktemp("home"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "app", "--index", str(small_index), "--port", str(port), "--results", str(results)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the app did not start: {process.stdout.read()}")
        time.sleep(0.5)
    yield url
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        yield page
        browser.close()


def assert_no_streamlit_exception(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def full_page_screenshot(page, name: str) -> None:
    """Streamlit scrolls inside its main block, so grow the window to the content before the shot."""
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": 1280, "height": max(800, int(height))})
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


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
