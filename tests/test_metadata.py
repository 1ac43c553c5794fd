"""Typed metadata at build time: inferred from the first batch, enforced after, kept consistent by every update."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from index.docstore import DocumentStore
from index.verify import verify_index
from retrieval.build.builder import build_index
from retrieval.build.compaction import compact_index
from retrieval.build.updater import add_documents, delete_documents
from retrieval.config import BuildConfig
from retrieval.corpus.readers import CorpusError
from retrieval.search.searcher import Searcher

RECORDS = [
    {
        "_id": "a",
        "text": "The Danube flows to the Black Sea.",
        "year": 2019,
        "score": 3,
        "draft": False,
        "team": "finance",
        "published": "2019-05-01",
        "seen": "2019-05-01T10:00:00+02:00",
        "tags": ["rivers", "europe"],
        "extra": {"k": 1},
    },
    {
        "_id": "b",
        "text": "The Alps have high peaks and glaciers.",
        "year": 2021,
        "score": 4.5,
        "draft": True,
        "team": "legal",
        "published": "2021-01-31",
        "seen": "2021-01-31T08:00:00Z",
        "tags": ["mountains"],
        "extra": {"k": 2},
    },
    {
        "_id": "c",
        "text": "Jazz began in New Orleans.",
        "year": 2024,
        "score": 5,
        "draft": False,
        "team": "finance",
        "published": "2024-07-04",
        "seen": "2024-07-04T00:00:00",
        "tags": [],
        "extra": None,
    },
]
TYPES = {
    "year": "integer",
    "score": "float",
    "draft": "boolean",
    "team": "string",
    "published": "date",
    "seen": "datetime",
    "tags": "list",
    "extra": "json",
}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def types_of(index: Path) -> dict[str, str]:
    store = DocumentStore.open(index / "documents.sqlite")
    try:
        return store.metadata_types()
    finally:
        store.close()


def test_jsonl_fields_get_types_and_values_are_normalised(tmp_path, minilm):
    build_index(
        write_jsonl(tmp_path / "c.jsonl", RECORDS),
        tmp_path / "idx",
        BuildConfig(model="minilm"),
        encoder=minilm,
        progress=False,
    )
    assert types_of(tmp_path / "idx") == TYPES
    searcher = Searcher.load(tmp_path / "idx", encoder=minilm)
    hit = searcher.search("Danube", k=1).hits[0]
    assert hit.metadata["score"] == 3.0 and isinstance(hit.metadata["score"], float)
    assert hit.metadata["seen"] == "2019-05-01T08:00:00Z", "aware datetimes are stored in UTC"
    assert searcher.search("river", k=3, filter="seen >= '2019-05-01T09:00:00+02:00' and seen < '2021-01-31'").ids == [
        "a"
    ]
    assert set(searcher.search("river", k=3, filter={"extra": {"$exists": True}}).ids) == {"a", "b"}
    assert searcher.search("river", k=3, filter={"score": {"$gt": 4}, "tags": "mountains"}).ids == ["b"]
    assert all(check.ok for check in verify_index(tmp_path / "idx"))


def test_a_later_value_of_another_type_names_file_line_field_and_types(tmp_path, minilm):
    bad = [*RECORDS, {"_id": "d", "text": "Late.", "year": "twenty twenty", "team": "x"}]
    corpus = write_jsonl(tmp_path / "c.jsonl", bad)
    with pytest.raises(CorpusError) as caught:
        build_index(
            corpus, tmp_path / "idx", BuildConfig(model="minilm", read_batch_size=2), encoder=minilm, progress=False
        )
    assert str(caught.value).startswith(
        f"{corpus}:4: field 'year' holds a string 'twenty twenty'; the field's type is integer"
    )
    assert "on_type_error='null'" in str(caught.value)
    assert not (tmp_path / "idx").exists()

    build_index(
        corpus,
        tmp_path / "nulled",
        BuildConfig(model="minilm", read_batch_size=2, on_type_error="null"),
        encoder=minilm,
        progress=False,
    )
    searcher = Searcher.load(tmp_path / "nulled", encoder=minilm)
    assert len(searcher) == 4 and searcher.search("Late", k=1, filter="team = 'x'").hits[0].metadata == {"team": "x"}
    build_index(
        corpus,
        tmp_path / "skipped",
        BuildConfig(model="minilm", read_batch_size=2, on_type_error="skip"),
        encoder=minilm,
        progress=False,
    )
    assert len(Searcher.load(tmp_path / "skipped", encoder=minilm)) == 3


@pytest.mark.slow
def test_the_cli_spells_the_type_error_remedy_as_flags(tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x", "n": 1}, {"_id": "b", "text": "y", "n": [1]}])
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "build", str(corpus), "--index", str(tmp_path / "idx"), "--model", "minilm"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert done.returncode == 1
    assert f"{corpus}:2: field 'n' holds an object [1]; the field's type is integer" in done.stderr
    assert "--on-type-error null" in done.stderr and "on_type_error" not in done.stderr


def test_table_cells_are_typed_by_their_spelling(tmp_path, minilm):
    path = tmp_path / "c.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "year", "zip", "price", "ok", "day", "note"])
        writer.writerow(["1", "first text", "2020", "02139", "1.5", "true", "2024-01-02", "n/a"])
        writer.writerow(["2", "second text", "2021", "10001", "2", "FALSE", "2024-02-03", "12"])
        writer.writerow(["3", "third text", "", "94103", "", "false", "", ""])
    build_index(path, tmp_path / "idx", BuildConfig(model="minilm"), encoder=minilm, progress=False)
    assert types_of(tmp_path / "idx") == {
        "year": "integer",
        "zip": "string",
        "price": "float",
        "ok": "boolean",
        "day": "date",
        "note": "string",
    }
    searcher = Searcher.load(tmp_path / "idx", encoder=minilm)
    assert searcher.search("text", k=3, filter="year >= 2021").ids == ["2"]
    assert searcher.search("text", k=3, filter={"zip": "02139"}).ids == ["1"]
    assert searcher.search("text", k=3, filter="year exists").hits[0].metadata in (
        {"year": 2020, "zip": "02139", "price": 1.5, "ok": True, "day": "2024-01-02", "note": "n/a"},
        {"year": 2021, "zip": "10001", "price": 2.0, "ok": False, "day": "2024-02-03", "note": "12"},
    )


def test_text_folders_get_path_extension_size_and_modification_time(tmp_path, minilm):
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("# Rivers\nThe Danube is long.\n", encoding="utf-8")
    (folder / "sub" / "b.txt").write_text("Mountains are high.\n", encoding="utf-8")
    os.utime(folder / "a.md", (1_700_000_000, 1_700_000_000))
    build_index(folder, tmp_path / "idx", BuildConfig(model="minilm"), encoder=minilm, progress=False)
    assert types_of(tmp_path / "idx") == {
        "path": "string",
        "extension": "string",
        "size_bytes": "integer",
        "modified": "datetime",
    }
    searcher = Searcher.load(tmp_path / "idx", encoder=minilm)
    hit = searcher.search("Danube", k=1, filter={"extension": ".md"}).hits[0]
    size = (folder / "a.md").stat().st_size
    assert hit.metadata == {"path": "a.md", "extension": ".md", "size_bytes": size, "modified": "2023-11-14T22:13:20Z"}
    assert searcher.search("anything", k=5, filter="modified < '2024-01-01'").ids == ["a.md"]


def test_metadata_fields_keeps_a_subset_and_no_metadata_none(tmp_path, minilm):
    corpus = write_jsonl(tmp_path / "c.jsonl", RECORDS)
    build_index(
        corpus,
        tmp_path / "some",
        BuildConfig(model="minilm", metadata_fields="year, team"),
        encoder=minilm,
        progress=False,
    )
    assert types_of(tmp_path / "some") == {"year": "integer", "team": "string"}
    build_index(corpus, tmp_path / "none", BuildConfig(model="minilm", metadata=False), encoder=minilm, progress=False)
    assert types_of(tmp_path / "none") == {}
    searcher = Searcher.load(tmp_path / "none", encoder=minilm)
    assert searcher.search("river", k=1).hits[0].metadata == {}
    with pytest.raises(ValueError, match="unknown field 'year'; the index's metadata fields are: none"):
        searcher.search("river", filter="year > 1")


def test_updates_deletes_and_compaction_keep_metadata_consistent(tmp_path, minilm):
    index = tmp_path / "idx"
    build_index(
        write_jsonl(tmp_path / "c.jsonl", RECORDS), index, BuildConfig(model="minilm"), encoder=minilm, progress=False
    )
    more = write_jsonl(
        tmp_path / "more.jsonl",
        [
            {"_id": "a", "text": "The Danube flows to the Black Sea.", "year": 2025, "team": "legal", "region": "east"},
            {
                "_id": "e",
                "text": "The Rhine flows to the North Sea.",
                "year": 2022,
                "team": "finance",
                "region": "west",
            },
        ],
    )
    add_documents(index, more, upsert=True, encoder=minilm, progress=False)

    def ids(where: str) -> set[str]:
        return set(Searcher.load(index, encoder=minilm).search("river", k=10, filter=where).ids)

    assert (
        ids("year >= 2022") == {"a", "c", "e"} and ids("region = 'east'") == {"a"} and ids("draft exists") == {"b", "c"}
    )
    assert types_of(index)["region"] == "string"
    with pytest.raises(CorpusError, match="field 'year' holds a string"):
        add_documents(
            index,
            write_jsonl(tmp_path / "bad.jsonl", [{"_id": "f", "text": "x", "year": "soon"}]),
            encoder=minilm,
            progress=False,
        )
    delete_documents(index, ["a", "c"])
    assert ids("year >= 2022") == {"e"} and ids("region exists") == {"e"}
    assert all(check.ok for check in verify_index(index))
    compact_index(index, retrain="always", encoder=minilm, progress=False)
    assert types_of(index) == {**TYPES, "region": "string"}, "a rebuild keeps the field types"
    assert ids("year >= 2022") == {"e"} and ids("team = 'legal'") == {"b"}
    assert all(check.ok for check in verify_index(index))
