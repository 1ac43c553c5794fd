"""The searcher: load an index folder and the model its manifest names, answer queries with one result type."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, overload

import numpy as np

from index.bm25 import BM25Index
from index.chunks import unpack_ids
from index.dense import DenseIndex
from index.docstore import DocumentStore
from index.maxsim import maxsim_alignment
from index.multivector import MultiVectorIndex
from index.errors import IndexFormatError
from index.format import DOCUMENTS_NAME, read_manifest, verify_files
from index.lock import wait_while_swapping
from retrieval.chunking import ChunkPolicy, aggregate_chunks, split_text
from retrieval.config import SearchConfig
from retrieval.encoders import DenseEncoder, load_manifest_encoder
from retrieval.fusion import linear_fusion, reciprocal_rank_fusion
from retrieval.lexical import analyse
from retrieval.multivector_encoder import MultiVectorEncoder
from retrieval.query_runtime import LightQueryEncoder
from retrieval.query_text import EmptyQueryError, has_visible_text


CHUNK_OVERFETCH = 4  # dense chunk hits fetched per wanted document (multiplied again while too few documents)
# Opening is serialised: numpy reads every .npy header with ast.literal_eval, and CPython 3.11's AST
# conversion is not thread-safe (gh-106905: "AST constructor recursion depth mismatch" when threads
# open indexes at once, as Streamlit sessions or API callers do). Searching stays concurrent.
_OPEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class Hit:
    """One retrieved document."""

    rank: int
    id: str
    score: float
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    components: dict[str, float] = field(default_factory=dict)
    """Score of each stage that saw this document: bm25, dense, fused, maxsim (absent where a stage did not retrieve it)."""
    passage: tuple[int, int] | None = None
    """For a document indexed in chunks: ``[start, end)`` in ``text`` of the chunk that matched best (dense stage)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form used by ``search --json``."""
        found = {"id": self.id, "score": self.score, "title": self.title, "text": self.text, "components": self.components}
        return {**found, "passage": list(self.passage)} if self.passage else found


@dataclass(frozen=True)
class Candidate:
    """A document between stages: row id, current score, and the score of each stage so far."""

    row_id: int
    score: float
    components: dict[str, float]
    chunk: int = -1  # best-matching dense chunk of a split document, -1 where unknown


def _version(index_dir: Path) -> tuple[int, int] | None:
    """Identity of the committed version: every commit writes a new folder, so a new manifest inode."""
    try:
        stat = (index_dir / "manifest.json").stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _ranking(scores: Any, row_ids: Any, component: str) -> list[Candidate]:
    """Candidates from one retriever's ``(scores, row ids)``, skipping FAISS's -1 padding."""
    return [Candidate(int(r), float(s), {component: float(s)}) for s, r in zip(scores, row_ids) if r >= 0]


def _present(name: str, scores: dict[int, float], row: int) -> dict[str, float]:
    return {name: scores[row]} if row in scores else {}


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
        """JSON form: ``{"query", "results": [{"id", "score", "title", "text", "components"}], "timings_ms"}``."""
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
        bm25: BM25Index | None = None,
    ) -> None:
        self.index_dir = index_dir
        self.manifest = manifest
        self._store = store
        self._dense = dense
        self._multivector = multivector
        self._encoder = encoder
        self._multivector_encoder = multivector_encoder
        self._device = device
        self._bm25 = bm25
        # more vectors than documents: some documents are split into chunks, so dense hits need aggregating
        self._chunked = "dense" in manifest and manifest["dense"]["count"] > manifest["documents"]["count"]

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
        given), never the defaults. The searcher holds one committed version: if a
        writer commits while the files are being opened, they are opened again, so a
        searcher never mixes two versions; once open, it keeps its version (memory
        maps and open files outlive the swap) until it is closed.
        """
        index_dir = Path(index_dir)
        for _ in range(10):
            wait_while_swapping(index_dir)  # a writer between its two renames: wait for the new version
            version = _version(index_dir)
            try:
                with _OPEN_LOCK:
                    searcher = cls._open(index_dir, verify, encoder, multivector_encoder, device)
            except (IndexFormatError, OSError):
                if _version(index_dir) != version:
                    continue  # a commit replaced the files under us: read the new version
                raise
            if _version(index_dir) == version:
                return searcher
            searcher.close()
        raise IndexFormatError(f"{index_dir} kept changing while it was being opened (ten commits in a row); try again.")

    @classmethod
    def _open(
        cls, index_dir: Path, verify: bool, encoder: DenseEncoder | None,
        multivector_encoder: MultiVectorEncoder | None, device: str | None,
    ) -> "Searcher":
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
            if len(dense) != info["count"]:
                raise IndexFormatError(
                    f"{index_dir}: the FAISS index holds {len(dense)} vectors but the manifest records "
                    f"{info['count']}. Rebuild the index."
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
        bm25 = None
        if "bm25" in manifest:
            try:
                bm25 = BM25Index.load(index_dir, manifest["bm25"])
            except (OSError, ValueError, KeyError) as err:
                raise IndexFormatError(f"{index_dir}: the BM25 files cannot be read ({err}). Rebuild the index.") from err
            if len(bm25) != count:
                raise IndexFormatError(
                    f"{index_dir}: the BM25 index holds {len(bm25)} documents but the manifest records {count}. Rebuild the index."
                )
        return cls(index_dir, manifest, store, dense, multivector, encoder, multivector_encoder, device, bm25)

    @property
    def modes(self) -> list[str]:
        """Search modes this index supports, the default first (hybrid, for an index built for it)."""
        available = [m for m, index in (("dense", self._dense), ("multivector", self._multivector), ("bm25", self._bm25)) if index is not None]
        if self._dense is not None and self._bm25 is not None:
            available.insert(0, "hybrid")
        return available

    @property
    def encoder(self) -> DenseEncoder | LightQueryEncoder:
        """The manifest's dense model, loaded on first use: its checked ONNX export where a build left one
        (see :mod:`retrieval.query_runtime`: no PyTorch import), else the model itself."""
        if self._encoder is None:
            light = LightQueryEncoder.open(self.manifest["model"]) if self._device in (None, "cpu") else None
            self._encoder = light or load_manifest_encoder(self.manifest["model"], device=self._device)
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
    def search(self, queries: str, k: int = 10, mode: str | None = None, config: SearchConfig | None = None) -> SearchResult: ...
    @overload
    def search(
        self, queries: Sequence[str], k: int = 10, mode: str | None = None, config: SearchConfig | None = None
    ) -> list[SearchResult]: ...

    def search(
        self, queries: str | Sequence[str], k: int = 10, mode: str | None = None, config: SearchConfig | None = None
    ) -> SearchResult | list[SearchResult]:
        """Top-``k`` documents per query; a single string gives one result, a list gives a list of results.

        ``config`` sets hybrid fusion and reranking (see :class:`SearchConfig`).
        """
        single = isinstance(queries, str)
        results = self.search_batch([queries] if single else list(queries), k=k, mode=mode, config=config)
        return results[0] if single else results

    def search_batch(
        self, queries: Sequence[str], k: int = 10, mode: str | None = None, config: SearchConfig | None = None
    ) -> list[SearchResult]:
        """Search a batch of queries; timings are those of the whole batch divided per query."""
        config = config or SearchConfig()
        mode = mode or self.modes[0]
        self._check_request(queries, k, mode, config)
        if not queries:
            return []
        rerank = config.rerank == "multivector" and mode != "multivector"  # multivector results are MaxSim already
        depth = max(k, config.rerank_depth) if rerank else k
        # models load before the clock starts: timings measure queries, not model loading
        dense_encoder = self.encoder if mode in ("dense", "hybrid") else None
        mv_encoder = self.multivector_encoder if mode == "multivector" or rerank else None

        started = time.perf_counter()
        dense_vectors = dense_encoder.encode_queries(queries) if dense_encoder else None
        mv_vectors = mv_encoder.encode_queries(queries) if mv_encoder else None
        lexical = analyse(queries) if mode in ("bm25", "hybrid") else None
        encoded = time.perf_counter()
        if mode == "multivector":
            ranked = [_ranking(*self._multivector.search(v, k), "maxsim") for v in mv_vectors]
        elif mode == "bm25":
            ranked = [_ranking(*self._bm25.search(tokens, depth), "bm25") for tokens in lexical]
        elif mode == "dense":
            ranked = self._dense_candidates(dense_vectors, depth, config)
        else:
            ranked = self._hybrid(dense_vectors, lexical, depth, config)
        searched = time.perf_counter()
        if rerank:
            ranked = [self._rerank(candidates[:depth], v) for candidates, v in zip(ranked, mv_vectors)]
        reranked = time.perf_counter()
        results = [self._result(q, r[:k], mode) for q, r in zip(queries, ranked)]
        finished = time.perf_counter()
        n = len(queries)
        timings = {
            "encode": round((encoded - started) * 1000 / n, 2),
            "search": round((searched - encoded) * 1000 / n, 2),
            **({"rerank": round((reranked - searched) * 1000 / n, 2)} if rerank else {}),
            "total": round((finished - started) * 1000 / n, 2),
        }
        return [SearchResult(r.query, r.hits, r.mode, dict(timings)) for r in results]

    def _check_request(self, queries: Sequence[str], k: int, mode: str, config: SearchConfig) -> None:
        if mode not in self.modes:
            raise ValueError(f"This index supports modes {self.modes}, not {mode!r}.")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if config.rerank == "multivector" and self._multivector is None:
            raise ValueError("--rerank multivector needs a multi-vector index (build with --mode hybrid, both or multivector).")
        for q in queries:
            if not has_visible_text(q):
                raise EmptyQueryError(q)

    def _hybrid(
        self, dense_vectors: np.ndarray, lexical: list[list[str]], depth: int, config: SearchConfig
    ) -> list[list[Candidate]]:
        """BM25 and dense candidates per query, fused by RRF or by weighted normalised scores."""
        n_candidates = max(depth, config.candidates)
        fused_lists = []
        for tokens, dense_ranked in zip(lexical, self._dense_candidates(dense_vectors, n_candidates, config)):
            b_scores, b_rows = self._bm25.search(tokens, n_candidates)
            dense = {c.row_id: c.score for c in dense_ranked}
            chunks = {c.row_id: c.chunk for c in dense_ranked}
            bm25 = {int(r): float(s) for s, r in zip(b_scores, b_rows)}
            if config.fusion == "rrf":
                fused = reciprocal_rank_fusion([list(bm25), list(dense)], k=config.rrf_k)
            else:
                fused = linear_fusion([dense, bm25], [config.alpha, 1.0 - config.alpha])
            fused_lists.append([
                Candidate(row, score, {**_present("bm25", bm25, row), **_present("dense", dense, row), "fused": score},
                          chunks.get(row, -1))
                for row, score in fused[:depth]
            ])
        return fused_lists

    def _dense_candidates(self, vectors: np.ndarray, depth: int, config: SearchConfig) -> list[list[Candidate]]:
        """Top-``depth`` documents per query from the dense index: chunk hits aggregated into document scores,
        fetching more chunks until ``depth`` distinct documents are found (or the index is exhausted)."""
        fetch = depth * CHUNK_OVERFETCH if self._chunked else depth
        while True:
            scores, ids = self._dense.search(vectors, fetch)
            ranked = []
            for s, i in zip(scores, ids):
                rows, chunks = unpack_ids(i)
                ranked.append(aggregate_chunks(s, rows, chunks, config.chunk_aggregate)[:depth])
            if not self._chunked or fetch >= len(self._dense) or all(len(r) >= depth for r in ranked):
                break
            fetch *= CHUNK_OVERFETCH
        return [[Candidate(row, score, {"dense": score}, chunk) for row, score, chunk in r] for r in ranked]

    def _rerank(self, candidates: list[Candidate], query_vectors: np.ndarray) -> list[Candidate]:
        """Rescore candidates by exact MaxSim over their stored token vectors; best first, ties by row id."""
        if not candidates:
            return []
        maxsim = self._multivector.score(query_vectors, [c.row_id for c in candidates])
        rescored = [Candidate(c.row_id, float(m), {**c.components, "maxsim": float(m)}, c.chunk) for c, m in zip(candidates, maxsim)]
        return sorted(rescored, key=lambda c: (-c.score, c.row_id))

    def _result(self, query: str, ranked: list[Candidate], mode: str) -> SearchResult:
        docs = self._store.get([c.row_id for c in ranked])
        found = [(c, d) for c, d in zip(ranked, docs) if d is not None]
        hits = [
            Hit(rank, doc.id, c.score, doc.title, doc.text, doc.metadata, c.components, self._passage(c, doc))
            for rank, (c, doc) in enumerate(found, start=1)
        ]
        return SearchResult(query, hits, mode, {})

    def _passage(self, candidate: Candidate, document: Any) -> tuple[int, int] | None:
        """The best chunk's span in the document's text (chunk spans are kept in title + text coordinates)."""
        if not self._chunked or candidate.chunk < 0:
            return None
        span = self._store.chunk_span(candidate.row_id, candidate.chunk)
        if span is None:
            return None
        shift = len(document.title) + 1 if document.title else 0
        start, end = max(span[0] - shift, 0), max(span[1] - shift, 0)
        return (start, end) if end > start else None

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
            doc_tokens = self._document_tokens(document.full_text)
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

    def _document_tokens(self, text: str) -> list[tuple[str, tuple[int, int] | None]]:
        """Token texts and spans in the order the index stores the document's token vectors: chunk by chunk."""
        info = self.manifest["multivector"].get("chunking")
        if not info:
            return self.multivector_encoder.document_tokens(text)
        policy = ChunkPolicy(info["long_docs"], info["chunk_tokens"], info["chunk_overlap"], info["max_tokens"])
        tokens: list[tuple[str, tuple[int, int] | None]] = []
        for chunk in split_text(text, self.multivector_encoder.tokenizer, policy):
            for token, span in self.multivector_encoder.document_tokens(text[chunk.start : chunk.end]):
                tokens.append((token, None if span is None else (span[0] + chunk.start, span[1] + chunk.start)))
        return tokens

    def documents_sample(self, n: int = 20) -> list[Any]:
        """The first ``n`` documents, for index previews."""
        return self._store.sample(n)

    def close(self) -> None:
        """Release the document store."""
        self._store.close()
