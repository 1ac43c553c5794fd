"""The BM25 analyser: text to the token lists the lexical index stores (lower-case words, English stopwords, Snowball stems)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

ANALYSER = {"lowercase": True, "stopwords": "en", "stemmer": "snowball-english", "token_pattern": r"(?u)\b\w\w+\b"}


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def analyse(texts: Sequence[str]) -> list[list[str]]:
    """Token lists for BM25, the same for documents and queries.

    >>> analyse(["The cats were running to the parks!", "the of and"])
    [['cat', 'were', 'run', 'park'], []]
    """
    import bm25s

    stemmer = _stemmer()
    return bm25s.tokenize(
        list(texts), lower=True, token_pattern=ANALYSER["token_pattern"], stopwords=ANALYSER["stopwords"],
        stemmer=stemmer.stemWords, return_ids=False, show_progress=False,
    )
