"""The modernsearch command as a user runs it: real subprocesses, real index folders, readable errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

ENV = {**os.environ, "COLUMNS": "160"}


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    process = subprocess.run(
        [sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, env=ENV, timeout=600
    )
    if check:
        assert process.returncode == 0, process.stderr
    return process


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory, dbpedia_small):
    folder = tmp_path_factory.mktemp("cli") / "idx"
    process = run("build", str(dbpedia_small), "--index", str(folder), "--model", "minilm")
    return folder, process


@pytest.mark.slow
def test_build_prints_a_summary_with_progress(cli_index, dbpedia_small):
    folder, process = cli_index
    n_docs = len((dbpedia_small / "corpus.jsonl").read_text().splitlines())
    summary_line = next(line for line in process.stdout.splitlines() if "documents indexed" in line)
    assert f"{n_docs:,}" in summary_line
    assert "docs/s" in process.stdout and "index size" in process.stdout
    assert "Encoding" in process.stderr and "doc/s" in process.stderr  # the tqdm bar: rate and ETA
    assert (folder / "manifest.json").exists()


def test_search_json_output(cli_index, dbpedia_small):
    folder, _ = cli_index
    query = json.loads((dbpedia_small / "queries.jsonl").read_text().splitlines()[0])["text"]
    payload = json.loads(run("search", str(folder), query, "-k", "5", "--json").stdout)
    assert payload["query"] == query
    assert len(payload["results"]) == 5
    assert set(payload["results"][0]) == {"id", "score", "title", "text", "metadata", "components"}
    assert payload["results"][0]["components"] == {"dense": payload["results"][0]["score"]}
    assert set(payload["timings_ms"]) == {"encode", "search", "total"}


@pytest.mark.slow
def test_hybrid_search_with_rerank_reports_every_stage(small_index):
    payload = json.loads(
        run(
            "search",
            str(small_index),
            "guitar chord tuning",
            "-k",
            "4",
            "--mode",
            "hybrid",
            "--fusion",
            "linear",
            "--alpha",
            "0.3",
            "--rerank",
            "multivector",
            "--json",
        ).stdout
    )
    assert len(payload["results"]) == 4
    assert all({"fused", "maxsim"} <= set(r["components"]) for r in payload["results"])
    assert all(r["score"] == r["components"]["maxsim"] for r in payload["results"])
    assert set(payload["timings_ms"]) == {"encode", "search", "rerank", "total"}
    table = run("search", str(small_index), "guitar chord tuning", "-k", "3", "--rerank", "multivector").stdout
    assert "maxsim" in table and "fused" in table and "rerank" in table


@pytest.mark.slow
def test_eval_beir_compares_configurations_in_one_table(small_index, dbpedia_small, tmp_path):
    output = run(
        "eval",
        "beir",
        str(dbpedia_small),
        "--index",
        str(small_index),
        "--mode",
        "bm25",
        "--mode",
        "dense",
        "--mode",
        "hybrid",
        "--mode",
        "hybrid+rerank",
        "--out-dir",
        str(tmp_path),
    ).stdout
    for row in ("bm25", "dense", "hybrid-linear", "hybrid-linear+rerank"):
        assert f"│ {row} " in output
    reports = {json.loads(p.read_text())["mode"]: json.loads(p.read_text()) for p in tmp_path.glob("*.json")}
    assert set(reports) == {"bm25", "dense", "hybrid-linear", "hybrid-linear+rerank"}
    assert re.search(r"> MV\d+,PQ$", reports["hybrid-linear+rerank"]["factory"])
    assert all(r["n_queries"] == 5 and 0 < r["metrics"]["ndcg@10"] <= 1 for r in reports.values())


def test_search_table_output(cli_index):
    folder, _ = cli_index
    output = run("search", str(folder), "american politician", "-k", "3").stdout
    assert "score" in output and "snippet" in output and "<dbpedia:" in output


def test_info_prints_the_manifest(cli_index):
    folder, _ = cli_index
    output = run("info", str(folder)).stdout
    for expected in (
        "sentence-transformers/all-MiniLM-L6-v2",
        "384",
        "IDMap2,Flat",
        "dense",
        "format version",
        "created",
    ):
        assert expected in output
    assert json.loads(run("info", str(folder), "--json").stdout)["format_version"] == 3


def test_verbose_and_quiet_set_how_much_the_library_logs(cli_index):
    import logging

    from typer.testing import CliRunner

    from app.cli import app

    folder, _ = cli_index
    levels = {}
    for flags in ([], ["--quiet"], ["--verbose"]):
        assert CliRunner().invoke(app, [*flags, "verify", str(folder)]).exit_code == 0
        levels[" ".join(flags)] = logging.getLogger("retrieval").getEffectiveLevel()
    assert levels == {"": logging.INFO, "--quiet": logging.WARNING, "--verbose": logging.DEBUG}
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import logging, app.commands.console as c; c.configure_logging(logging.WARNING); "
            "log = logging.getLogger('retrieval.build.builder'); log.info('hidden'); log.warning('shown')",
        ],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert shown.stderr.strip() == "WARNING: shown"


def test_eval_beir_writes_a_report_with_per_query_values(cli_index, dbpedia_small, tmp_path):
    folder, _ = cli_index
    report_path = tmp_path / "report.json"
    output = run("eval", "beir", str(dbpedia_small), "--index", str(folder), "--out", str(report_path)).stdout
    assert "ndcg@10" in output and "recall@100" in output and "mrr@10" in output
    report = json.loads(report_path.read_text())
    assert report["n_queries"] == 5 and len(report["per_query"]) == 5
    assert 0.0 < report["metrics"]["ndcg@10"] <= 1.0


@pytest.mark.parametrize(
    "args, message",
    [
        (("search", "/nonexistent/idx", "q"), "No index at /nonexistent/idx"),
        (("info", "/nonexistent/idx"), "No index at /nonexistent/idx"),
        (("build", "/nonexistent/corpus.jsonl", "--index", "/tmp/x", "--model", "minilm"), "does not exist"),
        (("eval", "beir", "/nonexistent"), "Give either --index DIR"),
        (
            ("eval", "beir", "/nonexistent", "--model", "minilm", "--mode", "hybrid+bm25"),
            "Unknown configuration 'hybrid+bm25'",
        ),
        (("search", "/nonexistent/idx", "q", "--fusion", "max"), "fusion must be one of linear, rrf"),
        (
            ("bench", "scale", "/nonexistent", "--workers", "one"),
            "--workers takes comma-separated whole numbers of at least 1",
        ),
        (
            ("bench", "scale", "/nonexistent", "--shards", "2,0"),
            "--shards takes comma-separated whole numbers of at least 1",
        ),
        (("bench", "codecs", "/nonexistent", "--centroids", "x"), "--centroids takes comma-separated whole numbers"),
    ],
)
def test_errors_are_one_clear_line_without_traceback(args, message):
    process = run(*args, check=False)
    assert process.returncode == 1
    assert message in process.stderr
    assert "Traceback" not in process.stderr


@pytest.mark.slow
def test_bad_corpus_line_is_reported_by_the_cli(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"_id": "a", "text": "fine"}\n{"_id": "b", "text": \n')
    process = run("build", str(corpus), "--index", str(tmp_path / "idx"), "--model", "minilm", check=False)
    assert process.returncode == 1
    assert "line 2: malformed JSON" in process.stderr and "Traceback" not in process.stderr
    assert not (tmp_path / "idx").exists()
