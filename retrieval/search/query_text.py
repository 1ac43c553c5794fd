"""What counts as a query: Unicode text (no lone surrogates) with at least one visible character."""

from __future__ import annotations

import unicodedata

# Control, format (zero-width spaces, joiners, direction marks), separators, surrogates, private use, unassigned.
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}
# Letters that render as blank space (Hangul and half-width fillers, braille blank).
_BLANK_LETTERS = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}


def has_visible_text(text: object) -> bool:
    """Whether ``text`` is a string with at least one character a person can see.

    >>> has_visible_text("cats")
    True
    >>> has_visible_text("\\x00\\t\\u200b \\u2060")
    False
    """
    return isinstance(text, str) and any(
        not ch.isspace() and ch not in _BLANK_LETTERS and unicodedata.category(ch) not in _INVISIBLE for ch in text
    )


class EmptyQueryError(ValueError):
    """A query has no visible characters (only spaces, control characters or zero-width characters)."""

    def __init__(self, query: object) -> None:
        self.query = query
        super().__init__(f"The query {query!r} has no visible characters; type some words to search for.")


class InvalidQueryError(ValueError):
    """A query is not valid Unicode text: ``position`` is the first character that is half of a surrogate pair
    (as a JSON ``\\ud800`` escape or undecodable bytes read with ``surrogateescape`` give)."""

    def __init__(self, query: str, position: int) -> None:
        self.query, self.position = query, position
        super().__init__(
            f"The query holds {query[position]!r} at character {position + 1}, half of a UTF-16 surrogate pair, "
            f"which is not text; send the query as valid UTF-8."
        )


def check_query(query: object) -> str:
    """``query`` if it can be searched: :class:`InvalidQueryError` for a lone surrogate, :class:`EmptyQueryError`
    for text without visible characters.

    >>> check_query("cats")
    'cats'
    >>> check_query("brain \\ud800")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    retrieval.search.query_text.InvalidQueryError: The query holds '\\ud800' at character 7, half of a UTF-16 ...
    """
    if isinstance(query, str):
        try:
            query.encode("utf-8")
        except UnicodeEncodeError as err:
            raise InvalidQueryError(query, err.start) from None
    if not has_visible_text(query):
        raise EmptyQueryError(query)
    return query  # type: ignore[return-value]
