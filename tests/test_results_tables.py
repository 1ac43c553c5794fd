"""Result tables in the documentation are generated from the JSON under eval/results/, and stay in step with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eval.results_tables import TableError, render, update

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "eval" / "results"


def test_a_marked_table_is_generated_from_its_results_file(tmp_path):
    (tmp_path / "bench.json").write_text(
        json.dumps(
            {
                "results": [
                    {"variant": "onnx", "docs_per_second": 61.25, "metrics": {"ndcg@10": 0.64512}, "tokens": 1242251},
                    {"variant": "a|b", "docs_per_second": None, "metrics": {"ndcg@10": 0.5}, "tokens": 7},
                ]
            }
        )
    )
    marker = "<!-- table: bench.json | variant | docs/s = docs_per_second | nDCG@10 = metrics.ndcg@10 | tokens -->"
    text = f"before\n{marker}\nstale\n<!-- /table -->\nafter\n"
    assert render(text, tmp_path) == (
        f"before\n{marker}\n"
        "| variant | docs/s | nDCG@10 | tokens |\n|---|---:|---:|---:|\n"
        "| onnx | 61.2 | 0.6451 | 1,242,251 |\n| a\\|b | - | 0.5000 | 7 |\n<!-- /table -->\nafter\n"
    )


def test_a_column_can_be_each_rows_ratio_to_the_first_or_formatted_as_asked(tmp_path):
    (tmp_path / "bench.json").write_text(
        json.dumps({"results": [{"v": "base", "rate": 32.0}, {"v": "new", "rate": 64.1}]})
    )
    marker = "<!-- table: bench.json | v | rate | vs base = rate / first | ms = rate:.2f -->"
    rendered = render(f"{marker}\n<!-- /table -->", tmp_path)
    assert "| base | 32.0 | 1.00x | 32.00 |\n| new | 64.1 | 2.00x | 64.10 |" in rendered


@pytest.mark.parametrize(
    "marker, problem",
    [
        ("missing.json | a", "does not exist"),
        ("bench.json | no.such.field", "there is no 'no' on the way to 'no.such.field'"),
        ("bench.json | a:.2f%x", "cannot format 1 as '.2f%x'"),
        ("bench.json", "names no columns"),
    ],
)
def test_bad_markers_say_which_and_why(tmp_path, marker, problem):
    (tmp_path / "bench.json").write_text(json.dumps({"results": [{"a": 1}]}))
    with pytest.raises(TableError, match=problem):
        render(f"<!-- table: {marker} -->\n<!-- /table -->", tmp_path)


def test_a_cell_template_fills_each_reference_from_the_file_last_named(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "a.json").write_text(
        json.dumps({"metrics": {"ndcg@10": 0.71234}, "ms": 5.25, "bytes": 3 << 20})
    )
    scale = {"search": [{"where": "in process", "shards": 2, "p50_ms": 8.46}, {"where": "serve", "shards": 2}]}
    (tmp_path / "runs" / "b.json").write_text(json.dumps(scale))
    template = (
        "| run | nDCG@10 | ms | MiB | p50 |\n|---|---:|---:|---:|---:|\n"
        "| a | **{a.json metrics.ndcg@10}** | {ms:.2f} | {bytes / 1048576:.1f} "
        "| {b.json search.[where=in process,shards=2].p50_ms:.1f} |\n"
    )
    text = f"<!-- cells: runs/\n{template}-->\nstale\n<!-- /table -->\n"
    assert render(text, tmp_path) == (
        f"<!-- cells: runs/\n{template}-->\n"
        "| run | nDCG@10 | ms | MiB | p50 |\n|---|---:|---:|---:|---:|\n"
        "| a | **0.7123** | 5.25 | 3.0 | 8.5 |\n<!-- /table -->\n"
    )


@pytest.mark.parametrize(
    "row, problem",
    [
        ("| {metrics.ndcg@10} |", "names no file, and no earlier reference does"),
        ("| {missing.json x} |", "does not exist"),
        ("| {a.json search.[shards=3].p50_ms} |", "0 items match"),
        ("| {a.json metrics.mrr@10} |", "no 'mrr@10' on the way"),
        ("| {a.json search.[shards].p50_ms} |", r"a selector is \[key=value,...\], not \[shards\]"),
        ("| {a.json metrics.ndcg@10 / kilo} |", "cannot divide 0.5 by 'kilo'"),
    ],
)
def test_bad_cell_references_say_which_and_why(tmp_path, row, problem):
    (tmp_path / "a.json").write_text(json.dumps({"metrics": {"ndcg@10": 0.5}, "search": [{"shards": 2}]}))
    with pytest.raises(TableError, match=problem):
        render(f"<!-- cells:\n{row}\n-->\n<!-- /table -->", tmp_path)


def test_update_rewrites_only_a_stale_file_and_keeps_its_permissions(tmp_path):
    (tmp_path / "bench.json").write_text(json.dumps({"results": [{"a": 1}]}))
    document = tmp_path / "page.md"
    document.write_text("intro\n<!-- table: bench.json | a -->\nstale\n<!-- /table -->\n")
    document.chmod(0o640)
    assert update(document, tmp_path, write=False) and "stale" in document.read_text(), "a check writes nothing"
    assert update(document, tmp_path)
    assert document.read_text() == "intro\n<!-- table: bench.json | a -->\n| a |\n|---:|\n| 1 |\n<!-- /table -->\n"
    assert document.stat().st_mode & 0o777 == 0o640 and [p.name for p in tmp_path.iterdir()] == [
        "bench.json",
        "page.md",
    ]
    assert not update(document, tmp_path), "an up-to-date file is left alone"


def test_the_readme_and_docs_tables_match_the_published_results():
    documents = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    assert "<!-- table: report -->" in (REPO / "README.md").read_text()
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "eval", "tables", *map(str, documents), "--results", str(RESULTS), "--check"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
