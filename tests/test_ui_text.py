"""Document text in the UI is shown exactly as written: code, Markdown, HTML-like text and indentation never
change how the page is built, highlights stay intact, and nothing a document holds runs or loads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from retrieval.build.builder import build_index
from retrieval.config import BuildConfig

from browser import assert_no_streamlit_exception, chromium_page, full_page_screenshot, needs_chromium, running_app

APP = str(Path(__file__).resolve().parent.parent / "app" / "ui" / "streamlit_app.py")
CODE = '''def is_number(s):
    """Return True if the string s is a valid number."""
    try:
        float(s)
        return True
    except ValueError:
        return False'''
MARKDOWN = (
    "# Release heading\n\nSome *stars* and _underscores_ and `backticks` here.\n\n"
    "[link](https://example.org) ![pixel](http://127.0.0.1:8799/pixel.png) **bold** :red[RED] $x^2$\n\n"
    "| column a | column b |\n|---|---|\n| 1 | 2 |"
)
HTMLISH = "Entities &amp; tags: <script>alert(1)</script> <img src=x onerror=alert(1)> and <b>bold</b> marks"
INDENTED = "    four leading spaces\n\ttab indented line\n        eight spaces deep\nback to the margin"
DOCUMENTS = [
    {"_id": "code/is_number.py", "title": "", "text": CODE},
    {"_id": "notes.md", "title": "", "text": MARKDOWN},
    {"_id": "html", "title": "<i>Tags</i> & entities", "text": HTMLISH},
    {"_id": "spaces", "title": "Indented", "text": INDENTED},
]
QUERIES = {  # a query per document that matches its words
    "code/is_number.py": "check if a string is a valid number",
    "notes.md": "release heading stars underscores",
    "html": "entities tags script alert",
    "spaces": "leading spaces tab indented margin",
}


@pytest.fixture(scope="module")
def text_index(tmp_path_factory, minilm, minilm_colbert) -> Path:
    folder = tmp_path_factory.mktemp("ui-text")
    corpus = folder / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in DOCUMENTS), encoding="utf-8")
    build_index(
        corpus,
        folder / "idx",
        BuildConfig(model="minilm", mode="hybrid", multivector_model="minilm-colbert"),
        encoder=minilm,
        multivector_encoder=minilm_colbert,
        progress=False,
    )
    return folder / "idx"


def run_search(monkeypatch, tmp_path, index: Path, query: str, mode: str | None = None) -> AppTest:
    monkeypatch.setenv("MODERNSEARCH_INDEXES", str(index))
    monkeypatch.setenv("MODERNSEARCH_HOME", str(tmp_path / "home"))
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    if mode:
        at.radio[0].set_value(mode)
        at.run()
    at.text_input[0].input(query)
    at.button[0].click()
    at.run()
    assert not at.exception
    return at


def card_of(at: AppTest, doc_id: str) -> str:
    """The HTML of the result card whose id is ``doc_id``."""
    escaped = doc_id.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    cards = [h.value for h in at.html if f"<code>{escaped}</code>" in h.value]
    assert cards, f"no card for {doc_id}"
    return cards[0]


@pytest.mark.parametrize("mode", ["hybrid", "multivector"])
def test_cards_carry_document_text_only_as_escaped_html(monkeypatch, tmp_path, text_index, mode):
    for doc_id, query in QUERIES.items():
        at = run_search(monkeypatch, tmp_path, text_index, query, mode)
        card = card_of(at, doc_id)
        assert "<mark" in card, f"{mode}: no highlight on {doc_id} for {query!r}"
        assert "<script" not in card and "<img" not in card and "<b>" not in card and "<i>" not in card
        for markdown in at.markdown:
            assert not any(word in markdown.value for word in ("is_number", "stars", "alert", "tab indented")), (
                "document text never goes through Markdown"
            )
    code_card = card_of(
        run_search(monkeypatch, tmp_path, text_index, QUERIES["code/is_number.py"], mode), "code/is_number.py"
    )
    assert "class='ms-code'" in code_card and "data-ln='7'" in code_card, "code is shown as numbered lines"


def test_untitled_documents_get_a_useful_heading(monkeypatch, tmp_path, text_index):
    at = run_search(monkeypatch, tmp_path, text_index, QUERIES["code/is_number.py"])
    assert re.search(r"class='ms-title'>def (<mark>)?is_number(</mark>)?\(s\):", card_of(at, "code/is_number.py"))
    at = run_search(monkeypatch, tmp_path, text_index, QUERIES["notes.md"])
    assert "class='ms-title'># " in card_of(at, "notes.md").replace("<mark>", "").replace("</mark>", "")


def wait_for_rerun(page) -> None:
    """Streamlit keeps the previous results on the page while it reruns: wait for the run to start and end."""
    status = page.locator("[data-testid=stStatusWidget]")
    try:
        status.wait_for(state="visible", timeout=5_000)
    except Exception:  # noqa: BLE001 - a quick run can finish before the widget shows
        pass
    status.wait_for(state="hidden", timeout=120_000)
    page.wait_for_timeout(300)


@pytest.mark.slow
@needs_chromium
def test_the_browser_shows_each_document_exactly_as_written(tmp_path_factory, text_index):
    texts = {d["_id"]: d["text"] for d in DOCUMENTS}
    requests: list[str] = []
    dialogs: list[str] = []
    console_errors: list[str] = []
    with running_app([text_index], tmp_path_factory.mktemp("home")) as url, chromium_page() as page:
        page.on("request", lambda request: requests.append(request.url))
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
        page.goto(url)
        for mode in ("hybrid", "multivector"):
            if mode == "multivector":
                page.get_by_text("multivector", exact=True).click()
                wait_for_rerun(page)
            for doc_id, query in QUERIES.items():
                box = page.get_by_label("Query")
                box.wait_for(timeout=120_000)
                box.fill(query)
                box.press("Enter")
                wait_for_rerun(page)
                card = page.locator("[data-testid=stHtml]").filter(has=page.locator(".ms-meta code", has_text=doc_id))
                card.first.wait_for(timeout=120_000)
                shown = card.first.locator(".ms-snippet, .ms-code").first
                visible = shown.inner_text()
                if shown.get_attribute("class") == "ms-code":
                    assert visible.rstrip("\n") == texts[doc_id], f"{mode}: the code card's lines differ from {doc_id}"
                else:
                    assert visible == texts[doc_id], f"{mode}: the card's text differs from {doc_id}: {visible!r}"
                assert shown.locator("mark").count() > 0, f"{mode}: no highlight on {doc_id} for {query!r}"
                made = shown.evaluate(
                    "el => [...el.querySelectorAll('*')].map(e => e.tagName + '.' + e.className)"
                    ".filter(t => t !== 'MARK.' && t !== 'DIV.ms-line')"
                )
                assert made == [], f"{mode}: elements made from the text of {doc_id}: {made}"
                title = card.first.locator(".ms-title")
                assert title.locator("*:not(mark)").count() == 0
                assert_no_streamlit_exception(page)
                full_page_screenshot(page, f"ui-text-{mode}-{re.sub(r'[^a-z]+', '-', doc_id)}.png")
        assert page.locator("img[src='x'], script:has-text('alert')").count() == 0
    assert not dialogs, f"a document ran script: {dialogs}"
    assert not [u for u in requests if u.endswith("/x") or "pixel.png" in u], (
        "a document made the browser load something"
    )
    assert not [e for e in console_errors if "alert" in e or "pixel" in e], console_errors


def test_the_rendering_module_examples_hold():
    """app/ is outside pytest's doctest paths (its pages run Streamlit on import), so its examples run here."""
    import doctest

    import app.ui.document_html as module

    assert doctest.testmod(module).failed == 0
