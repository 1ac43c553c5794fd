"""The BM25 analysers: text to the token lists the lexical index stores, the same for documents and queries.

``text``: lower-case words of two or more characters, English stopwords, Snowball stems. ``code``: the same, after
each identifier (``snake_case``, ``camelCase``, ``dotted.names``) is followed by its words, so that "check if a
variable is iterable" meets ``def is_iterable(obj)`` while the whole identifier still matches itself. A build's
``auto`` choice takes ``code`` when most of the corpus looks like source code (:func:`looks_like_code`); the
manifest records the analyser used, and searches analyse queries with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

TEXT = {
    "name": "text",
    "lowercase": True,
    "stopwords": "en",
    "stemmer": "snowball-english",
    "token_pattern": r"(?u)\b\w\w+\b",
}
CODE = {**TEXT, "name": "code", "identifiers": "kept whole and split into words"}
ANALYSERS = {"text": TEXT, "code": CODE}
CODE_SHARE = 0.5  # `auto` picks the code analyser when more than this share of the sampled documents looks like code
SAMPLE = 500

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_CODE_SIGNS = (  # each tested line by line
    re.compile(
        r"^\s*(?:def|class|import|from|return|function|public|private|static|const|let|var|fn|func|if|for|while)\b.*[:({=;]"
    ),
    re.compile(r"[A-Za-z_]\w*\([^()]*\)"),  # a call or a signature: no space before the parenthesis
    re.compile(r";\s*$|^\s*[{}]\s*$|\)\s*\{\s*$"),  # a statement's end, a brace on its own, a block opening
    re.compile(r"\b[a-z]+_[a-z0-9_]+\b|\b[a-z]+[A-Z][a-zA-Z0-9]*\("),  # snake_case, camelCase calls
    re.compile(r"^\s*[\w.\[\]]+\s*[-+*/]?=\s*[^=\s]"),  # an assignment
)
CODE_LINES = 0.2  # a document looks like code when this share of its lines shows a sign, of at least two kinds


class Analyser:
    """One analyser by its record (``{"name": "text" | "code", ...}``); ``auto`` is decided by :meth:`resolve`."""

    def __init__(self, record: Mapping[str, Any] | str | None = None) -> None:
        name = record if isinstance(record, str) else (record or {}).get("name", "text")
        if name not in ("auto", *ANALYSERS):
            raise ValueError(f"unknown BM25 analyser {name!r}: use text, code or auto")
        self.name = name

    @property
    def record(self) -> dict[str, Any]:
        """What the manifest records (after :meth:`resolve`)."""
        return dict(ANALYSERS[self.name if self.name != "auto" else "text"])

    def resolve(self, sample: Sequence[str]) -> Analyser:
        """Decide ``auto`` from a sample of the corpus: code when most of it looks like source code."""
        if self.name == "auto":
            self.name = "code" if looks_like_code(sample) else "text"
        return self

    def analyse(self, texts: Sequence[str]) -> list[list[str]]:
        return analyse(texts, "code" if self.name == "code" else "text")


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def analyse(texts: Sequence[str], analyser: str = "text") -> list[list[str]]:
    """Token lists for BM25, the same for documents and queries.

    >>> analyse(["The cats were running to the parks!", "the of and"])
    [['cat', 'were', 'run', 'park'], []]
    >>> analyse(["def is_iterable(obj): return hasattr(obj, '__iter__')"], "code")
    [['def', 'is_iter', 'iter', 'obj', 'return', 'hasattr', 'obj', '__iter__', 'iter']]
    >>> analyse(["The cats were running to the parks!"], "code") == analyse(["The cats were running to the parks!"])
    True
    """
    import bm25s

    if analyser == "code":
        texts = [split_identifiers(t) for t in texts]
    stemmer = _stemmer()
    return bm25s.tokenize(
        list(texts),
        lower=True,
        token_pattern=TEXT["token_pattern"],
        stopwords=TEXT["stopwords"],
        stemmer=stemmer.stemWords,
        return_ids=False,
        show_progress=False,
    )


def split_identifiers(text: str) -> str:
    """Each identifier of several words (or with underscores around one) followed by its words; a dotted name is
    also kept whole, joined by ``_``.

    >>> split_identifiers("x = parseHTTPResponse(os.path.join(a, b_c))")
    'x = parseHTTPResponse parse HTTP Response(os_path_join os path join(a, b_c b c))'
    >>> split_identifiers("plain English words stay as they are")
    'plain English words stay as they are'
    """

    def expand(match: re.Match[str]) -> str:
        identifier = match.group(0)
        words = [w for part in re.split(r"[._]+", identifier) for w in _WORD.findall(part)]
        if len(words) < 2 and (not words or words[0] == identifier):
            return identifier
        return f"{identifier.replace('.', '_')} {' '.join(words)}"

    return _IDENTIFIER.sub(expand, text)


def looks_like_code(texts: Sequence[str]) -> bool:
    """Whether more than half of ``texts`` (at most the first 500) look like source code: a fifth of their lines show
    a sign of it (a keyword opening a statement, a call, a statement's end or a brace, a snake_case name or camelCase
    call, an assignment), of at least two kinds. Prose with parentheses or a meeting transcript with tags does not.

    >>> looks_like_code(["def add(a, b):\\n    return a + b", "int main() {\\n  return 0;\\n}"])
    True
    >>> looks_like_code(["Paris is the capital of France.", "The Danube flows into the Black Sea (Romania)."])
    False
    """
    sample = list(texts[:SAMPLE])
    return bool(sample) and sum(1 for text in sample if _is_code(text)) > CODE_SHARE * len(sample)


def _is_code(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()][:200]
    if not lines:
        return False
    kinds = set()
    marked = 0
    for line in lines:
        found = {i for i, sign in enumerate(_CODE_SIGNS) if sign.search(line)}
        kinds |= found
        marked += bool(found)
    return len(kinds) >= 2 and marked >= CODE_LINES * len(lines)
