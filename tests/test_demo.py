"""The demo: the standard-library documentation corpus and the `modernsearch demo` command."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from retrieval.corpus.stdlib_docs import stdlib_documents


@pytest.mark.slow
def test_stdlib_corpus_has_thousands_of_real_documents():
    docs = list(stdlib_documents())
    assert len(docs) > 3000
    assert len({d.id for d in docs}) == len(docs)
    by_id = {d.id: d for d in docs}
    assert by_id["json.dumps"].title.startswith("json.dumps(obj")
    assert "JSON" in by_id["json.dumps"].text
    assert by_id["argparse"].metadata == {"kind": "module", "module": "argparse"}


@pytest.mark.slow
def test_demo_builds_once_then_reuses_and_answers(tmp_path):
    env = {**os.environ, "MODERNSEARCH_HOME": str(tmp_path), "COLUMNS": "200"}
    command = [sys.executable, "-m", "app.cli", "demo", "--no-serve"]
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert first.returncode == 0, first.stderr
    assert "documents indexed" in first.stdout
    assert (tmp_path / "demo-index" / "manifest.json").exists()
    # The example queries find the module a Python user would expect.
    assert "gzip.compress" in first.stdout and "subprocess." in first.stdout and "argparse" in first.stdout

    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert second.returncode == 0, second.stderr
    assert "Using the demo index" in second.stdout and "documents indexed" not in second.stdout
