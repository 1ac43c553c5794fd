"""Recipe of the BM25 component: no model; an analyser of :mod:`retrieval.encode.lexical` (text or code, ``auto``
decided
from the stored documents) for documents, and for queries the one the component's manifest section records."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.components.bm25 import BM25Component, TermRows
from index.docstore import DocumentStore
from retrieval.components.recipe import Scratch
from retrieval.config import BuildConfig
from retrieval.encode.chunking import Chunk
from retrieval.encode.lexical import SAMPLE, Analyser
from retrieval.registry import Role, register

TEXT_BATCH = 4096


class LexicalRecipe:
    """Term lists of the stored texts; rebuilt from every stored document on each change (BM25 is not incremental)."""

    name = "bm25"
    role = Role(("hybrid",), fusion="lexical")
    component = BM25Component
    score_name = "bm25"
    score_range = (0.0, None)  # BM25 scores start at 0 and have no fixed top
    scratch_files: tuple[str, ...] = ()

    def wanted(self, config: BuildConfig) -> bool:
        return self.name in config.components

    def load_encoder(self, config: BuildConfig, device: str | None) -> None:
        return None

    def stored_encoder(self, model: dict[str, Any] | None, device: str | None, *, queries_only: bool = False) -> None:
        return None

    def describe_encoding(self, encoder: Any, config: BuildConfig, counts: dict[str, int]) -> dict[str, Any]:
        return {}  # the component records the analyser its rows were made with (auto is decided there)

    def write_chunks(self, scratch: Scratch, rows: np.ndarray, chunks: Sequence[Chunk], outputs: Any) -> None:
        raise TypeError("the BM25 recipe has no encoder, so the encoding pass never gives it chunks")

    def rows_for_build(self, staging: Path, store: DocumentStore, encoder: Any, config: BuildConfig) -> TermRows:
        analyser = Analyser(config.bm25_analyzer).resolve(next(iter(store.iter_texts(SAMPLE)), ([], []))[1])
        row_ids: list[int] = []
        terms: list[list[str]] = []
        for ids, texts in store.iter_texts(TEXT_BATCH):
            row_ids += ids
            terms += analyser.analyse(texts)
        return TermRows(terms, np.array(row_ids, dtype=np.int64), analyser.record)

    def encode_rows(
        self, encoder: Any, store: DocumentStore, rows: np.ndarray, texts: Sequence[str], config: BuildConfig
    ) -> TermRows:
        analyser = Analyser(config.bm25_analyzer).resolve(texts)
        return TermRows(analyser.analyse(texts), np.asarray(rows, dtype=np.int64), analyser.record)

    def build_settings(self, config: BuildConfig) -> dict[str, Any]:
        return {"k1": config.bm25_k1, "b": config.bm25_b}

    def encode_queries(self, encoder: Any, queries: Sequence[str], section: Any = None) -> Sequence[Any]:
        return Analyser(getattr(section, "analyser", None)).analyse(queries)

    def prepare_queries(self, encoder: Any) -> None:
        return None


register(LexicalRecipe())
