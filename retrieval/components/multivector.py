"""Recipe of the multi-vector component: a PyLate ColBERT model, one token matrix per document."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.components.multivector import MultiVectorComponent, TokenRows
from index.docstore import DocumentStore
from retrieval.components.recipe import Scratch
from retrieval.config import BuildConfig
from retrieval.encode.chunking import Chunk
from retrieval.encode.documents import chunk_policy, encode_multivector
from retrieval.encode.precision import AUTO, BFLOAT16, FLOAT32
from retrieval.registry import Role, register

TOKENS = ".tokens.f32"  # token vectors of every chunk, in document order
CHUNK_TOKENS = ".chunk-tokens.i64"  # (row id, token count) of every chunk


class MultiVectorRecipe:
    """Documents to token vectors (their chunks' tokens concatenated, so MaxSim sees the whole document)."""

    name = "multivector"
    role = Role(("multivector", "both", "hybrid"), encoder_argument="multivector_encoder")
    component = MultiVectorComponent
    score_name = "maxsim"
    score_range = (0.0, None)  # a sum of per-token best cosines: no fixed top, below 0 only in theory
    scratch_files = (TOKENS, CHUNK_TOKENS)

    def wanted(self, config: BuildConfig) -> bool:
        return self.name in config.components

    def load_encoder(self, config: BuildConfig, device: str | None) -> Any:
        from retrieval.encode.multivector import MultiVectorEncoder

        spec = (
            config.model if config.components == (self.name,) else config.multivector_model
        )  # the only model of the build
        backend = config.backend if config.backend in (AUTO, BFLOAT16) else FLOAT32  # ONNX runtimes are dense-only
        return MultiVectorEncoder.load(spec, device=device or config.device, backend=backend)

    def stored_encoder(self, model: dict[str, Any] | None, device: str | None, *, queries_only: bool = False) -> Any:
        from retrieval.encode.multivector import MultiVectorEncoder

        return MultiVectorEncoder.load(
            model["spec"],
            device=device,
            backend=model.get("backend", FLOAT32),
            query_backend=model.get("query_backend"),
            document_length=model.get("document_length"),
        )

    def describe_encoding(self, encoder: Any, config: BuildConfig, counts: dict[str, int]) -> dict[str, Any]:
        return {"model": encoder.describe(), "chunking": {**chunk_policy(config, encoder).describe(), **counts}}

    def write_chunks(self, scratch: Scratch, rows: np.ndarray, chunks: Sequence[Chunk], outputs: Any) -> None:
        for tokens in outputs:
            scratch.write(TOKENS, np.asarray(tokens, dtype=np.float32))
        scratch.write(
            CHUNK_TOKENS,
            np.array([[row, len(tokens)] for row, tokens in zip(rows, outputs)], dtype=np.int64).reshape(-1, 2),
        )

    def rows_for_build(self, staging: Path, store: DocumentStore, encoder: Any, config: BuildConfig) -> TokenRows:
        per_chunk = np.fromfile(staging / CHUNK_TOKENS, dtype=np.int64).reshape(-1, 2)
        firsts = np.flatnonzero(
            np.r_[True, per_chunk[1:, 0] != per_chunk[:-1, 0]]
        )  # a document's chunks are contiguous
        lengths = np.add.reduceat(per_chunk[:, 1], firsts) if len(per_chunk) else np.zeros(0, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        tokens = np.memmap(staging / TOKENS, dtype=np.float32, mode="r", shape=(int(offsets[-1]), encoder.dimension))
        return TokenRows(tokens, offsets, per_chunk[firsts, 0])

    def encode_rows(
        self, encoder: Any, store: DocumentStore, rows: np.ndarray, texts: Sequence[str], config: BuildConfig
    ) -> TokenRows:
        vectors = encode_multivector(
            encoder, texts, chunk_policy(config, encoder), config.batch_size, config.token_budget
        ).vectors
        offsets = np.concatenate([[0], np.cumsum([len(v) for v in vectors])]).astype(np.int64)
        return TokenRows(np.vstack(vectors).astype(np.float32), offsets, np.asarray(rows, dtype=np.int64))

    def build_settings(self, config: BuildConfig) -> dict[str, Any]:
        return {"codec": config.multivector_codec}

    def encode_queries(self, encoder: Any, queries: Sequence[str], section: Any = None) -> Sequence[Any]:
        return encoder.encode_queries(queries)

    def prepare_queries(self, encoder: Any) -> None:
        return None


register(MultiVectorRecipe())
