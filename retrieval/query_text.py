"""What counts as a query: text with at least one visible character."""

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
