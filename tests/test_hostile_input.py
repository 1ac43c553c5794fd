"""Hostile input, property-based (hypothesis): corpus readers given arbitrary bytes and odd records, and
queries of any content and length, end in documents, results or a clear error that names the problem;
never another exception, a crash or a hang. Stored documents round-trip byte-exact through SQLite."""

from __future__ import annotations

import json
import math
import time
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from index.docstore import DocumentStore
from retrieval.config import BuildConfig
from retrieval.corpus.readers import CorpusError, ReadStats, read_corpus

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
STRICT = BuildConfig()
LENIENT = BuildConfig(skip_invalid=True, encoding_errors="replace")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
hostile_ids = st.text(min_size=1).map(lambda s: s + "/../\\\"'`;--\x00")
records = st.fixed_dictionaries(
    {"_id": hostile_ids | st.integers() | json_values, "text": st.text() | json_values},
    optional={"title": st.text() | json_values, "meta": json_values},
)


def read_all(path: Path, config: BuildConfig) -> list:
    """Read a whole corpus; a CorpusError must name the file it is about."""
    try:
        return list(read_corpus(path, config, ReadStats()))
    except CorpusError as err:
        assert str(path) in str(err), f"the error does not name the file: {err}"
        return []


@FUZZ
@given(
    data=st.binary(max_size=4096), suffix=st.sampled_from([".jsonl", ".csv", ".tsv", ".parquet"]), lenient=st.booleans()
)
@example(data=b"\x00" * 100, suffix=".jsonl", lenient=False)
@example(data=b"[" * 100_000, suffix=".jsonl", lenient=True)
@example(data=b'{"_id": "a", "text": "\xff\xfe"}\n', suffix=".jsonl", lenient=False)
@example(data=b'id,text\n"unterminated,x\n', suffix=".csv", lenient=False)
@example(data=b"PAR1" + b"\x00" * 64 + b"PAR1", suffix=".parquet", lenient=False)
def test_arbitrary_bytes_give_documents_or_a_clear_error(tmp_path_factory, data, suffix, lenient):
    path = tmp_path_factory.mktemp("bytes") / f"corpus{suffix}"
    path.write_bytes(data)
    for doc in read_all(path, LENIENT if lenient else STRICT):
        assert isinstance(doc.id, str) and doc.id and doc.text.strip()


@pytest.mark.slow
@FUZZ
@given(lines=st.lists(records | json_values, max_size=8))
def test_odd_json_records_give_documents_or_a_clear_error(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("records") / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    strict, lenient = read_all(path, STRICT), read_all(path, LENIENT)
    assert {d.id for d in strict} <= {d.id for d in lenient}, "skipping bad records never loses a good one"


@pytest.mark.slow
@FUZZ
@given(
    docs=st.lists(
        st.tuples(hostile_ids, st.text(min_size=1), st.text()), min_size=1, max_size=6, unique_by=lambda d: d[0]
    )
)
def test_documents_round_trip_through_the_store_byte_exact(tmp_path_factory, docs):
    from index.documents import Document

    store = DocumentStore.create(tmp_path_factory.mktemp("store") / "documents.sqlite")
    try:
        store.add([Document(i, text, title) for i, text, title in docs])
        back = store.get([int(r) for r in store.row_ids()])
        assert [(d.id, d.text, d.title) for d in back] == list(docs)
    finally:
        store.close()


def test_huge_lines_and_deep_nesting_in_one_file(tmp_path):
    path = tmp_path / "corpus.jsonl"
    huge = json.dumps({"_id": "huge", "text": "word " * 2_000_000})  # a 10 MB line
    deep = '{"_id": "deep", "text": ' + "[" * 50_000 + "]" * 50_000 + "}"
    path.write_text("\n".join([huge, deep, json.dumps({"_id": "ok", "text": "fine"})]) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"corpus.jsonl: line 2: .*skip_invalid=True"):
        list(read_corpus(path, STRICT, ReadStats()))
    stats = ReadStats()
    assert [d.id for d in read_corpus(path, LENIENT, stats)] == ["huge", "ok"] and stats.skipped_invalid == 1


# ---- queries ---------------------------------------------------------------------------------------------

BLANK_LETTERS = "\u115f\u1160\u3164\uffa0\u2800"  # letters and symbols that render as empty space


def visible(query: str) -> bool:
    """A character a person can see: a letter, number, punctuation, symbol or mark that is not a blank filler."""
    return any(unicodedata.category(c)[0] in "LNPSM" and c not in BLANK_LETTERS for c in query)


def check_query(small_searcher, query: str, mode: str) -> None:
    started = time.monotonic()
    try:
        result = small_searcher.search(query, k=5, mode=mode)
    except ValueError as err:
        assert not visible(query) and "no visible characters" in str(err), f"{query!r}: {err}"
        return
    assert visible(query), "a query without visible characters must be refused, not answered"
    assert len(result.hits) <= 5 and len({h.id for h in result.hits}) == len(result.hits)
    assert all(math.isfinite(h.score) for h in result.hits)
    assert time.monotonic() - started < 60, f"{mode} search of a {len(query):,}-character query took too long"


@pytest.mark.slow
@FUZZ
@given(query=st.text(max_size=300), mode=st.sampled_from(["hybrid", "dense", "multivector", "bm25"]))
@example(query="", mode="hybrid")
@example(query=" \t\n\r\x0b\x0c\u00a0\u2028\u3000", mode="dense")
@example(query="\x00\x01\x1b[31m\x7f", mode="bm25")
@example(query="Москва 東京 القاهرة मुंबई 🚀 e\u0301", mode="multivector")
@example(query="\ud7ff\ufffd\U0010ffff", mode="hybrid")
@example(query="\x00\x00\u200b\u200d\ufeff\u2060\u3164", mode="dense")
def test_any_query_gives_results_or_a_clear_error(small_searcher, query, mode):
    check_query(small_searcher, query, mode)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "multivector", "bm25"])
def test_a_one_megabyte_query_is_truncated_not_an_error(small_searcher, mode):
    check_query(small_searcher, "river city music " * 62_500, mode)  # 1 MB of text
