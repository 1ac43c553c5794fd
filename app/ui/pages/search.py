"""Search page: query box, index and mode pickers, result cards with highlights, timings."""

from __future__ import annotations

import streamlit as st

from app.ui.cards import CARD_CSS, render_hit
from app.ui.resources import BUILD_HINT, open_searcher
from app.ui.settings import MAX_QUERY_CHARS, index_choices, ui_settings
from retrieval.highlight import query_terms

settings = ui_settings()
st.markdown(CARD_CSS, unsafe_allow_html=True)
st.title("Search")

if not settings.indexes:
    st.error(f"No index found. {BUILD_HINT}")
    st.stop()

controls = st.columns([3, 2, 2])
choices = index_choices(settings.indexes)
chosen = controls[0].selectbox("Index", list(choices), disabled=len(choices) == 1)
searcher = open_searcher(choices[chosen])
if searcher is None:
    st.stop()
mode = controls[1].radio("Mode", searcher.modes, horizontal=True, help="Only the modes this index supports are offered.")
k = controls[2].slider("Results", min_value=1, max_value=50, value=10)

with st.form("search", border=False):
    query = st.text_input("Query", placeholder="Ask anything about the indexed documents…", max_chars=None)
    submitted = st.form_submit_button("Search", type="primary")

if not submitted and not query:
    st.caption(f"{len(searcher):,} documents · model {searcher.manifest['model']['name']}")
    st.stop()
if not query.strip():
    st.warning("Type a query first: the search box is empty.")
    st.stop()

if len(query) > MAX_QUERY_CHARS:
    st.info(f"Your query has {len(query):,} characters; only the first {MAX_QUERY_CHARS:,} are used.")
    query = query[:MAX_QUERY_CHARS]
tokens = len(searcher.encoder.model.tokenizer(query, add_special_tokens=True)["input_ids"])
if tokens > searcher.encoder.max_tokens:
    st.info(
        f"Your query is {tokens:,} tokens long; the model reads only its first {searcher.encoder.max_tokens} tokens, "
        "so the rest does not affect the results."
    )

result = searcher.search(query, k=k, mode=mode)
timing = result.timings_ms
st.caption(
    f"{len(result.hits)} results · encode {timing['encode']:.0f} ms · search {timing['search']:.0f} ms · "
    f"total {timing['total']:.0f} ms"
)
terms = query_terms(query)
for hit in result.hits:
    render_hit(hit, terms)
