"""What a document is to the index: id, title, text, typed metadata and where it came from, and the one definition
of the text that gets encoded (title and text joined) that chunk and token spans point into."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One document as read from a corpus: id, title, text, extra fields, and where it came from."""

    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def full_text(self) -> str:
        """Title and text joined, the string that gets embedded (:func:`embedded_text`)."""
        return embedded_text(self.title, self.text)


def embedded_text(title: str, text: str) -> str:
    """The one definition of what gets encoded for a document: its title and text joined by a space, or the text
    alone when there is no title. Chunk spans and token spans are offsets into this string.

    >>> embedded_text("Rome", "Capital of Italy."), embedded_text("", "No title.")
    ('Rome Capital of Italy.', 'No title.')
    """
    return f"{title} {text}" if title else text


def text_offset(title: str) -> int:
    """Where the text starts in :func:`embedded_text`: subtract it from a span there to get a span in the text.

    >>> text_offset("Rome"), text_offset("")
    (5, 0)
    """
    return len(title) + 1 if title else 0


@dataclass(frozen=True)
class Duplicate:
    """A document id seen twice: where it was first seen and where again."""

    doc_id: str
    first_source: str
    again_source: str
