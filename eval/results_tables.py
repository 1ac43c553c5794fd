"""Result tables in Markdown documents, generated from the JSON under ``eval/results/`` so that a table can never
disagree with its results file.

A document marks each generated table with a comment naming its source and columns, and the table follows it up to
a closing comment::

    <!-- table: bench-encode-scifact.json | variant | docs/s = docs_per_second | nDCG@10 = metrics.ndcg@10 -->
    | variant | docs/s | nDCG@10 |
    ...
    <!-- /table -->

Each column is ``label = field`` or just ``field``, where ``field`` is a dotted path into one row of the file's
``results`` list (``metrics.ndcg@10``; ``file.json:key`` reads the list under ``key`` instead); ``field / first`` is
the row's value over the first row's (the baseline a benchmark lists first), shown as ``2.00x``; ``field:FORMAT``
formats with a Python format spec (``p50_ms:.2f``). ``<!-- table: report -->`` is the evaluation report's table over
every ``eval beir`` and ``eval mteb`` summary (:func:`eval.reports.markdown_table`).

A table whose cells come from several files, or whose layout is not one row per result, is written as a template
inside the opening comment, with a reference in braces for each figure::

    <!-- cells: hybrid/
    | configuration | scifact nDCG@10 | ms/query |
    |---|---:|---:|
    | bm25 | {scifact-bm25.json metrics.ndcg@10} | {latency_ms.mean_per_query_batched:.1f} |
    -->

A reference is ``{[FILE ]PATH[ / NUMBER][:FORMAT]}``: ``FILE`` (under the folder the comment names) holds for the
references after it until another is named; ``PATH`` is dotted (a key holding dots in double quotes), where a list
is indexed by position or by ``[key=value,...]`` (the one item with those values); ``/ NUMBER`` divides
(``index_bytes / 1048576``: MiB); ``FORMAT`` is a Python format spec (default as in the generated tables).
:func:`render` rewrites every marked table, :func:`update` a file's; ``modernsearch eval tables FILE... --check``
says which documents are out of date.
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
TEMPLATED = re.compile(
    r"(?P<open><!-- cells:(?P<folder>[^\n]*)\n(?P<template>.*?)[ \t]*-->\n)"
    r"(?P<body>.*?)(?P<close>[ \t]*<!-- /table -->)",
    re.DOTALL,
)
REFERENCE = re.compile(r"\{(?:(?P<file>[^{}\s]+\.json) )?(?P<path>[^{}:]+?)(?::(?P<format>[^{}]*))?\}")
STEP = re.compile(r'\[[^\]]*\]|"[^"]*"|[^.\["]+')  # a selector, a quoted key (it may hold dots), or a plain key
SELECTOR = re.compile(r"\[(?P<conditions>[^\]]+)\]")


@dataclass(frozen=True)
class TableError(ValueError):
    """A table marker that cannot be rendered: which marker, and why."""

    spec: str
    problem: str

    def __str__(self) -> str:
        return f"table marker '{self.spec}': {self.problem}"


def render(text: str, results_dir: Path) -> str:
    """``text`` with every marked table regenerated from ``results_dir``."""
    text = MARKED.sub(lambda m: m["open"] + table(m["spec"], results_dir) + "\n" + m["close"], text)
    return TEMPLATED.sub(
        lambda m: m["open"] + filled(m["template"], results_dir / m["folder"].strip()) + m["close"], text
    )


def filled(template: str, folder: Path) -> str:
    """A cell template (see the module docstring) with each reference replaced by the figure it names."""
    cache: dict[Path, Any] = {}
    current: Path | None = None  # the file the last reference named

    def figure(reference: re.Match[str]) -> str:
        nonlocal current
        if reference["file"]:
            current = folder / reference["file"]
        if current is None:
            raise TableError(reference[0], "names no file, and no earlier reference does")
        if current not in cache:
            if not current.is_file():
                raise TableError(reference[0], f"{current} does not exist")
            cache[current] = json.loads(current.read_text(encoding="utf-8"))
        path, _, divisor = reference["path"].partition(" / ")
        value = _path(cache[current], path.strip(), reference[0])
        if divisor and value is not None:
            try:
                value = value / float(divisor)
            except (TypeError, ValueError) as error:
                raise TableError(reference[0], f"cannot divide {value!r} by {divisor!r}: {error}") from None
        return _formatted(value, reference["format"], reference[0])

    return REFERENCE.sub(figure, template)


def _path(data: Any, path: str, where: str) -> Any:
    """The value at a dotted ``path`` of ``data``; a list step is a position or a ``[key=value,...]`` selector."""
    value = data
    for step in STEP.findall(path):
        selector = SELECTOR.fullmatch(step)
        step = step.strip('"')
        if selector and isinstance(value, list):
            pairs = [pair.partition("=") for pair in selector["conditions"].split(",")]
            if not all(equals for _, equals, _ in pairs):
                raise TableError(where, f"a selector is [key=value,...], not {step}")
            wanted = {key: value for key, _, value in pairs}
            found = [item for item in value if all(str(item.get(k)) == v for k, v in wanted.items())]
            if len(found) != 1:
                raise TableError(where, f"{len(found)} items match {step}, not one")
            value = found[0]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        elif isinstance(value, dict) and step in value:
            value = value[step]
        else:
            raise TableError(where, f"there is no {step!r} on the way to {path!r}")
    return value


def table(spec: str, results_dir: Path) -> str:
    """The Markdown table a marker's ``spec`` describes (see the module docstring)."""
    source, *columns = [part.strip() for part in spec.split("|")]
    if source == "report":
        from eval.reports import load_reports, markdown_table

        rows, _ = load_reports(results_dir)
        return markdown_table(rows)
    name, _, key = source.partition(":")
    path = results_dir / name
    if not path.is_file():
        raise TableError(spec, f"{path} does not exist")
    rows = json.loads(path.read_text(encoding="utf-8")).get(key or "results")
    if not isinstance(rows, list) or not columns:
        raise TableError(spec, f"{path.name} has no {key or 'results'!r} list, or the marker names no columns")
    pairs = [(c.split("=", 1)[0].strip(), c.split("=", 1)[1].strip()) if "=" in c else (c, c) for c in columns]
    aligns = ["---|" if isinstance(_value(rows[0], field, spec), str) else "---:|" for _, field in pairs]
    lines = ["| " + " | ".join(label for label, _ in pairs) + " |", "|" + "".join(aligns)]
    for row in rows:
        lines.append("| " + " | ".join(_column(row, rows[0], field, spec) for _, field in pairs) + " |")
    return "\n".join(lines)


def _column(row: dict[str, Any], first: dict[str, Any], field: str, spec: str) -> str:
    field, _, spec_format = field.partition(":")
    if spec_format:
        return _formatted(_path(row, field.strip(), spec), spec_format, spec)
    if field.endswith("/ first"):
        name = field.removesuffix("/ first").strip()
        value, base = _path(row, name, spec), _path(first, name, spec)
        return f"{value / base:.2f}x" if value is not None and base else "-"
    return _cell(_path(row, field, spec))


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
    return _path(row, field.partition(":")[0].removesuffix("/ first").strip(), spec)


def _formatted(value: Any, spec_format: str | None, where: str) -> str:
    """``value`` in the Python format ``spec_format``, or as :func:`_cell` shows it when there is none."""
    if not spec_format or value is None:
        return _cell(value)
    try:
        return format(value, spec_format)
    except (TypeError, ValueError) as error:
        raise TableError(where, f"cannot format {value!r} as {spec_format!r}: {error}") from None


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
