"""Entry point of the Streamlit UI (`modernsearch app`): page setup and navigation."""

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="modernsearch", page_icon=":material/search:", layout="wide")

HERE = Path(__file__).parent
pages = [
    st.Page(HERE / "pages" / "search.py", title="Search", icon=":material/search:", default=True),
    st.Page(HERE / "pages" / "index_info.py", title="Index", icon=":material/database:"),
    st.Page(HERE / "pages" / "evaluation.py", title="Evaluation", icon=":material/monitoring:"),
]
st.navigation(pages).run()
