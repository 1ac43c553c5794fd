"""Result cards: title, id, score, a highlighted snippet and the expandable full text."""

from __future__ import annotations

import html

import streamlit as st

from retrieval.highlight import best_window, term_spans
from retrieval.searcher import Hit, TokenMatch


def highlighted_html(
    text: str, spans: list[tuple[int, int]], start: int = 0, end: int | None = None, tips: dict | None = None
) -> str:
    """Escape ``text[start:end]`` for HTML and wrap the given spans in ``<mark>`` (with a hover tip if given)."""
    end = len(text) if end is None else end
    parts, cursor = [], start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        tip = (tips or {}).get((s, e))
        s, e = max(s, start, cursor), min(e, end)
        if s >= e:
            continue
        parts.append(html.escape(text[cursor:s]))
        title = f" title='{html.escape(tip, quote=True)}'" if tip else ""
        parts.append(f"<mark{title}>{html.escape(text[s:e])}</mark>")
        cursor = e
    parts.append(html.escape(text[cursor:end]))
    return "".join(parts)


def render_hit(hit: Hit, terms: set[str], matches: list[TokenMatch] | None = None) -> None:
    """One result card. With token matches (multi-vector), the matched document tokens are highlighted
    and listed; otherwise the query words found in the text are."""
    if matches is not None:
        words = [m for m in matches if m.span is not None and not (m.query_token.startswith("[") and m.query_token.endswith("]"))]
        spans = sorted({m.span for m in words})
        tips = {m.span: f"{m.query_token} → {m.document_token} ({m.similarity:.2f})" for m in words}
    else:
        spans, tips = term_spans(hit.text, terms), {}
    if hit.passage is not None:  # a long document indexed in chunks: show the chunk that matched, its terms marked
        start, end = best_window(hit.text, [s for s in spans if hit.passage[0] <= s[0] < hit.passage[1]] or [hit.passage])
        start, end = max(start, hit.passage[0]), min(end, hit.passage[1])
    else:
        start, end = best_window(hit.text, spans)
    snippet = highlighted_html(hit.text, spans, start, end, tips)
    prefix = "… " if start > 0 else ""
    suffix = " …" if end < len(hit.text) else ""
    title = hit.title or hit.id
    with st.container(border=True):
        st.markdown(
            f"<div class='ms-card-head'><span class='ms-rank'>{hit.rank}</span> "
            f"<span class='ms-title'>{highlighted_html(title, term_spans(title, terms))}</span></div>"
            f"<div class='ms-meta'><code>{html.escape(hit.id)}</code> · score {hit.score:.4f}{_stage_scores(hit)}{_passage_note(hit)}</div>"
            f"<div class='ms-snippet'>{prefix}{snippet}{suffix}</div>",
            unsafe_allow_html=True,
        )
        if matches is not None:
            with st.expander("Token matches (MaxSim)"):
                st.dataframe(
                    [{"query token": m.query_token, "best document token": m.document_token,
                      "similarity": round(m.similarity, 3)} for m in matches],
                    hide_index=True, width="stretch",
                )
        with st.expander("Full text"):
            st.markdown(f"<div class='ms-full'>{highlighted_html(hit.text, spans, tips=tips)}</div>", unsafe_allow_html=True)


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
.ms-snippet, .ms-full { line-height: 1.5; white-space: pre-wrap; }
mark { background: #fde68a; padding: 0 0.1rem; border-radius: 0.2rem; }
</style>
"""
