"""Result cards: title, id, score, a highlighted snippet and the expandable full text.

Document text reaches the page only through :mod:`app.ui.document_html` and ``st.html``: escaped, with
``<mark>`` highlights, never interpreted as Markdown.
"""

from __future__ import annotations

import html

import streamlit as st

from app.ui.document_html import code_html, heading_for, highlighted, is_code, line_window
from retrieval.search.highlight import best_window, term_spans
from retrieval.search.searcher import Hit, TokenMatch


def render_hit(hit: Hit, terms: set[str], matches: list[TokenMatch] | None = None) -> None:
    """One result card. With token matches (multi-vector), the matched document tokens are highlighted
    and listed; otherwise the query words found in the text are."""
    if matches is not None:
        words = [
            m
            for m in matches
            if m.span is not None and not (m.query_token.startswith("[") and m.query_token.endswith("]"))
        ]
        spans = sorted({m.span for m in words})
        tips = {m.span: f"{m.query_token} → {m.document_token} ({m.similarity:.2f})" for m in words}
    else:
        spans, tips = term_spans(hit.text, terms), {}
    if hit.passage is not None:  # a long document indexed in chunks: show the chunk that matched, its terms marked
        start, end = best_window(
            hit.text, [s for s in spans if hit.passage[0] <= s[0] < hit.passage[1]] or [hit.passage]
        )
        start, end = max(start, hit.passage[0]), min(end, hit.passage[1])
    else:
        start, end = best_window(hit.text, spans)
    code = is_code(hit.text, hit.metadata)
    title = hit.title or heading_for(hit.text, code) or hit.id
    with st.container(border=True):
        st.html(
            f"<div class='ms-card-head'><span class='ms-rank'>{hit.rank}</span> "
            f"<span class='ms-title'>{highlighted(title, term_spans(title, terms))}</span></div>"
            f"<div class='ms-meta'><code>{html.escape(hit.id)}</code> · score "
            f"{hit.score:.4f}{_stage_scores(hit)}{_passage_note(hit)}</div>"
            + _metadata_line(hit)
            + _snippet(hit.text, spans, start, end, tips, code)
        )
        if matches is not None:
            with st.expander("Token matches (MaxSim)"):
                st.dataframe(
                    [
                        {
                            "query token": m.query_token,
                            "best document token": m.document_token,
                            "similarity": round(m.similarity, 3),
                        }
                        for m in matches
                    ],
                    hide_index=True,
                    width="stretch",
                )
        with st.expander("Full text"):
            body = (
                code_html(hit.text, spans, tips=tips)
                if code
                else f"<div class='ms-full'>{highlighted(hit.text, spans, tips=tips)}</div>"
            )
            st.html(body)


def _snippet(text: str, spans: list[tuple[int, int]], start: int, end: int, tips: dict, code: bool) -> str:
    """The card's window of the text: whole numbered lines for code, a wrapped passage with ellipses for prose."""
    if code:
        return code_html(text, spans, *line_window(text, start, end), tips)
    prefix = "… " if start > 0 else ""
    suffix = " …" if end < len(text) else ""
    return f"<div class='ms-snippet'>{prefix}{highlighted(text, spans, start, end, tips)}{suffix}</div>"


def _metadata_line(hit: Hit, most: int = 8) -> str:
    """The document's metadata fields as ``name: value`` pairs (escaped, long values cut)."""
    if not hit.metadata:
        return ""
    pairs = []
    for name, value in list(hit.metadata.items())[:most]:
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        shown = shown if len(shown) <= 40 else shown[:39] + "…"
        pairs.append(f"<span class='ms-field'>{html.escape(str(name))}</span> {html.escape(shown)}")
    return "<div class='ms-meta ms-metadata'>" + " · ".join(pairs) + "</div>"


def _passage_note(hit: Hit) -> str:
    """Where in a long document the best chunk lies."""
    if hit.passage is None:
        return ""
    return f" · best passage: characters {hit.passage[0]:,}-{hit.passage[1]:,} of {len(hit.text):,}"


def _stage_scores(hit: Hit) -> str:
    """Each stage's score when several ran (hybrid, rerank): where a result came from, at a glance."""
    if len(hit.components) < 2:
        return ""
    return "".join(f" · {stage} {score:.3f}" for stage, score in hit.components.items())


CARD_CSS = """
<style>
.ms-card-head { font-size: 1.05rem; margin-bottom: 0.15rem; }
.ms-rank { display: inline-block; min-width: 1.6rem; padding: 0 0.35rem; margin-right: 0.35rem; border-radius: 0.4rem;
           background: #eef2ff; color: #3730a3; font-weight: 600; text-align: center; }
.ms-title { font-weight: 600; }
.ms-meta { color: #6b7280; font-size: 0.85rem; margin-bottom: 0.35rem; }
.ms-field { color: #374151; font-weight: 600; }
.ms-snippet, .ms-full { line-height: 1.5; white-space: pre-wrap; overflow-wrap: anywhere; }
.ms-code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.85rem; line-height: 1.45;
           background: #f8fafc; border: 1px solid #e5e7eb; border-radius: 0.4rem; padding: 0.4rem 0.6rem;
           overflow-x: auto;
           max-height: 28rem; overflow-y: auto; }
.ms-line { white-space: pre; min-height: 1.45em; tab-size: 4; }
.ms-line::before { content: attr(data-ln); display: inline-block; width: 2.6rem; margin-right: 0.8rem;
                   padding-right: 0.4rem;
                   color: #9ca3af; text-align: right; border-right: 1px solid #e5e7eb; user-select: none; }
mark { background: #fde68a; padding: 0 0.1rem; border-radius: 0.2rem; }
</style>
"""
