"""Document text as HTML for the UI: every character escaped, only ``<mark>`` highlights added, whitespace kept.

The result goes to ``st.html``, never through Markdown, so indentation, ``*``, ``#``, backticks, links,
image syntax and HTML in a document are shown exactly as written and can never change the page.
Source code (recognised from its file extension or its lines) is shown as numbered lines.
"""

from __future__ import annotations

import html
import re
from typing import Any

CODE_EXTENSIONS = frozenset(
    "py pyi ipynb js jsx ts tsx java kt scala go rs c h cc cpp hpp cs rb php swift m sh bash zsh ps1 sql r jl lua pl "
    "hs ml clj ex exs erl dart vue".split()
)
_CODE_LINE = re.compile(
    r"^\s*(def |class |async def |import |from \S+ import |return\b|if .*:$|for .*:$|while .*:$|"
    r"elif |else:|try:|except|"
    r"function\b|const |let |var |public |private |protected |static |#include|package |fn |func |impl |@\w+)"
    r"|[{};]\s*$|^\s*[}\])]"
)
_SIGNATURE = re.compile(
    r"^\s*((?:async\s+)?def\s+\w+\s*\(.*|class\s+\w+.*|function\s+\w+\s*\(.*|(?:pub\s+)?fn\s+\w+.*|func\s+\w+.*)"
)


def is_code(text: str, metadata: dict[str, Any] | None = None) -> bool:
    """Whether a document is source code: a code file extension in its metadata, or most of its first lines look like
    code.

    >>> is_code("def add(a, b):\\n    return a + b\\n")
    True
    >>> is_code("Rivers flow into the sea.\\nThey carry sediment.")
    False
    >>> is_code("anything", {"extension": ".rs"})
    True
    """
    extension = str((metadata or {}).get("extension") or (metadata or {}).get("path") or "").rsplit(".", 1)[-1].lower()
    if extension in CODE_EXTENSIONS:
        return True
    lines = [line for line in text.splitlines()[:60] if line.strip()]
    if len(lines) < 2:
        return False
    return sum(bool(_CODE_LINE.search(line)) for line in lines) / len(lines) >= 0.4


def heading_for(text: str, code: bool, words: int = 10) -> str:
    """A heading for an untitled document: for code the signature (or first line), otherwise its first words.

    >>> heading_for("import os\\n\\ndef walk(root):\\n    pass", code=True)
    'def walk(root):'
    >>> heading_for("The Boeing 747 is a wide-body commercial jet airliner and cargo aircraft.", code=False, words=5)
    'The Boeing 747 is a …'
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    if code:
        signature = next((m.group(1).strip() for m in map(_SIGNATURE.match, lines) if m), None)
        return _shorten(signature or lines[0], 120)
    first = " ".join(text.split()[:words])
    return first + (" …" if len(text.split()) > words else "")


def _shorten(line: str, limit: int) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"


def highlighted(
    text: str,
    spans: list[tuple[int, int]],
    start: int = 0,
    end: int | None = None,
    tips: dict[tuple[int, int], str] | None = None,
) -> str:
    """``text[start:end]`` escaped for HTML, with the given character spans wrapped in ``<mark>`` (a hover tip if
    given).

    >>> highlighted("a <b> & c", [(6, 7)])
    'a &lt;b&gt; <mark>&amp;</mark> c'
    """
    end = len(text) if end is None else end
    parts, cursor = [], start
    for s, e in sorted(spans):
        if e <= start or s >= end:
            continue
        tip = (tips or {}).get((s, e))
        s, e = max(s, start, cursor), min(e, end)
        if s >= e:
            continue
        parts.append(html.escape(text[cursor:s]))
        title = f" title='{html.escape(tip, quote=True)}'" if tip else ""
        parts.append(f"<mark{title}>{html.escape(text[s:e])}</mark>")
        cursor = e
    parts.append(html.escape(text[cursor:end]))
    return "".join(parts)


def line_window(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` widened to whole lines (code snippets show complete lines).

    >>> line_window("ab\\ncd\\nef", 4, 5)
    (3, 5)
    """
    first = text.rfind("\n", 0, start) + 1
    last = text.find("\n", end)
    return first, len(text) if last == -1 else last


def code_html(
    text: str,
    spans: list[tuple[int, int]],
    start: int = 0,
    end: int | None = None,
    tips: dict[tuple[int, int], str] | None = None,
) -> str:
    """Lines of ``text[start:end]`` as numbered, monospace rows; the numbers are CSS-generated, so copying
    (and the page's text) gives exactly the document's lines.

    >>> print(code_html("x = 1\\ny = 2", [(0, 1)]).replace("</div><div", "</div>\\n<div"))
    <div class='ms-code'><div class='ms-line' data-ln='1'><mark>x</mark> = 1</div>
    <div class='ms-line' data-ln='2'>y = 2</div></div>
    """
    end = len(text) if end is None else end
    number = text.count("\n", 0, start) + 1
    rows, cursor = [], start
    while cursor < end or not rows:
        stop = text.find("\n", cursor, end)
        stop = end if stop == -1 else stop
        rows.append(f"<div class='ms-line' data-ln='{number}'>{highlighted(text, spans, cursor, stop, tips)}</div>")
        number += 1
        cursor = stop + 1
    return "<div class='ms-code'>" + "".join(rows) + "</div>"


def code_span(text: object) -> str:
    """``text`` as a Markdown code span, for messages that put a path or an error into Markdown: inside a code
    span nothing is interpreted (no emphasis, links, HTML, emoji codes or LaTeX), whatever backticks it holds.

    >>> code_span("a*b* :smile:")
    '`a*b* :smile:`'
    >>> code_span("has `ticks`")
    '`` has `ticks` ``'
    """
    value = str(text).replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {value} " if longest else value
    return f"{fence}{padded}{fence}"
