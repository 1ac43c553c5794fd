"""The searcher: load an index folder and the model its manifest names, answer queries with one result type."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, overload

from index.dense import DenseIndex
from index.docstore import DocumentStore
from index.maxsim import maxsim_alignment
from index.multivector import MultiVectorIndex
from index.errors import IndexFormatError
from index.format import DOCUMENTS_NAME, read_manifest, recover_interrupted_swap, verify_files
from retrieval.encoders import DenseEncoder, load_manifest_encoder
from retrieval.multivector_encoder import MultiVectorEncoder


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
class TokenMatch:
    """One query token of a multi-vector match: the document token it matched best, and how well."""

    query_token: str
    document_token: str
    span: tuple[int, int] | None
    similarity: float


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

    def __init__(
        self,
        index_dir: Path,
        manifest: dict[str, Any],
        store: DocumentStore,
        dense: DenseIndex | None = None,
        multivector: MultiVectorIndex | None = None,
        encoder: DenseEncoder | None = None,
        multivector_encoder: MultiVectorEncoder | None = None,
        device: str | None = None,
    ) -> None:
        self.index_dir = index_dir
        self.manifest = manifest
        self._store = store
        self._dense = dense
        self._multivector = multivector
        self._encoder = encoder
        self._multivector_encoder = multivector_encoder
        self._device = device

    @classmethod
    def load(
        cls,
        index_dir: Path | str,
        *,
        verify: bool = True,
        encoder: DenseEncoder | None = None,
        multivector_encoder: MultiVectorEncoder | None = None,
        device: str | None = None,
    ) -> "Searcher":
        """Open an index folder; checksums are verified unless ``verify=False``.

        The models are the ones the manifest names (loaded on first search unless
        given), never the defaults.
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
        count = manifest["documents"]["count"]
        dense = multivector = None
        if "dense" in manifest:
            info = manifest["dense"]
            dense = DenseIndex.load(index_dir / info["file"], info["factory"], info.get("search_params"))
            if len(dense) != count:
                raise IndexFormatError(
                    f"{index_dir}: the FAISS index holds {len(dense)} vectors but the manifest records "
                    f"{count} documents. Rebuild the index."
                )
        if "multivector" in manifest:
            try:
                multivector = MultiVectorIndex.load(index_dir, manifest["multivector"].get("search_params"))
            except (OSError, ValueError, RuntimeError) as err:
                raise IndexFormatError(f"{index_dir}: the multi-vector files cannot be read ({err}). Rebuild the index.") from err
            if len(multivector) != count:
                raise IndexFormatError(
                    f"{index_dir}: the multi-vector index holds {len(multivector)} documents but the manifest "
                    f"records {count}. Rebuild the index."
                )
        return cls(index_dir, manifest, store, dense, multivector, encoder, multivector_encoder, device)

    @property
    def modes(self) -> list[str]:
        """Search modes this index supports, the default first."""
        return [m for m, index in (("dense", self._dense), ("multivector", self._multivector)) if index is not None]

    @property
    def encoder(self) -> DenseEncoder:
        """The manifest's dense model, loaded on first use."""
        if self._encoder is None:
            self._encoder = load_manifest_encoder(self.manifest["model"], device=self._device)
        return self._encoder

    @property
    def multivector_encoder(self) -> MultiVectorEncoder:
        """The manifest's ColBERT model, loaded on first use."""
        if self._multivector_encoder is None:
            spec = self.manifest["multivector"]["model"]["spec"]
            self._multivector_encoder = MultiVectorEncoder.load(spec, device=self._device)
        return self._multivector_encoder

    def query_encoder(self, mode: str | None = None) -> DenseEncoder | MultiVectorEncoder:
        """The encoder a mode's queries go through."""
        return self.multivector_encoder if (mode or self.modes[0]) == "multivector" else self.encoder

    def __len__(self) -> int:
        return int(self.manifest["documents"]["count"])

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
        if mode == "multivector":
            encoder = self.multivector_encoder  # loaded before the clock starts: timings measure queries, not model loading
            started = time.perf_counter()
            vectors = encoder.encode_queries(queries)
            encoded = time.perf_counter()
            answers = [self._multivector.search(v, k) for v in vectors]
            scores, row_ids = [a[0] for a in answers], [a[1] for a in answers]
        else:
            encoder = self.encoder
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

    def explain(self, query: str, doc_id: str) -> list[TokenMatch]:
        """For each query token, the document token it matches best under MaxSim, with the similarity."""
        return self.explain_hits(query, [doc_id])[doc_id]

    def explain_hits(self, query: str, doc_ids: Sequence[str]) -> dict[str, list[TokenMatch]]:
        """:meth:`explain` for several documents, encoding the query once.

        Token vectors come from the index (decoded when compressed); token texts and
        character spans (into the document text) come from re-tokenizing the document
        the way the model does. Tokens of the title have no span.
        """
        if self._multivector is None:
            raise ValueError("Token explanations need a multi-vector index (build with --mode multivector or both).")
        encoder = self.multivector_encoder
        query_vectors = encoder.encode_queries([query])[0]
        query_tokens = encoder.query_tokens(query)
        explained = {}
        for doc_id in doc_ids:
            row_id = self._store.row_id(doc_id)
            if row_id is None:
                raise KeyError(f"No document with id {doc_id!r} in {self.index_dir}")
            document = self._store.get([row_id])[0]
            doc_vectors = self._multivector.document_vectors(self._multivector.position_of(row_id))
            best, similarities = maxsim_alignment(query_vectors, doc_vectors)
            doc_tokens = encoder.document_tokens(document.full_text)
            if len(doc_tokens) != len(doc_vectors):
                doc_tokens = [(f"#{i}", None) for i in range(len(doc_vectors))]
            shift = len(document.title) + 1 if document.title else 0
            matches = []
            for i, (b, sim) in enumerate(zip(best, similarities)):
                token, span = doc_tokens[int(b)]
                if span is not None:
                    span = (span[0] - shift, span[1] - shift) if span[0] >= shift else None
                label = query_tokens[i] if i < len(query_tokens) else f"#{i}"
                matches.append(TokenMatch(label, token, span, float(sim)))
            explained[doc_id] = matches
        return explained

    def documents_sample(self, n: int = 20) -> list[Any]:
        """The first ``n`` documents, for index previews."""
        return self._store.sample(n)

    def close(self) -> None:
        """Release the document store."""
        self._store.close()
