"""The command line run as a user runs it: ``modernsearch ARGS`` in a subprocess, and what a failure must look
like (exit 1, one 'Error:' line on stderr, no traceback)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ENV = {**os.environ, "COLUMNS": "200"}


PROGRESS = re.compile(r"^(Reading|Encoding):")  # tqdm's bars, which stay on stderr while a build reads


def cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env or {**ENV, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        timeout=600,
    )


def one_clean_line(process: subprocess.CompletedProcess) -> str:
    """A failed command: exit 1 and one 'Error:' line on stderr, no traceback."""
    assert process.returncode == 1, (process.stdout, process.stderr)
    assert "Traceback" not in process.stderr, process.stderr
    lines = [line for line in process.stderr.splitlines() if line.strip() and not PROGRESS.match(line)]
    assert len(lines) == 1 and lines[0].startswith("Error: "), process.stderr
    return lines[0]


def write_corpus(path: Path, docs: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path
