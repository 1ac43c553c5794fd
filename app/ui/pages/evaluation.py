"""Evaluation page: metrics of every report in the results folder, with plots."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app.ui.document_html import code_span
from app.ui.settings import ui_settings
from eval.reports import COLUMNS, load_reports

settings = ui_settings()
st.title("Evaluation")

folder = settings.results_dir
rows, problems = load_reports(folder) if folder.exists() else ([], [])
for problem in problems:
    st.warning(f"Skipped a report: {code_span(problem)}")
if not rows:
    st.info(
        f"No evaluation reports in {code_span(folder)}. Create one with "
        f"{code_span(f'modernsearch eval beir DATASET_DIR --index DIR --out {folder}/NAME.json')}, "
        "or start the app with `--results FOLDER`."
    )
    st.stop()

table = pd.DataFrame(rows, columns=list(COLUMNS))
st.caption(f"{len(table)} reports from {code_span(folder)}")
st.dataframe(
    table.drop(columns=["file"]),
    hide_index=True,
    width="stretch",
    column_config={m: st.column_config.NumberColumn(format="%.4f") for m in ("ndcg@10", "recall@100", "mrr@10")},
)

st.subheader("nDCG@10 per configuration")
bars = (
    alt.Chart(table)
    .mark_bar()
    .encode(
        x=alt.X("ndcg@10:Q", title="nDCG@10", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("configuration:N", title=None, axis=alt.Axis(labelLimit=360)),
        color=alt.Color("dataset:N", legend=alt.Legend(orient="bottom")),
        yOffset="dataset:N",
        tooltip=list(COLUMNS[:-1]),
    )
)
st.altair_chart(bars, width="stretch")

st.subheader("Quality vs latency vs index size")
points = (
    alt.Chart(table.dropna(subset=["ms/query"]))
    .mark_circle(opacity=0.75)
    .encode(
        x=alt.X("ms/query:Q", title="query latency (ms per query, batched)"),
        y=alt.Y("ndcg@10:Q", title="nDCG@10"),
        size=alt.Size("index MiB:Q", scale=alt.Scale(range=[60, 1200]), legend=None),
        color=alt.Color("configuration:N", legend=alt.Legend(labelLimit=360)),
        shape=alt.Shape("dataset:N"),
        tooltip=list(COLUMNS[:-1]),
    )
    .properties(height=360)
)
st.altair_chart(points, width="stretch")
st.caption("Circle area grows with the index size on disk; hover a circle for every figure.")
