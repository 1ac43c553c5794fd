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


def test_a_column_can_be_each_rows_ratio_to_the_first(tmp_path):
    (tmp_path / "bench.json").write_text(
        json.dumps({"results": [{"v": "base", "rate": 32.0}, {"v": "new", "rate": 64.1}]})
    )
    marker = "<!-- table: bench.json | v | rate | vs base = rate / first -->"
    rendered = render(f"{marker}\n<!-- /table -->", tmp_path)
    assert "| base | 32.0 | 1.00x |\n| new | 64.1 | 2.00x |" in rendered


@pytest.mark.parametrize(
    "marker, problem",
    [
        ("missing.json | a", "does not exist"),
        ("bench.json | no.such.field", "a row has no field 'no.such.field'"),
        ("bench.json", "names no columns"),
    ],
)
def test_bad_markers_say_which_and_why(tmp_path, marker, problem):
    (tmp_path / "bench.json").write_text(json.dumps({"results": [{"a": 1}]}))
    with pytest.raises(TableError, match=problem):
        render(f"<!-- table: {marker} -->\n<!-- /table -->", tmp_path)


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
