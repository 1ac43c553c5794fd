"""Index page: the manifest of each index and a sample of its documents."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.ui.resources import BUILD_HINT, open_searcher
from app.ui.settings import index_choices, ui_settings
from index.format import manifest_summary

settings = ui_settings()
st.title("Index")

if not settings.indexes:
    st.error(f"No index found. {BUILD_HINT}")
    st.stop()

choices = index_choices(settings.indexes)
chosen = st.selectbox("Index", list(choices), disabled=len(choices) == 1)
searcher = open_searcher(choices[chosen])
if searcher is None:
    st.stop()

st.subheader("Manifest")
rows = manifest_summary(searcher.manifest)
half = (len(rows) + 1) // 2
for column, part in zip(st.columns(2), (rows[:half], rows[half:])):
    column.table(pd.DataFrame(part, columns=["", "value"]).set_index(""))
st.text(f"Folder: {searcher.index_dir}")  # a path is data: shown as text, not Markdown

st.subheader("Sample documents")
sample = searcher.documents_sample(25)
st.dataframe(
    pd.DataFrame(
        {"id": [d.id for d in sample], "title": [d.title for d in sample], "text": [d.text[:300] for d in sample]}
    ),
    hide_index=True,
    width="stretch",
    column_config={
        "id": st.column_config.TextColumn(width="medium"),
        "title": st.column_config.TextColumn(width="medium"),
        "text": st.column_config.TextColumn(width="large"),
    },
)
