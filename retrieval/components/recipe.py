"""The contract of a component's retrieval side (its recipe): encoders, document rows, query encoding."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from index.component import IndexComponent
from index.docstore import DocumentStore
from retrieval.config import BuildConfig
from retrieval.encode.chunking import Chunk
from retrieval.registry import Role


class Scratch(Protocol):
    """The append-only files a build's encoding pass fills, committed with its progress (resumable)."""

    def write(self, name: str, array: np.ndarray) -> None:
        """Append ``array``'s bytes to the scratch file ``name``."""


class ComponentRecipe(Protocol):
    """How one index component is fed. A recipe whose encoder is ``None`` (for example BM25's analyser, which
    needs no model) takes no part in the checkpointed encoding pass and builds its rows from the stored texts."""

    name: str
    component: type[IndexComponent]
    role: Role
    """What the component is to the rest of the project: build modes, search mode, fusion side, encoder keyword."""
    score_name: str
    """The label of this component's score in a hit's ``components`` (``dense``, ``maxsim``, ``bm25``)."""
    score_range: tuple[float, float | None]
    """The lowest and highest score its search can give (``None``: no fixed top), for fusion by bounds."""
    scratch_files: tuple[str, ...]

    def wanted(self, config: BuildConfig) -> bool:
        """Whether a build with these settings includes the component."""

    def load_encoder(self, config: BuildConfig, device: str | None) -> Any | None:
        """The document encoder a new build uses (``None``: no model)."""

    def stored_encoder(
        self, model: dict[str, Any] | None, device: str | None, *, queries_only: bool = False
    ) -> Any | None:
        """The encoder the ``model`` record of the component's manifest section names (never a default);
        ``queries_only``
        allows a lighter query-only one."""

    def describe_encoding(self, encoder: Any, config: BuildConfig, counts: dict[str, int]) -> dict[str, Any]:
        """Manifest facts about how documents were encoded (model, chunking); ``counts`` are long-document counts."""

    def write_chunks(self, scratch: Scratch, rows: np.ndarray, chunks: Sequence[Chunk], outputs: Any) -> None:
        """Append the encoder's ``outputs`` for ``chunks`` (of documents ``rows``, one per chunk) to the scratch
        files."""

    def rows_for_build(self, staging: Path, store: DocumentStore, encoder: Any, config: BuildConfig) -> Any:
        """The component's rows for every stored document: from the scratch files the encoding pass wrote, or
        (a recipe without an encoder) from the stored texts. A non-incremental component's recipe must not need
        scratch files: updates rebuild it through this method."""

    def encode_rows(
        self, encoder: Any, store: DocumentStore, rows: np.ndarray, texts: Sequence[str], config: BuildConfig
    ) -> Any:
        """The component's rows for some documents (row ids ``rows``, embedded texts ``texts``), for updates."""

    def build_settings(self, config: BuildConfig) -> dict[str, Any]:
        """What the component's ``build`` reads from the build settings."""

    def encode_queries(self, encoder: Any, queries: Sequence[str], section: Any = None) -> Sequence[Any]:
        """Queries in the form the component searches; ``section`` is the component's manifest section (BM25 reads
        the analyser its documents were analysed with there)."""

    def prepare_queries(self, encoder: Any) -> None:
        """Called once a build is committed: leave whatever makes later searches start fast (may do nothing)."""
