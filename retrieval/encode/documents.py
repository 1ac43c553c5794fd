"""Documents to vectors with long-document handling: split each text as its policy says, encode the pieces
in token-budget batches, and return dense vectors per chunk or multi-vector token matrices per document."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from retrieval.config import BuildConfig
from retrieval.encode.chunking import Chunk, ChunkPolicy, split_text


def chunk_policy(config: BuildConfig, encoder: Any) -> ChunkPolicy:
    """The build settings' policy for one encoder: chunks as long as it reads at once unless set smaller."""
    return ChunkPolicy.for_model(
        encoder.chunk_limit, config.long_docs, config.chunk_tokens, config.chunk_overlap, config.max_tokens
    )


@dataclass
class EncodedDocuments:
    """The pieces of a batch of documents and what was done to them."""

    documents: np.ndarray  # index into the input texts, one per chunk
    chunks: list[Chunk]
    vectors: Any  # dense: (n_chunks, dim) array; multi-vector: one (n_tokens, dim) array per document
    chunked: int
    truncated: int


def plan_chunks(texts: Sequence[str], encoder: Any, policy: ChunkPolicy) -> list[list[Chunk]]:
    """The chunks each text is encoded as (one, the whole text, when it fits)."""
    return [split_text(text, encoder.tokenizer, policy) for text in texts]


def long_document_counts(texts: Sequence[str], plans: Sequence[Sequence[Chunk]]) -> tuple[int, int]:
    """How many of the texts were split in chunks, and how many were cut short."""
    chunked = sum(len(plan) > 1 for plan in plans)
    truncated = sum(len(plan) == 1 and plan[0].end < len(text.rstrip()) for plan, text in zip(plans, texts))
    return chunked, truncated


def _plan(
    texts: Sequence[str], encoder: Any, policy: ChunkPolicy, plans: list[list[Chunk]] | None
) -> tuple[list[list[Chunk]], int, int]:
    plans = plans if plans is not None else plan_chunks(texts, encoder, policy)
    return (plans, *long_document_counts(texts, plans))


def _pieces(texts: Sequence[str], plans: list[list[Chunk]]) -> tuple[np.ndarray, list[Chunk], list[str]]:
    documents = np.array([i for i, plan in enumerate(plans) for _ in plan], dtype=np.int64)
    chunks = [chunk for plan in plans for chunk in plan]
    pieces = [texts[i][c.start : c.end] for i, c in zip(documents, chunks)]
    return documents, chunks, pieces


def encode_dense(
    encoder: Any,
    texts: Sequence[str],
    policy: ChunkPolicy,
    batch_size: int,
    token_budget: int,
    plans: list[list[Chunk]] | None = None,
) -> EncodedDocuments:
    """One unit vector per chunk (a document that fits is one chunk: its whole text); ``plans`` are the
    texts' chunks when the caller has already split them."""
    plans, chunked, truncated = _plan(texts, encoder, policy, plans)
    documents, chunks, pieces = _pieces(texts, plans)
    vectors = encoder.encode_documents(
        pieces, batch_size=batch_size, token_budget=token_budget, lengths=[c.tokens for c in chunks]
    )
    return EncodedDocuments(documents, chunks, vectors, chunked, truncated)


def encode_multivector(
    encoder: Any,
    texts: Sequence[str],
    policy: ChunkPolicy,
    batch_size: int,
    token_budget: int,
    plans: list[list[Chunk]] | None = None,
) -> EncodedDocuments:
    """One token matrix per document: the token vectors of its chunks, concatenated, so MaxSim sees the whole
    document."""
    plans, chunked, truncated = _plan(texts, encoder, policy, plans)
    documents, chunks, pieces = _pieces(texts, plans)
    per_chunk = encoder.encode_documents(
        pieces, batch_size=batch_size, token_budget=token_budget, lengths=[c.tokens for c in chunks]
    )
    per_document: list[list[np.ndarray]] = [[] for _ in texts]
    for i, tokens in zip(documents, per_chunk):
        per_document[i].append(tokens)
    vectors = [np.concatenate(parts) if len(parts) > 1 else parts[0] for parts in per_document]
    return EncodedDocuments(documents, chunks, vectors, chunked, truncated)


def chunk_spans(rows: np.ndarray, encoded: EncodedDocuments) -> np.ndarray:
    """``(row id, chunk number, start, end)`` rows for the chunks of documents split in more than one."""
    per_document = np.bincount(encoded.documents, minlength=len(rows))
    keep = [i for i, d in enumerate(encoded.documents) if per_document[d] > 1]
    return np.array(
        [
            [rows[encoded.documents[i]], encoded.chunks[i].number, encoded.chunks[i].start, encoded.chunks[i].end]
            for i in keep
        ],
        dtype=np.int64,
    ).reshape(-1, 4)
