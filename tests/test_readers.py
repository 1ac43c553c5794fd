"""Corpus readers: every supported format, configurable fields, and each kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.config import BuildConfig
from retrieval.corpus.readers import CorpusError, ReadStats, read_corpus

ROWS = [
    {"_id": "d1", "title": "Alpha", "text": "First document.", "lang": "en"},
    {"_id": "d2", "title": "", "text": "Second document, no title."},
    {"_id": "d3", "title": "Gamma", "text": "Ünïcödé text — with 日本語."},
]


def read(source, hf_dataset: bool = False, **settings):
    stats = ReadStats()
    docs = list(read_corpus(source, BuildConfig(**settings), stats, hf_dataset=hf_dataset))
    return docs, stats


def write_jsonl(path: Path, rows, extra_lines=()) -> Path:
    lines = [json.dumps(r, ensure_ascii=False) for r in rows] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_rows(docs) -> None:
    assert [d.id for d in docs] == ["d1", "d2", "d3"]
    assert [d.title for d in docs] == ["Alpha", "", "Gamma"]
    assert docs[2].text == "Ünïcödé text — with 日本語."
    assert docs[0].full_text == "Alpha First document."
    assert docs[1].full_text == "Second document, no title."


def test_jsonl_file_and_beir_folder(tmp_path):
    path = write_jsonl(tmp_path / "corpus.jsonl", ROWS)
    docs, stats = read(path)
    assert_rows(docs)
    assert docs[0].metadata == {"lang": "en"}
    assert docs[0].source == f"{path}:1"
    assert stats.read == 3
    assert_rows(read(tmp_path)[0])  # a folder holding corpus.jsonl is a BEIR folder


@pytest.mark.parametrize("suffix, delimiter", [(".csv", ","), (".tsv", "\t")])
def test_csv_and_tsv(tmp_path, suffix, delimiter):
    import csv

    path = tmp_path / f"corpus{suffix}"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["_id", "title", "text"], delimiter=delimiter, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(ROWS)
    assert_rows(read(path)[0])


def test_csv_quoted_newlines_keep_line_numbers(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('id,text\na,"two\nlines"\nb,plain\n', encoding="utf-8")
    docs, _ = read(path)
    assert [(d.id, d.text) for d in docs] == [("a", "two\nlines"), ("b", "plain")]
    assert docs[1].source.endswith(":4")


def test_parquet_streams_in_batches(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "corpus.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path, row_group_size=1)
    docs, _ = read(path, read_batch_size=1)
    assert_rows(docs)


def test_text_folder_ids_are_relative_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("plain text file", encoding="utf-8")
    (tmp_path / "sub" / "b.md").write_text("# Heading B\n\nMarkdown body", encoding="utf-8")
    (tmp_path / "ignored.bin").write_bytes(b"\x00\x01")
    docs, _ = read(tmp_path)
    assert [(d.id, d.title) for d in docs] == [("a.txt", "a"), ("sub/b.md", "Heading B")]
    assert docs[1].text == "# Heading B\n\nMarkdown body"


def test_hf_dataset_saved_to_disk_reads_offline(tmp_path):
    import datasets

    saved = tmp_path / "hf"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS)}).save_to_disk(str(saved))
    docs, _ = read(str(saved), hf_dataset=True, split="train")
    assert_rows(docs)
    with pytest.raises(CorpusError, match=r"splits \['train'\]. Choose one with split='NAME'"):
        read(str(saved), hf_dataset=True, split="test")


def test_configurable_field_names(tmp_path):
    rows = [{"pid": 7, "body": "text seven", "heading": "Seven"}]
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    docs, _ = read(path, id_field="pid", text_field="body", title_field="heading")
    assert (docs[0].id, docs[0].text, docs[0].title) == ("7", "text seven", "Seven")


def test_plain_id_field_is_found_without_configuration(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"id": "x", "text": "t"}])
    assert read(path)[0][0].id == "x"


def test_malformed_json_names_file_and_line(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", ROWS[:2], extra_lines=['{"_id": "bad", "text": '])
    with pytest.raises(CorpusError) as info:
        read(path)
    assert f"{path}: line 3: malformed JSON" in str(info.value)
    assert "skip_invalid=True" in str(info.value)


def test_skip_invalid_counts_skipped_records(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", ROWS, extra_lines=["not json", '["a list"]', '{"_id": "n", "body": "x"}'])
    docs, stats = read(path, skip_invalid=True)
    assert [d.id for d in docs] == ["d1", "d2", "d3"]
    assert stats.skipped_invalid == 3
    assert "line 4" in stats.examples[0]


def test_missing_fields_name_the_field_and_what_was_found(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "body": "x", "heading": "h"}])
    with pytest.raises(
        CorpusError, match=r"missing field 'text' \(fields found: _id, body, heading\).*text_field='FIELD'"
    ):
        read(path)
    path = write_jsonl(tmp_path / "d.jsonl", [{"key": "a", "text": "x"}])
    with pytest.raises(CorpusError, match=r"missing field '_id/id' \(fields found: key, text\).*id_field='FIELD'"):
        read(path)


def test_empty_text_is_skipped_and_counted(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", ROWS + [{"_id": "e", "text": "   "}, {"_id": "f", "text": None}])
    docs, stats = read(path)
    assert len(docs) == 3
    assert (stats.read, stats.skipped_empty) == (5, 2)


def test_invalid_utf8_reports_byte_offset(tmp_path):
    first = (json.dumps(ROWS[0]) + "\n").encode()
    bad = b'{"_id": "x", "text": "caf\xe9"}\n'
    path = tmp_path / "c.jsonl"
    path.write_bytes(first + bad)
    with pytest.raises(CorpusError) as info:
        read(path)
    offset = len(first) + bad.index(b"\xe9")
    assert f"line 2: invalid UTF-8 byte 0xe9 at byte offset {offset}" in str(info.value)
    assert "encoding_errors='replace'" in str(info.value)


def test_invalid_utf8_replaced_with_warning_count(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"_id": "x", "text": "caf\xe9 au lait"}\n')
    docs, stats = read(path, encoding_errors="replace")
    assert docs[0].text == "caf\ufffd au lait"
    assert stats.replaced_encoding == 1


def test_unknown_format_and_missing_path(tmp_path):
    (tmp_path / "corpus.xml").write_text("<a/>")
    with pytest.raises(CorpusError, match="Cannot tell the format"):
        read(tmp_path / "corpus.xml")
    with pytest.raises(CorpusError, match="does not exist"):
        read(tmp_path / "nope.jsonl")


def test_reading_is_lazy(tmp_path):
    """Documents are yielded one by one: a bad line far down is not touched until reached."""
    path = write_jsonl(tmp_path / "c.jsonl", ROWS, extra_lines=["broken"])
    stream = read_corpus(path, BuildConfig(), ReadStats())
    assert next(stream).id == "d1"


def test_benchmark_readers_split_records_at_newlines_only(tmp_path):
    """NEL (U+0085), LINE SEPARATOR (U+2028) and form feeds are characters of a passage, not line breaks: every
    benchmark reads corpora, queries and query lists through the project's readers, which split at newlines only."""
    from eval.beir import read_corpus_records
    from eval.bench.scale import corpus_documents
    from eval.bench.serve import read_queries
    from retrieval.corpus.readers import read_lines

    odd = "first\u0085second\u2028third\x0cfourth\rfifth"
    root = tmp_path / "beir"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(
            json.dumps({"_id": f"d{i}", "title": "", "text": f"{odd} {i}"}, ensure_ascii=False) + "\n" for i in range(3)
        ),
        encoding="utf-8",
    )
    (root / "queries.jsonl").write_text(
        json.dumps({"_id": "q", "text": f"which {odd}"}, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq\td1\t1\n", encoding="utf-8")
    assert [r["text"] for r in read_corpus_records(root / "corpus.jsonl")] == [f"{odd} {i}" for i in range(3)]
    assert corpus_documents(root)["d2"].text == f"{odd} 2"
    assert read_queries(root, 10) == [f"which {odd}"]
    listed = tmp_path / "queries.txt"
    listed.write_bytes(f"one {odd}\r\ntwo\n".encode())
    assert read_lines(listed) == [f"one {odd}", "two", ""] and read_queries(listed, 10) == [f"one {odd}".strip(), "two"]
    listed.write_bytes(b"bad \xff\n")
    with pytest.raises(CorpusError, match=r"queries.txt is not UTF-8 text \(byte offset 4\)"):
        read_lines(listed)
