"""Explanations for dense results: which query words a document shares, and the snippet around them."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    "a an and are as at be by for from has have how i in is it its of on or that the this to was were what when "
    "where which who whom why will with".split()
)


def query_terms(query: str) -> set[str]:
    """Lower-cased content words of a query (stopwords and one-letter words dropped).

    >>> sorted(query_terms("Who founded the Microsoft company?"))
    ['company', 'founded', 'microsoft']
    """
    return {w for w in (m.group().lower() for m in _WORD.finditer(query)) if len(w) > 1 and w not in STOPWORDS}


def term_spans(text: str, terms: set[str]) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of whole words of ``text`` that are query terms.

    >>> term_spans("Gzip compresses; gzip.", {"gzip"})
    [(0, 4), (17, 21)]
    """
    return [(m.start(), m.end()) for m in _WORD.finditer(text) if m.group().lower() in terms]


def best_window(text: str, spans: list[tuple[int, int]], width: int = 300) -> tuple[int, int]:
    """The ``width``-character window of ``text`` holding the most matched spans, widened to word boundaries.

    >>> best_window("x " * 10 + "hit", [(20, 23)], width=6)
    (16, 23)
    """
    if len(text) <= width:
        return 0, len(text)
    if not spans:
        start, end = 0, width
    else:
        best, start = -1, 0
        for i, (s, _) in enumerate(spans):
            count = sum(1 for t, _ in spans[i:] if t < s + width)
            if count > best:
                best, start = count, max(0, s - width // 4)
        end = min(len(text), start + width)
        start = max(0, end - width)
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace():
        end += 1
    return start, end
