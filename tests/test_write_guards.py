"""Commands that would damage an index shared by many users are refused with one line, and the index is unchanged:
writes into one shard of a sharded index, a shard copy over another index or inside its source, tuning with another
corpus's judgments, filters and metadata beyond what SQLite holds, impossible ports."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.cli import app
from index.format import read_manifest, version_stamp
from index.shard_folders import shard_index
from index.verify import verify_index

from conftest import shared_dataset, write_beir_slice


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result, *expected: str) -> str:
    """The command failed with an error line (wrapped to the terminal's width, no traceback) holding every ``expected``
    text."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.output.lstrip().startswith("Error"), result.output
    text = " ".join(result.output.split())
    for part in expected:
        assert part in text, text
    return text


@pytest.fixture
def sharded(copy_of_small_index, tmp_path):
    """A two-shard copy of the small index, and the whole it was cut from."""
    target = tmp_path / "sharded"
    shard_index(copy_of_small_index, target, 2)
    return target, copy_of_small_index


def test_writes_into_one_shard_are_refused_and_the_index_still_verifies(sharded, tmp_path, dbpedia_small):
    target, _ = sharded
    stamp = version_stamp(target / "shard-000")
    corpus = tmp_path / "more.jsonl"
    corpus.write_text(json.dumps({"_id": "more", "text": "A new document."}) + "\n")
    one_line_error(
        cli("add", target / "shard-000", corpus),
        "is shard shard-000 of the sharded index",
        f"run the command on {target}",
    )
    one_line_error(cli("delete", target / "shard-001", "--ids", "x"), "is shard shard-001 of the sharded index")
    one_line_error(cli("compact", target / "shard-001"), "is shard shard-001")
    one_line_error(cli("build", dbpedia_small, "--index", target / "shard-000"), "is shard shard-000")
    assert version_stamp(target / "shard-000") == stamp
    assert all(check.ok for check in verify_index(target))


def test_shard_never_replaces_another_index_unless_asked_nor_writes_inside_its_source(
    sharded, copy_index, small_index, tmp_path
):
    target, whole = sharded
    other = copy_index(small_index, "other")
    before = read_manifest(other)
    one_line_error(cli("shard", whole, "--out", other, "--shards", "2"), "it holds an index already", "pass --replace")
    assert read_manifest(other) == before and all(check.ok for check in verify_index(other))
    one_line_error(cli("shard", whole, "--out", whole / "sub", "--shards", "2"), "it is inside the index")
    assert not (whole / "sub").exists() and all(check.ok for check in verify_index(whole))
    done = cli("shard", whole, "--out", other, "--shards", "3", "--replace")
    assert done.exit_code == 0, done.output
    assert len(read_manifest(other).shards) == 3 and all(check.ok for check in verify_index(other))
    documents = read_manifest(whole).documents.count
    for shards in (1, documents + 1):
        one_line_error(
            cli("shard", whole, "--out", tmp_path / "new", "--shards", shards),
            f"--shards must be from 2 to {documents:,} (the index's documents), got {shards}",
        )


def test_tune_refuses_judgments_of_another_corpus_and_never_applies_a_worse_setting(copy_of_small_index, tmp_path):
    scifact = write_beir_slice(shared_dataset("scifact"), tmp_path / "scifact", 3, 10)
    before = read_manifest(copy_of_small_index)
    one_line_error(
        cli("tune", copy_of_small_index, scifact, "--folds", "2", "--apply"),
        "the index holds none of the",
        "documents that",
        "judges relevant",
    )
    assert read_manifest(copy_of_small_index) == before


@pytest.fixture
def typed_index(tmp_path, minilm):
    """A dense index of three documents with an integer field ``year``."""
    from retrieval.build.builder import build_index
    from retrieval.config import BuildConfig

    corpus = tmp_path / "typed.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"_id": f"d{y}", "text": f"A chronicle of {y}.", "year": y}) + "\n" for y in (1999, 2020, 2024)
        )
    )
    build_index(corpus, tmp_path / "typed", BuildConfig(model="minilm"), encoder=minilm, progress=False)
    return tmp_path / "typed"


def test_filters_and_metadata_beyond_sqlite_are_one_line_errors(tmp_path, typed_index):
    stamp = version_stamp(typed_index)
    corpus = tmp_path / "numbers.jsonl"
    corpus.write_text('{"_id": "a", "text": "first", "year": 2001}\n{"_id": "b", "text": "second", "size": NaN}\n')
    one_line_error(cli("add", typed_index, corpus), "numbers.jsonl:2", "non-finite number", "Fix these documents")
    corpus.write_text('{"_id": "a", "text": "first", "year": 99999999999999999999999}\n')
    one_line_error(cli("add", typed_index, corpus), "numbers.jsonl:1", "64-bit")
    assert version_stamp(typed_index) == stamp and all(check.ok for check in verify_index(typed_index))
    for where, detail in [
        ("year = 99999999999999999999999", "64-bit"),
        (" or ".join(["year = 1"] * 520), "more than 256 conditions"),
        ("not " * 3000 + "year exists", "nests deeper than 32"),
        ("year > 'abc'", "compare it with a number"),
    ]:
        one_line_error(cli("search", typed_index, "a chronicle", "--where", where), detail)
    one_line_error(
        cli("search", typed_index, "a chronicle", "--filter", json.dumps({"$or": [{"year": y} for y in range(600)]})),
        "$or takes at most 256 filters, got 600",
    )
    one_line_error(cli("search", typed_index, "a chronicle", "--filter", '{"year": {"$gt": -1e400}}'), "non-finite")


@pytest.mark.parametrize("command", [["serve", "IDX"], ["app"], ["demo", "--no-serve"]])
@pytest.mark.parametrize("port", ["75051", "0", "-1"])
def test_ports_outside_1_to_65535_are_refused_before_anything_starts(command, port):
    result = cli(*command, "--port", port)
    bound = "less than or equal to 65535" if int(port) > 1 else "greater than or equal to 1"
    assert result.exit_code == 2 and "Invalid value for '--port'" in result.output and bound in result.output, (
        result.output
    )
    assert "Traceback" not in result.output and "http://" not in result.output
