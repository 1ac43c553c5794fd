"""The searcher: load an index folder and the model its manifest names, answer queries with one result type."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, overload

from index.dense import DenseIndex
from index.docstore import DocumentStore
from index.errors import IndexFormatError
from index.format import DOCUMENTS_NAME, read_manifest, recover_interrupted_swap, verify_files
from retrieval.encoders import DenseEncoder, load_manifest_encoder


@dataclass(frozen=True)
class Hit:
    """One retrieved document."""

    rank: int
    id: str
    score: float
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form used by ``search --json``."""
        return {"id": self.id, "score": self.score, "title": self.title, "text": self.text}


@dataclass(frozen=True)
class SearchResult:
    """The answer to one query: ranked hits, the mode used, and where the time went (milliseconds)."""

    query: str
    hits: list[Hit]
    mode: str
    timings_ms: dict[str, float]

    @property
    def ids(self) -> list[str]:
        """Document ids in rank order."""
        return [h.id for h in self.hits]

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"query", "results": [{"id", "score", "title", "text"}], "timings_ms"}``."""
        return {
            "query": self.query,
            "results": [h.to_dict() for h in self.hits],
            "timings_ms": self.timings_ms,
        }


class Searcher:
    """Search one index folder. ``Searcher.load(DIR).search("query", k=10)``."""

    def __init__(self, index_dir: Path, manifest: dict[str, Any], store: DocumentStore, dense: DenseIndex, encoder: DenseEncoder | None = None) -> None:
        self.index_dir = index_dir
        self.manifest = manifest
        self._store = store
        self._dense = dense
        self._encoder = encoder

    @classmethod
    def load(cls, index_dir: Path | str, *, verify: bool = True, encoder: DenseEncoder | None = None, device: str | None = None) -> "Searcher":
        """Open an index folder; checksums are verified unless ``verify=False``.

        The model is the one the manifest names (loaded on first search unless
        ``encoder`` is given), never the default model.
        """
        index_dir = Path(index_dir)
        recover_interrupted_swap(index_dir)
        manifest = read_manifest(index_dir)
        if verify:
            verify_files(index_dir, manifest)
        try:
            store = DocumentStore.open(index_dir / manifest["documents"]["file"])
        except (sqlite3.DatabaseError, KeyError, FileNotFoundError) as err:
            raise IndexFormatError(f"{index_dir / DOCUMENTS_NAME} cannot be opened: {err}. Rebuild the index.") from err
        info = manifest["dense"]
        dense = DenseIndex.load(index_dir / info["file"], info["factory"], info.get("search_params"))
        if len(dense) != manifest["documents"]["count"]:
            raise IndexFormatError(
                f"{index_dir}: the FAISS index holds {len(dense)} vectors but the manifest records "
                f"{manifest['documents']['count']} documents. Rebuild the index."
            )
        searcher = cls(index_dir, manifest, store, dense, encoder)
        searcher._device = device
        return searcher

    @property
    def modes(self) -> list[str]:
        """Search modes this index supports."""
        return ["dense"]

    @property
    def encoder(self) -> DenseEncoder:
        """The manifest's model, loaded on first use."""
        if self._encoder is None:
            self._encoder = load_manifest_encoder(self.manifest["model"], device=getattr(self, "_device", None))
        return self._encoder

    def __len__(self) -> int:
        return len(self._dense)

    @overload
    def search(self, queries: str, k: int = 10, mode: str | None = None) -> SearchResult: ...
    @overload
    def search(self, queries: Sequence[str], k: int = 10, mode: str | None = None) -> list[SearchResult]: ...

    def search(self, queries: str | Sequence[str], k: int = 10, mode: str | None = None) -> SearchResult | list[SearchResult]:
        """Top-``k`` documents per query; a single string gives one result, a list gives a list of results."""
        single = isinstance(queries, str)
        results = self.search_batch([queries] if single else list(queries), k=k, mode=mode)
        return results[0] if single else results

    def search_batch(self, queries: Sequence[str], k: int = 10, mode: str | None = None) -> list[SearchResult]:
        """Search a batch of queries; timings are those of the whole batch divided per query."""
        mode = mode or self.modes[0]
        if mode not in self.modes:
            raise ValueError(f"This index supports modes {self.modes}, not {mode!r}.")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if not queries:
            return []
        for q in queries:
            if not isinstance(q, str) or not q.strip():
                raise ValueError("Queries must be non-empty text.")
        encoder = self.encoder  # loaded before the clock starts: timings measure queries, not model loading
        started = time.perf_counter()
        vectors = encoder.encode_queries(queries)
        encoded = time.perf_counter()
        scores, row_ids = self._dense.search(vectors, k)
        searched = time.perf_counter()
        results = [self._result(q, s, r, mode) for q, s, r in zip(queries, scores, row_ids)]
        finished = time.perf_counter()
        n = len(queries)
        timings = {
            "encode": round((encoded - started) * 1000 / n, 2),
            "search": round((searched - encoded) * 1000 / n, 2),
            "total": round((finished - started) * 1000 / n, 2),
        }
        return [SearchResult(r.query, r.hits, r.mode, dict(timings)) for r in results]

    def _result(self, query: str, scores: Any, row_ids: Any, mode: str) -> SearchResult:
        valid = [(float(s), int(r)) for s, r in zip(scores, row_ids) if r >= 0]
        docs = self._store.get([r for _, r in valid])
        hits = [
            Hit(rank, doc.id, score, doc.title, doc.text, doc.metadata)
            for rank, ((score, _), doc) in enumerate(((v, d) for v, d in zip(valid, docs) if d is not None), start=1)
        ]
        return SearchResult(query, hits, mode, {})

    def documents_sample(self, n: int = 20) -> list[Any]:
        """The first ``n`` documents, for index previews."""
        return self._store.sample(n)

    def close(self) -> None:
        """Release the document store."""
        self._store.close()
