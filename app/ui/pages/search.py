"""Search page: query box, index and mode pickers, result cards with highlights, timings."""

from __future__ import annotations

import streamlit as st

from app.ui.cards import CARD_CSS, render_hit
from app.ui.document_html import code_span
from app.ui.filter_widgets import metadata_filter
from app.ui.resources import BUILD_HINT, open_searcher
from app.ui.settings import MAX_QUERY_CHARS, index_choices, ui_settings
from index.filters import FilterError
from retrieval.config import FUSIONS, NORMALISATIONS, help_for
from retrieval.registry import HYBRID
from retrieval.search.highlight import query_terms
from retrieval.search.query_text import has_visible_text

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
mode = controls[1].radio(
    "Mode",
    searcher.modes,
    horizontal=True,
    help="Only the modes this index supports are offered.",
)
k = controls[2].slider("Results", min_value=1, max_value=50, value=10)

config = searcher.search_config()  # the settings tuned for this index, if any, else the defaults
rerankers = searcher.rerankers(mode)
if mode == HYBRID or rerankers:
    tuning = st.columns([2, 2, 2, 3])
    if mode == HYBRID:
        fusion = tuning[0].radio(
            "Fusion",
            list(FUSIONS),
            index=FUSIONS.index(config.fusion),
            horizontal=True,
            key=f"fusion-{chosen}",
            help=help_for("fusion"),
        )
        config = config.with_changes(fusion=fusion)
        if fusion == "linear":
            alpha = tuning[1].slider(
                "Dense weight (alpha)",
                0.0,
                1.0,
                float(config.alpha),
                0.05,
                key=f"alpha-{chosen}",
                help=help_for("alpha"),
            )
            normalisation = tuning[2].selectbox(
                "Normalisation",
                list(NORMALISATIONS),
                index=NORMALISATIONS.index(config.normalisation),
                key=f"normalisation-{chosen}",
                help=help_for("normalisation"),
            )
            config = config.with_changes(alpha=alpha, normalisation=normalisation)
    if rerankers and tuning[3].toggle(
        "Rerank with MaxSim", value=config.rerank != "none", key=f"rerank-{chosen}", help=help_for("rerank")
    ):
        config = config.with_changes(rerank=rerankers[0])
    elif config.rerank != "none":
        config = config.with_changes(rerank="none")
    tuned = searcher.manifest.tuned_search
    if tuned is not None:
        st.caption(
            f"Defaults tuned for this index on {code_span(tuned.dataset)} ({tuned.metric} {tuned.cv_metric:.4f} "
            "cross-validated "
            f"over {tuned.queries} queries, {tuned.tuned_at[:10]})."
        )

with st.form("search", border=False):
    query = st.text_input("Query", placeholder="Ask anything about the indexed documents…", max_chars=None)
    submitted = st.form_submit_button("Search", type="primary")
try:
    active_filter = metadata_filter(searcher, f"filter-{chosen}")
except FilterError as err:
    st.error(f"The filter cannot be applied: {code_span(err)}")
    st.stop()

if not submitted and not query:
    st.caption(f"{len(searcher):,} documents · modes {', '.join(searcher.modes)}")
    st.stop()
if not has_visible_text(query):
    st.warning("Type a query first: the search box holds no visible characters.")
    st.stop()

if len(query) > MAX_QUERY_CHARS:
    st.info(f"Your query has {len(query):,} characters; only the first {MAX_QUERY_CHARS:,} are used.")
    query = query[:MAX_QUERY_CHARS]
query_encoder = searcher.query_encoder(mode)
tokens = query_encoder.query_token_count(query) if query_encoder is not None else 0
if query_encoder is not None and tokens > query_encoder.max_query_tokens:
    st.info(
        f"Your query is {tokens:,} tokens long; the model reads only its first {query_encoder.max_query_tokens} "
        "tokens, "
        "so the rest does not affect the results."
    )

result = searcher.search(query, k=k, mode=mode, config=config, filter=active_filter)
st.caption(
    f"{len(result.hits)} results · " + " · ".join(f"{stage} {ms:.0f} ms" for stage, ms in result.timings_ms.items())
)
if not result.hits and active_filter:
    st.info("No document matches the filter and the query; widen the filter.")
elif not result.hits:
    st.info(
        "Nothing matched. BM25 ignores stopwords, so a query of only such words finds nothing; try hybrid or dense."
    )
terms = query_terms(query)
explanations = searcher.explain_hits(query, result.ids) if searcher.explains(mode, config) else {}
if explanations:
    st.caption("Highlights show the document tokens the query tokens matched best (MaxSim); hover one for its score.")
for hit in result.hits:
    render_hit(hit, terms, explanations.get(hit.id))
