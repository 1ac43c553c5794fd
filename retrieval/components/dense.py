"""Recipe of the dense component: a sentence-transformers model, one unit vector per chunk."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.chunks import pack_ids
from index.components.dense import DenseComponent, VectorRows
from index.docstore import DocumentStore
from retrieval.components.recipe import Scratch
from retrieval.config import BuildConfig
from retrieval.encode.chunking import Chunk
from retrieval.encode.documents import chunk_policy, chunk_spans, encode_dense
from retrieval.registry import Role, register

logger = logging.getLogger(__name__)

EMBEDDINGS = ".embeddings.f32"  # one vector per chunk, appended step by step
VECTOR_IDS = ".vector-ids.i64"  # their ids (row id and chunk number packed)
SPANS = ".chunk-spans.i64"  # (row id, chunk number, start, end) of every chunk of a chunked document


class DenseRecipe:
    """Documents to chunk vectors with the build's model; queries through the model or its light export."""

    name = "dense"
    role = Role(("dense", "both", "hybrid"), fusion="semantic", encoder_argument="encoder")
    component = DenseComponent
    score_name = "dense"
    score_range = (-1.0, 1.0)  # cosine of unit vectors
    scratch_files = (EMBEDDINGS, VECTOR_IDS, SPANS)

    def wanted(self, config: BuildConfig) -> bool:
        return self.name in config.components

    def load_encoder(self, config: BuildConfig, device: str | None) -> Any:
        from retrieval.encode.dense import DenseEncoder

        return DenseEncoder.load(config.model, device=device or config.device, backend=config.backend)

    def stored_encoder(self, model: dict[str, Any] | None, device: str | None, *, queries_only: bool = False) -> Any:
        from retrieval.encode.dense import load_manifest_encoder
        from retrieval.encode.query_runtime import LightQueryEncoder

        light = LightQueryEncoder.open(model) if queries_only and device in (None, "cpu") else None
        return light or load_manifest_encoder(model, device=device)

    def describe_encoding(self, encoder: Any, config: BuildConfig, counts: dict[str, int]) -> dict[str, Any]:
        return {
            "model": encoder.describe(),
            "index_type": config.index_type,
            "chunking": {**chunk_policy(config, encoder).describe(), **counts},
        }

    def write_chunks(self, scratch: Scratch, rows: np.ndarray, chunks: Sequence[Chunk], outputs: Any) -> None:
        numbers = np.array([c.number for c in chunks], dtype=np.int64)
        scratch.write(EMBEDDINGS, np.asarray(outputs, dtype=np.float32))
        scratch.write(VECTOR_IDS, pack_ids(rows, numbers))
        _, inverse, counts = np.unique(rows, return_inverse=True, return_counts=True)
        in_parts = (numbers > 0) | (counts[inverse] > 1)  # spans are kept for documents stored in several chunks
        spans = [[row, c.number, c.start, c.end] for row, c, keep in zip(rows, chunks, in_parts) if keep]
        scratch.write(SPANS, np.array(spans, dtype=np.int64).reshape(-1, 4))

    def rows_for_build(self, staging: Path, store: DocumentStore, encoder: Any, config: BuildConfig) -> VectorRows:
        if not store.has_chunk_spans():  # a resumed build whose killed run stored them (one transaction) stores nothing
            store.add_chunk_spans(np.fromfile(staging / SPANS, dtype=np.int64).reshape(-1, 4))
        ids = np.fromfile(staging / VECTOR_IDS, dtype=np.int64)
        vectors = np.memmap(staging / EMBEDDINGS, dtype=np.float32, mode="r", shape=(len(ids), encoder.dimension))
        return VectorRows(vectors, ids)

    def encode_rows(
        self, encoder: Any, store: DocumentStore, rows: np.ndarray, texts: Sequence[str], config: BuildConfig
    ) -> VectorRows:
        encoded = encode_dense(encoder, texts, chunk_policy(config, encoder), config.batch_size, config.token_budget)
        numbers = np.array([c.number for c in encoded.chunks], dtype=np.int64)
        store.add_chunk_spans(chunk_spans(rows, encoded))
        return VectorRows(np.asarray(encoded.vectors, dtype=np.float32), pack_ids(rows[encoded.documents], numbers))

    def build_settings(self, config: BuildConfig) -> dict[str, Any]:
        return {"index_type": config.index_type}

    def encode_queries(self, encoder: Any, queries: Sequence[str], section: Any = None) -> Sequence[Any]:
        return encoder.encode_queries(queries)

    def prepare_queries(self, encoder: Any) -> None:
        """Leave a checked light query encoder for this model so searches start fast (a failure only costs speed)."""
        from retrieval.encode.query_runtime import prepare_light_encoder

        try:
            prepare_light_encoder(encoder)
        except Exception:  # noqa: BLE001 - the index is committed; searches fall back to the full model
            logger.warning(
                "Could not prepare the fast query encoder; searches will load the full model.", exc_info=True
            )


register(DenseRecipe())
