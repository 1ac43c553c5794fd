"""Filters against hostile and malformed input: values and field names that look like SQL are matched literally or
refused, bad filters say what is wrong, the SQL binds every value, and filters are bounded in size and nesting."""

from __future__ import annotations

import sqlite3

import pytest

from index.filters import FilterError

HOSTILE = ["x' OR 1=1 --", "'; DROP TABLE documents; --", "c01\x00", 'a"b', "SELECT * FROM metadata_values", "%", "_"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_matched_literally_and_change_nothing(filtered, value):
    searcher, metadata = filtered
    store = searcher._opened.store
    before = (len(store), store.metadata_stats())
    assert searcher.search("river", k=5, filter={"category": value}).hits == []
    assert searcher.search("river", k=5, filter={"category": {"$contains": value}}).hits == [], (
        "a substring, not a pattern"
    )
    assert searcher.search("river", k=5, filter={"tags": {"$nin": [value]}}).ids, (
        "a $nin of a value nobody has excludes nothing"
    )
    assert (len(store), store.metadata_stats()) == before


@pytest.mark.parametrize("field", ["category'; DROP TABLE documents; --", "year\x00", "$where", "metadata_values", ""])
def test_hostile_field_names_are_rejected_with_the_fields_listed(filtered, field):
    searcher, _ = filtered
    with pytest.raises(FilterError) as caught:
        searcher.search("river", filter={field: 1})
    assert "category (string)" in str(caught.value) or "unknown operator" in str(caught.value)
    assert len(searcher._opened.store) == 300


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"yeer": 2020}, "unknown field 'yeer'; the index's metadata fields are: category (string), year (integer)"),
        ({"year": {"$gte": "abc"}}, "field 'year' is integer; compare it with a number, not a string 'abc'"),
        ({"published": {"$gte": "last year"}}, "field 'published' is date; compare it with an ISO date"),
        ({"reviewed": {"$gt": True}}, "$gt needs an ordered field; 'reviewed' is boolean"),
        ({"year": {"$between": [1, 2]}}, "unknown operator '$between' for field 'year'"),
        ({"$nor": []}, "unknown operator '$nor' at the top of a filter"),
        ("year >= 2020 and", "malformed filter at column 17: unexpected end of the filter"),
        ("year >> 2020", "malformed filter at column 7"),
    ],
)
def test_bad_filters_say_what_is_wrong(filtered, filter, expected):
    searcher, _ = filtered
    with pytest.raises(FilterError, match=None) as caught:
        searcher.search("river", filter=filter)
    assert expected in str(caught.value)


def test_store_filters_are_parameterised(tmp_path):
    """The SQL a filter compiles to holds no filter text: values and field names are bound parameters."""
    from index.filters import to_sql

    sql, params = to_sql(
        {"name": {"$in": ["x'); DROP TABLE documents; --"]}, "$or": [{"n": {"$gt": 1}}, {"name": {"$contains": "%"}}]},
        {"name": "string", "n": "integer"},
    )
    assert "DROP" not in sql and "name" not in sql and "%" not in sql
    assert params == ["name", "x'); DROP TABLE documents; --", "n", 1, "name", "%"]
    with sqlite3.connect(":memory:") as conn:  # the condition is valid SQL over the store's tables
        conn.executescript(
            "CREATE TABLE documents (row_id INTEGER PRIMARY KEY); CREATE TABLE metadata_values (row_id, field, value);"
        )
        conn.execute(sql, params).fetchall()


def test_filters_are_bounded_in_conditions_and_nesting_not_by_recursion_or_sqlite():
    """256 conditions and 32 levels pass, one more is a FilterError saying which bound, in both spellings; no
    RecursionError however long the text, and no compound select over SQLite's 500."""
    from index.filters import MAX_CONDITIONS, MAX_DEPTH, to_sql
    from index.where import parse_where

    types = {"year": "integer", "draft": "boolean"}
    widest = " or ".join(f"year = {y}" for y in range(MAX_CONDITIONS))
    assert len(parse_where(widest)["$or"]) == MAX_CONDITIONS and to_sql(parse_where(widest), types)
    deepest = "not " * MAX_DEPTH + "draft"
    assert to_sql(parse_where(deepest), types)
    for text, message in [
        (widest + " or year = 0", "more than 256 conditions"),
        ("not " * (MAX_DEPTH + 1) + "draft", "deeper than 32"),
        ("not " * 5_000 + "draft", "deeper than 32"),
        ("draft and " * 30_000 + "draft", "over the limit of 100,000"),
    ]:
        with pytest.raises(FilterError, match=message):
            parse_where(text)
    for document, message in [
        ({"$or": [{}] * 600}, "at most 256 filters, got 600"),
        ({"$and": [{"year": {"$gte": y, "$lt": y + 1}} for y in range(200)]}, "more than 256 conditions"),
        ({"year": 2**63}, "64-bit range"),
        ({"year": {"$in": [1, float("inf")]}}, "non-finite"),
    ]:
        with pytest.raises(FilterError, match=message):
            to_sql(document, types)
