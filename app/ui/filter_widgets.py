"""Metadata filter widgets generated from an index's field types, and the filter document they spell.

Strings and lists with few distinct values get a multiselect, numbers and dates a range slider, booleans a
checkbox; a text box takes any other condition in the ``where`` spelling. The active filter is shown as
``where`` text, the form the CLI's ``--where`` takes.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import streamlit as st

from app.ui.document_html import code_span
from index.filters import to_sql
from index.where import parse_where, where_text
from retrieval.search.searcher import Searcher

LOW_CARDINALITY = 50  # most distinct values a multiselect offers


def metadata_filter(searcher: Searcher, key: str) -> dict[str, Any] | None:
    """Show the filter widgets for ``searcher``'s metadata fields; the filter they spell (``None``: no filter), checked
    against the fields' types: :class:`FilterError` for a condition that cannot be read or applied."""
    fields = searcher.metadata_fields()
    if not fields:
        return None
    parts: list[dict[str, Any]] = []
    with st.expander("Filter by metadata"):
        columns = st.columns(2)
        shown = 0
        for name, stats in fields.items():
            widget = _widget(searcher, name, stats, columns[shown % 2], f"{key}-{name}")
            if widget is not None:
                shown += 1
                if widget:
                    parts.append(widget)
        text = st.text_input(
            "Other conditions",
            placeholder="year >= 2020 and not draft",
            key=f"{key}-where",
            help="Any condition on the fields above, as `modernsearch search --where` takes it.",
        )
        if text.strip():
            parts.append(parse_where(text))
    if not parts:
        return None
    document = parts[0] if len(parts) == 1 else {"$and": parts}
    to_sql(
        document, {name: stats["type"] for name, stats in fields.items()}
    )  # fields, types and numbers, before searching
    st.caption("Filter: " + code_span(where_text(document)))
    return document


def _widget(searcher: Searcher, name: str, stats: dict[str, Any], column: Any, key: str) -> dict[str, Any] | None:
    """One field's widget; ``None`` for a field without one, ``{}`` when it leaves the field unrestricted."""
    kind, low, high = stats["type"], stats["min"], stats["max"]
    if kind in ("string", "list") and stats["distinct"] <= LOW_CARDINALITY:
        values = [value for value, _ in searcher.metadata_values(name, LOW_CARDINALITY)]
        chosen = column.multiselect(_label(name), values, key=key)
        return {name: {"$in": chosen}} if chosen else {}
    if kind in ("integer", "float") and low is not None and low < high:
        picked = column.slider(_label(name), low, high, (low, high), key=key)
        return {name: {"$gte": picked[0], "$lte": picked[1]}} if tuple(picked) != (low, high) else {}
    if kind in ("date", "datetime") and low is not None and low[:10] < high[:10]:
        first, last = date.fromisoformat(low[:10]), date.fromisoformat(high[:10])
        picked = column.slider(_label(name), first, last, (first, last), key=key)
        if tuple(picked) == (first, last):
            return {}
        if kind == "date":
            return {name: {"$gte": picked[0].isoformat(), "$lte": picked[1].isoformat()}}
        return {name: {"$gte": picked[0].isoformat(), "$lt": (picked[1] + timedelta(days=1)).isoformat()}}
    if kind == "boolean":
        return {name: True} if column.checkbox(f"only {_label(name)}", key=key) else {}
    return None


def _label(name: str) -> str:
    """A field name as a widget label, which Streamlit reads as Markdown: every markup character escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", name)
