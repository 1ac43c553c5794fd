"""The multi-vector component: every document's token vectors, searched by MaxSim
(:mod:`index.multivector.token_index`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from index.component import Ranking, encoding_row, register, same_ids, sorted_ids
from index.errors import IndexFormatError
from index.multivector.search import search_parts
from index.multivector.token_index import FILES, MultiVectorIndex
from index.sections import Section


@dataclass
class MultiVectorSection(Section):
    """The multi-vector component's manifest section."""

    model: dict[str, Any]
    codec: str
    centroids: int
    dimension: int
    documents: int
    tokens: int
    pq: str = ""
    bytes_per_token: int = 0
    search_params: dict[str, Any] = field(default_factory=dict)
    trained: dict[str, Any] | None = None
    chunking: dict[str, Any] = field(default_factory=dict)
    unit_tokens: bool = False  # decoded tokens renormalised (indexes built before this was recorded: not)


@dataclass(frozen=True)
class TokenRows:
    """Encoded documents: ``(n_tokens, dim)`` token vectors, document ``i`` owning
    ``tokens[offsets[i]:offsets[i+1]]``."""

    tokens: np.ndarray
    offsets: np.ndarray
    row_ids: np.ndarray


@register
class MultiVectorComponent:
    """ColBERT-style late interaction: a PLAID-style candidate search, then exact MaxSim."""

    name: ClassVar[str] = "multivector"
    section_type: ClassVar[type[Section]] = MultiVectorSection
    incremental: ClassVar[bool] = True
    stage_calls: ClassVar[frozenset[str]] = frozenset({"count", "rows", "shortlist", "interaction", "score"})

    def __init__(self, index: MultiVectorIndex) -> None:
        self.index = index

    @classmethod
    def build(cls, rows: TokenRows, settings: Mapping[str, Any]) -> MultiVectorComponent:
        return cls(MultiVectorIndex.build(rows.tokens, rows.offsets, rows.row_ids, codec=settings.get("codec", "pq")))

    @classmethod
    def load(cls, folder: Path, section: MultiVectorSection, *, writable: bool = False) -> MultiVectorComponent:
        try:
            index = MultiVectorIndex.load(Path(folder), section.search_params, section.unit_tokens)
        except (OSError, ValueError, RuntimeError) as err:
            raise IndexFormatError(
                f"{folder}: the multi-vector files cannot be read ({err}). Rebuild the index."
            ) from err
        if len(index) != section.documents:
            raise IndexFormatError(
                f"{folder}: the multi-vector index holds {len(index)} documents but the manifest records "
                f"{section.documents}. Rebuild the index."
            )
        return cls(index)

    def save(self, folder: Path) -> list[str]:
        for name in MultiVectorIndex.payload_names(folder):
            (Path(folder) / name).unlink()  # never rewrite a file in place while it may still be memory-mapped
        return self.index.save(Path(folder))

    def add(self, rows: TokenRows) -> MultiVectorComponent:
        if len(rows.row_ids) == 0:
            return self
        return MultiVectorComponent(
            self.index.with_documents(np.asarray(rows.tokens, dtype=np.float32), rows.offsets, rows.row_ids)
        )

    def remove(self, row_ids: np.ndarray) -> MultiVectorComponent:
        return MultiVectorComponent(self.index.without_documents(np.asarray(row_ids, dtype=np.int64)))

    def part(self, row_ids: np.ndarray) -> MultiVectorComponent:
        doc_ids = np.asarray(self.index.doc_ids)
        return MultiVectorComponent(
            self.index.without_documents(doc_ids[~np.isin(doc_ids, np.asarray(row_ids, dtype=np.int64))])
        )

    def row_ids(self) -> np.ndarray:
        return sorted_ids(self.index.doc_ids)

    def search(
        self,
        queries: Sequence[Any],
        k: int,
        *,
        allowed: np.ndarray | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> list[Ranking]:
        return self.search_parts([self], queries, k, allowed=allowed, options=options)

    @classmethod
    def search_parts(
        cls,
        parts: Sequence[MultiVectorComponent],
        queries: Sequence[Any],
        k: int,
        *,
        allowed: np.ndarray | None = None,
        options: Mapping[str, Any] | None = None,
        run: Any = map,
    ) -> list[Ranking]:
        """:meth:`search` over the parts of a split component (shards) together, as the whole would answer."""
        knobs = {
            name: (options or {}).get(f"multivector_{name}") for name in ("nprobe", "shortlist", "candidates", "prune")
        }
        found = []
        for query in queries:
            scores, rows = search_parts([p.index for p in parts], query, k, allowed=allowed, run=run, **knobs)
            found.append(Ranking(np.asarray(rows, dtype=np.int64), np.asarray(scores, dtype=np.float32)))
        return found

    def stage_facts(self) -> dict[str, Any]:
        """The trained centroids and recorded search knobs the stages read of every part, and its document count."""
        return {
            "centroids": self.index.centroids,
            "search_params": self.index.search_params,
            "documents": self.index.count(None),
        }

    def document_vectors(self, row_id: int) -> np.ndarray:
        """The stored token vectors of one document (decoded when compressed)."""
        return self.index.document_vectors(self.index.position_of(row_id))

    def rescore(self, query: Any, row_ids: Sequence[int]) -> np.ndarray:
        """Exact MaxSim of one encoded query against the given documents (a reranking stage)."""
        return self.index.score(query, row_ids)

    def describe(self) -> dict[str, Any]:
        return self.index.describe()

    def training_fit(self) -> dict[str, Any] | None:
        """Mean squared token residual right after training (what :meth:`drift` compares against)."""
        return {"residual_energy": round(self.index.residual_energy(), 6), "tokens": self.index.n_tokens}

    def drift(self, section: MultiVectorSection) -> float | None:
        """Residual energy now over right after training: tokens unlike the training data sit far from every
        centroid."""
        if not section.trained:
            return None
        return round(self.index.residual_energy() / section.trained["residual_energy"], 4)

    @classmethod
    def summary(cls, section: MultiVectorSection) -> list[tuple[str, str]]:
        """Rows for people (``info``, the UI's index page)."""
        return [
            ("multi-vector model", f"{section.model.get('name')} (spec {section.model.get('spec')})"),
            encoding_row(section.model, "multi-vector encoding"),
            ("token dimensions", str(section.dimension)),
            (
                "token index",
                f"{section.centroids:,} k-means centroids, "
                f"{section.pq if section.codec != 'none' else 'exact float32 vectors'}",
            ),
            ("tokens", f"{section.tokens:,} ({section.bytes_per_token} bytes each in the token store)"),
            ("multi-vector search params", json.dumps(section.search_params)),
        ]

    @classmethod
    def label(cls, section: MultiVectorSection) -> str:
        """The structure in a few words, for build summaries and result tables."""
        return f"MV{section.centroids},{section.codec.upper() if section.codec != 'none' else 'exact'}"

    @classmethod
    def verify(cls, folder: Path, section: MultiVectorSection, row_ids: np.ndarray) -> str:
        folder = Path(folder)

        def load(key: str) -> np.ndarray:
            return np.load(folder / FILES[key], mmap_mode="r")

        offsets, centroid_of_token, codes = load("doc_offsets"), load("token_centroid"), load("token_codes")
        n_centroids = len(load("centroids"))
        if (
            offsets[0] != 0
            or np.any(np.diff(offsets) < 0)
            or offsets[-1] != len(codes)
            or len(codes) != len(centroid_of_token)
        ):
            raise IndexFormatError(
                f"{folder / FILES['doc_offsets']}: offsets must rise from 0 to the {len(codes):,} stored tokens "
                f"(they end at {int(offsets[-1]):,})"
            )
        if len(centroid_of_token) and (centroid_of_token.min() < 0 or centroid_of_token.max() >= n_centroids):
            raise IndexFormatError(f"{folder / FILES['token_centroid']}: centroid ids outside 0..{n_centroids - 1}")
        same_ids(str(folder / FILES["doc_ids"]), load("doc_ids"), row_ids)
        ivf_offsets, ivf_docs = load("ivf_offsets"), load("ivf_docs")
        if (
            len(ivf_offsets) != n_centroids + 1
            or ivf_offsets[-1] != len(ivf_docs)
            or (len(ivf_docs) and ivf_docs.max() >= len(offsets) - 1)
        ):
            raise IndexFormatError(
                f"{folder / FILES['ivf_offsets']}: inverted lists do not match the centroids and documents"
            )
        return f"{len(offsets) - 1:,} documents, {len(codes):,} tokens, {n_centroids:,} centroids, lists consistent"
