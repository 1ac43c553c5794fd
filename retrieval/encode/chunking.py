"""Long documents: token-based chunks with overlap (character spans into the original text)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from index.errors import SettingError

LongDocs = Literal["chunk", "truncate"]


@dataclass(frozen=True)
class ChunkPolicy:
    """How a document longer than one model input is handled."""

    long_docs: LongDocs
    chunk_tokens: int
    overlap: int
    max_tokens: int | None = None

    @classmethod
    def for_model(
        cls,
        model_limit: int,
        long_docs: LongDocs = "chunk",
        chunk_tokens: int | None = None,
        overlap: int | None = None,
        max_tokens: int | None = None,
    ) -> ChunkPolicy:
        """Defaults derived from the model: chunks as long as one model input, an eighth of that as overlap.
        A chunk size above the model's limit is lowered to it (so one setting serves both models of a hybrid build)."""
        if chunk_tokens is not None and chunk_tokens < 1:
            raise SettingError("chunk_tokens", chunk_tokens, "must be at least 1")
        size = min(chunk_tokens or model_limit, model_limit)  # never longer than the model reads at once
        shared = size // 8 if overlap is None else min(overlap, size - 1)
        if shared < 0:
            raise SettingError("chunk_overlap", overlap, "must be at least 0")
        if max_tokens is not None and max_tokens < 1:
            raise SettingError("max_tokens", max_tokens, "must be at least 1")
        return cls(long_docs, size, shared, max_tokens)

    def describe(self) -> dict[str, Any]:
        """Facts for the manifest."""
        return {
            "long_docs": self.long_docs,
            "chunk_tokens": self.chunk_tokens,
            "chunk_overlap": self.overlap,
            "max_tokens": self.max_tokens,
        }


@dataclass(frozen=True)
class Chunk:
    """A piece of a document: its number, ``[start, end)`` in characters of the text, its token count and first
    token."""

    number: int
    start: int
    end: int
    tokens: int
    first_token: int = 0


def window_bounds(word_starts: Sequence[bool], size: int, overlap: int) -> list[tuple[int, int]]:
    """Token windows ``[start, end)`` of at most ``size`` tokens covering every token, each sharing at least
    ``overlap`` tokens with the one before; windows start and end on word boundaries where a word allows it.

    >>> window_bounds([True] * 10, size=4, overlap=1)
    [(0, 4), (3, 7), (6, 10)]
    >>> window_bounds([True, False, True, False, False, True, True], size=4, overlap=0)  # words 0-1, 2-4, 5, 6
    [(0, 2), (2, 6), (6, 7)]
    """
    n = len(word_starts)
    bounds: list[tuple[int, int]] = []
    start = 0
    while True:
        end = min(start + size, n)
        if end < n:
            snapped = end
            while snapped > start + 1 and not word_starts[snapped]:
                snapped -= 1
            end = snapped if word_starts[snapped] else end  # a word longer than a chunk is split
        bounds.append((start, end))
        if end >= n:
            return bounds
        following = max(end - overlap, start + 1)
        while following > start + 1 and not word_starts[following]:
            following -= 1
        start = following


SEGMENT_CHARS = 200_000  # longer texts are tokenised in whitespace-bounded segments of about this many characters


def split_text(text: str, tokenizer: Any, policy: ChunkPolicy) -> list[Chunk]:
    """The chunks a document is encoded as: one (the whole text) when it fits, else windows of
    ``policy.chunk_tokens`` tokens (or only the first, with ``long_docs="truncate"``)."""
    offsets, word_starts = token_layout(text, tokenizer)
    n = len(offsets) if policy.max_tokens is None else min(len(offsets), policy.max_tokens)
    if n <= policy.chunk_tokens:
        end = len(text) if n == len(offsets) else int(offsets[n - 1][1])
        return [Chunk(0, 0, end, n)]
    if policy.long_docs == "truncate":
        return [Chunk(0, 0, int(offsets[policy.chunk_tokens - 1][1]), policy.chunk_tokens)]
    return [
        Chunk(number, int(offsets[s][0]), int(offsets[e - 1][1]), e - s, s)
        for number, (s, e) in enumerate(window_bounds(word_starts[:n], policy.chunk_tokens, policy.overlap))
    ]


def token_layout(text: str, tokenizer: Any) -> tuple[np.ndarray, np.ndarray]:
    """Character ``offsets`` ``(n_tokens, 2)`` of the text's tokens (no special tokens) and whether each starts a word.

    A long text is tokenised in segments cut just before a whitespace character, so a word is never split
    and byte-level BPE keeps each word's leading space; the layout is the whole text's, and memory holds
    12 bytes per token here instead of the tokenizer's Python lists for the whole document.
    """
    offsets, starts = [], []
    for start, end in _segments(text, SEGMENT_CHARS):
        encoding = tokenizer(
            text[start:end],
            add_special_tokens=False,
            return_offsets_mapping=True,
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )
        offsets.append(np.asarray(encoding["offset_mapping"], dtype=np.int64).reshape(-1, 2) + start)
        words = np.array(encoding.word_ids(), dtype=float)  # None (a special token) becomes NaN, unequal to all
        starts.append(np.concatenate([[True], words[1:] != words[:-1]])[: len(words)])
    return np.concatenate(offsets), np.concatenate(starts)


def _segments(text: str, size: int) -> list[tuple[int, int]]:
    """``[start, end)`` pieces of about ``size`` characters, each cut just before a whitespace character.

    >>> _segments("aa bb cc dd", 5)
    [(0, 5), (5, 8), (8, 11)]
    """
    bounds, start = [], 0
    while len(text) - start > size:
        cut = max(text.rfind(" ", start + 1, start + size + 1), text.rfind("\n", start + 1, start + size + 1))
        cut = cut if cut > start else start + size  # no whitespace at all: cut anyway
        bounds.append((start, cut))
        start = cut
    bounds.append((start, len(text)))
    return bounds
