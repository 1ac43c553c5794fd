"""Result tables in Markdown documents, generated from the JSON under ``eval/results/`` so that a table can never
disagree with its results file.

A document marks each generated table with a comment naming its source and columns, and the table follows it up to
a closing comment::

    <!-- table: bench-encode-scifact.json | variant | docs/s = docs_per_second | nDCG@10 = metrics.ndcg@10 -->
    | variant | docs/s | nDCG@10 |
    ...
    <!-- /table -->

Each column is ``label = field`` or just ``field``, where ``field`` is a dotted path into one row of the file's
``results`` list (``metrics.ndcg@10``); ``field / first`` is the row's value over the first row's (the baseline a
benchmark lists first), shown as ``2.00x``. ``<!-- table: report -->`` is the evaluation report's table over every
``eval beir`` and ``eval mteb`` summary (:func:`eval.reports.markdown_table`). :func:`render` rewrites every marked
table, :func:`update` a file's; ``modernsearch eval tables FILE... --check`` says which documents are out of date.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKED = re.compile(r"(?P<open><!-- table: (?P<spec>.+?) -->\n)(?P<body>.*?)(?P<close><!-- /table -->)", re.DOTALL)


@dataclass(frozen=True)
class TableError(ValueError):
    """A table marker that cannot be rendered: which marker, and why."""

    spec: str
    problem: str

    def __str__(self) -> str:
        return f"table marker '{self.spec}': {self.problem}"


def render(text: str, results_dir: Path) -> str:
    """``text`` with every marked table regenerated from ``results_dir``."""
    return MARKED.sub(lambda m: m["open"] + table(m["spec"], results_dir) + "\n" + m["close"], text)


def table(spec: str, results_dir: Path) -> str:
    """The Markdown table a marker's ``spec`` describes (see the module docstring)."""
    source, *columns = [part.strip() for part in spec.split("|")]
    if source == "report":
        from eval.reports import load_reports, markdown_table

        rows, _ = load_reports(results_dir)
        return markdown_table(rows)
    path = results_dir / source
    if not path.is_file():
        raise TableError(spec, f"{path} does not exist")
    rows = json.loads(path.read_text(encoding="utf-8")).get("results")
    if not isinstance(rows, list) or not columns:
        raise TableError(spec, f"{path.name} has no 'results' list, or the marker names no columns")
    pairs = [(c.split("=", 1)[0].strip(), c.split("=", 1)[1].strip()) if "=" in c else (c, c) for c in columns]
    aligns = ["---|" if isinstance(_value(rows[0], field, spec), str) else "---:|" for _, field in pairs]
    lines = ["| " + " | ".join(label for label, _ in pairs) + " |", "|" + "".join(aligns)]
    for row in rows:
        lines.append("| " + " | ".join(_column(row, rows[0], field, spec) for _, field in pairs) + " |")
    return "\n".join(lines)


def _column(row: dict[str, Any], first: dict[str, Any], field: str, spec: str) -> str:
    if field.endswith("/ first"):
        name = field.removesuffix("/ first").strip()
        value, base = _field(row, name, spec), _field(first, name, spec)
        return f"{value / base:.2f}x" if value is not None and base else "-"
    return _cell(_field(row, field, spec))


def update(path: Path, results_dir: Path, *, write: bool = True) -> bool:
    """Whether the marked tables of the Markdown file ``path`` differ from what the results say; with ``write``,
    the file is rewritten with them (through a temporary sibling renamed over it, its permissions kept)."""
    text = path.read_text(encoding="utf-8")
    rendered = render(text, results_dir)
    if rendered == text:
        return False
    if write:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(rendered)
            shutil.copymode(path, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return True


def _value(row: dict[str, Any], field: str, spec: str) -> Any:
    """What a column shows for ``row`` before formatting (a ratio column's field read as itself)."""
    return _field(row, field.removesuffix("/ first").strip(), spec)


def _field(row: dict[str, Any], field: str, spec: str) -> Any:
    value: Any = row
    for key in field.split("."):
        if not isinstance(value, dict) or key not in value:
            raise TableError(spec, f"a row has no field {field!r}")
        value = value[key]
    return value


def _cell(value: Any) -> str:
    """A value as a table shows it: fractions (metrics) to four decimals, other floats to one, thousands separated,
    an interval ``[low, high]`` as ``low-high``, ``-`` for none.

    >>> [_cell(v) for v in (0.45266, 18.44, 1200, [0.9506, 1.025], None)]
    ['0.4527', '18.4', '1,200', '0.951-1.025', '-']
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return f"{value[0]:.3f}-{value[1]:.3f}"  # an interval
    return str(value).replace("|", "\\|")
