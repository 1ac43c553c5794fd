"""Why a document matched: the passage (best chunk) of a hit, and the MaxSim token alignment of a multi-vector match.

Both map positions in the embedded text (:func:`index.documents.embedded_text`) back into the document's text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from index.docstore import DocumentStore
from index.documents import Document, text_offset
from index.multivector.maxsim import maxsim_alignment
from retrieval.encode.chunking import ChunkPolicy, split_text
from retrieval.search.results import TokenMatch


def passage(span: tuple[int, int] | None, document: Document) -> tuple[int, int] | None:
    """The span in the document's text of its best chunk, whose span in the embedded text is ``span`` (``None`` for a
    document not stored in chunks)."""
    if span is None:
        return None
    shift = text_offset(document.title)
    start, end = max(span[0] - shift, 0), max(span[1] - shift, 0)
    return (start, end) if end > start else None


def token_matches(
    component: Any,
    chunking: dict[str, Any],
    encoder: Any,
    store: DocumentStore,
    query: str,
    doc_ids: Sequence[str],
    where: Any,
) -> dict[str, list[TokenMatch]]:
    """For each document, each query token's best-matching document token under MaxSim, with the similarity.

    Token vectors come from the multi-vector ``component`` (decoded when compressed); token texts and character spans
    (into the document text) come from re-tokenizing the document the way the model does, chunk by chunk as
    ``chunking`` (the component's manifest record) says. Tokens of the title have no span.
    """
    query_vectors = encoder.encode_queries([query])[0]
    query_tokens = encoder.query_tokens(query)
    explained = {}
    for doc_id in doc_ids:
        row_id = store.row_id(doc_id)
        if row_id is None:
            raise KeyError(f"No document with id {doc_id!r} in {where}")
        document = store.get([row_id])[0]
        doc_vectors = component.document_vectors(row_id)
        best, similarities = maxsim_alignment(query_vectors, doc_vectors)
        doc_tokens = document_tokens(encoder, chunking, document.full_text)
        if len(doc_tokens) != len(doc_vectors):
            doc_tokens = [(f"#{i}", None) for i in range(len(doc_vectors))]
        shift = text_offset(document.title)
        matches = []
        for i, (b, sim) in enumerate(zip(best, similarities)):
            token, span = doc_tokens[int(b)]
            if span is not None:
                span = (span[0] - shift, span[1] - shift) if span[0] >= shift else None
            label = query_tokens[i] if i < len(query_tokens) else f"#{i}"
            matches.append(TokenMatch(label, token, span, float(sim)))
        explained[doc_id] = matches
    return explained


def document_tokens(encoder: Any, chunking: dict[str, Any], text: str) -> list[tuple[str, tuple[int, int] | None]]:
    """Token texts and spans in the order the index stores the document's token vectors: chunk by chunk."""
    if not chunking:
        return encoder.document_tokens(text)
    policy = ChunkPolicy(
        chunking["long_docs"], chunking["chunk_tokens"], chunking["chunk_overlap"], chunking["max_tokens"]
    )
    tokens: list[tuple[str, tuple[int, int] | None]] = []
    for chunk in split_text(text, encoder.tokenizer, policy):
        for token, span in encoder.document_tokens(text[chunk.start : chunk.end]):
            tokens.append((token, None if span is None else (span[0] + chunk.start, span[1] + chunk.start)))
    return tokens
