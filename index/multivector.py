"""Multi-vector index: FAISS k-means centroids over token vectors, coded residuals, MaxSim over candidates.

Layout in the index folder (all ``.npy`` memory-mapped on load, except the small centroid table):

    mv_centroids.npy       (K, dim) float32    k-means centroids (faiss.Kmeans)
    mv_pq.faiss / mv_sq.npy  the residual codec (token - its centroid; :mod:`index.residual_codec`)
    mv_token_centroid.npy  (n_tokens,) int32   centroid of every token                 4 bytes/token
    mv_token_codes.npy     (n_tokens, M) uint8 code of every token's residual          M bytes/token
    mv_doc_offsets.npy     (n_docs + 1,) int64 tokens of document i: [offsets[i], offsets[i+1])
    mv_doc_ids.npy         (n_docs,) int64     document row ids (documents.sqlite)
    mv_ivf_offsets.npy     (K + 1,) int64      documents holding a token of centroid c:
    mv_ivf_docs.npy        (n_postings,) int32   ivf_docs[ivf_offsets[c]:ivf_offsets[c+1]]
    mv_token_vectors.npy   (n_tokens, dim) float32, only with codec "none" (exact, for oracle tests)

Search (three stages, PLAID-style): each query token probes its ``nprobe`` nearest
centroids; every document in those lists gets, per query token, the best score of
the probed centroids it has a token in, summed over query tokens (read from the
inverted lists alone, no per-token work); the best ``shortlist`` of those are
re-scored by centroid interaction (MaxSim with every token replaced by its centroid,
4 bytes read per token); the best ``candidates`` of those are decoded
(centroid + residual) and ranked by MaxSim on the decoded vectors. Where the indexed
tokens were unit vectors (a ColBERT model's always are; recorded as ``unit_tokens``),
decoded vectors are scaled back to unit length: the codec's error along the token's
own direction then no longer shifts its similarity to every query token alike.

Token pruning (``prune``, a centroid score): a token whose centroid scores below it for
every query token, and is not among any query token's 16 best centroids, is skipped by
the centroid interaction and never decoded, so a document of thousands of tokens costs
only its few tokens near the query. The similarities of pruned tokens are low by
construction, so they are rarely a query token's best; how rarely is measured
(``bench long``, ``bench multivector``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from index import residual_codec
from index.rows import best_of, positions_of

FILES = {
    "centroids": "mv_centroids.npy",
    "pq": residual_codec.PQ_FILE,
    "sq": residual_codec.SQ_FILE,
    "token_centroid": "mv_token_centroid.npy",
    "token_codes": "mv_token_codes.npy",
    "doc_offsets": "mv_doc_offsets.npy",
    "doc_ids": "mv_doc_ids.npy",
    "ivf_offsets": "mv_ivf_offsets.npy",
    "ivf_docs": "mv_ivf_docs.npy",
    "token_vectors": "mv_token_vectors.npy",
}
DEFAULT_NPROBE = 4
DEFAULT_PRUNE = 0.45
LONG_DOCUMENT_TOKENS = 512  # mean tokens per document from which pruning is on by default
SHORTLIST_PER_CANDIDATE = 4
DECODE_TOKENS = 131_072  # tokens of candidates a search decodes by default, before pruning
FEWEST_CANDIDATES = 64
BLOCK_TOKENS = 16_384  # tokens decoded at once: the temporaries stay small and their memory is reused
UNIT_LENGTH_TOLERANCE = 1e-3  # tokens whose norms are all this close to 1 are unit tokens


def search_defaults(n_docs: int, n_tokens: int | None = None) -> dict[str, Any]:
    """Search knobs for a collection of ``n_docs`` documents (``n_tokens`` tokens), recorded in the manifest at build
    time and overridable per search.

    Candidates (documents decoded for MaxSim) grow with the collection, one per 200 documents rounded to a power
    of two between 256 and 1,024; the centroid-interaction shortlist is 4x that. Larger collections hold more
    near-misses, so they need more candidates to keep exact MaxSim's ranking. Long documents cost per token, so the
    candidates are also held to about :data:`DECODE_TOKENS` tokens, but never fewer than 64. ``prune`` is the
    centroid score below which a token is skipped (0: none): on for long documents, where decoding every token of
    every candidate is what a search costs, off for short ones, where it saves little and costs some of exact
    MaxSim's ranking. Each value is the measured best of ``bench multivector`` and ``bench long`` (README).

    >>> search_defaults(5_000), search_defaults(200_000)["candidates"]
    ({'nprobe': 4, 'shortlist': 1024, 'candidates': 256, 'prune': 0.0}, 1024)
    >>> search_defaults(197, 2_400_000)
    {'nprobe': 4, 'shortlist': 256, 'candidates': 64, 'prune': 0.45}
    """
    candidates = int(min(1024, max(256, 2 ** round(math.log2(max(1, n_docs / 200))))))
    long_documents = bool(n_tokens and n_docs and n_tokens / n_docs >= LONG_DOCUMENT_TOKENS)
    if n_tokens and n_docs:
        by_tokens = 2 ** int(math.floor(math.log2(max(1.0, DECODE_TOKENS * n_docs / n_tokens))))
        candidates = max(FEWEST_CANDIDATES, min(candidates, by_tokens))
    return {"nprobe": DEFAULT_NPROBE, "shortlist": SHORTLIST_PER_CANDIDATE * candidates, "candidates": candidates,
            "prune": DEFAULT_PRUNE if long_documents else 0.0}


def centroid_count(n_tokens: int) -> int:
    """Number of k-means centroids: a power of two near 4*sqrt(n_tokens), at most n_tokens/64.

    Fewer centroids leave larger residuals for the 32-byte PQ codes to describe, which costs quality;
    more cost training time and memory (README, "Design choices").

    >>> centroid_count(350_000), centroid_count(14_000_000), centroid_count(5_000)
    (2048, 16384, 64)
    """
    target = min(4 * math.sqrt(n_tokens), n_tokens / 64)
    return int(2 ** max(0, round(math.log2(max(1.0, target)))))


EXACT_ASSIGNMENT_MAX_CENTROIDS = 4096
# Training effort: the fewest k-means iterations, on the smallest sample per centroid, that keep nDCG@10 at
# exact MaxSim's level; more effort only lengthens builds (README, "Design choices").
KMEANS_ITERATIONS = 6
KMEANS_POINTS_PER_CENTROID = 32


def centroid_search(dim: int, k: int) -> Any:
    """The FAISS index that finds a token's nearest centroid (inner product on unit vectors).

    Exact up to 4,096 centroids; above that (millions of tokens) an HNSW graph over the
    centroids, because exact assignment would cost n_tokens x K x dim and dominate the build.
    """
    import faiss

    if k <= EXACT_ASSIGNMENT_MAX_CENTROIDS:
        return faiss.IndexFlatIP(dim)
    graph = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction, graph.hnsw.efSearch = 80, 64
    return graph


@dataclass
class MultiVectorIndex:
    """Token vectors of many documents, searchable by MaxSim. Build with :meth:`build`, open with :meth:`load`."""

    centroids: np.ndarray
    quantizer: Any  # the residual codec: faiss.ProductQuantizer or faiss.ScalarQuantizer
    token_centroid: np.ndarray
    token_codes: np.ndarray
    doc_offsets: np.ndarray
    doc_ids: np.ndarray
    ivf_offsets: np.ndarray
    ivf_docs: np.ndarray
    token_vectors: np.ndarray | None = None
    search_params: dict[str, int] | None = None
    unit_tokens: bool = False  # the indexed tokens had unit length: decoded vectors are renormalised
    _last_admitted: tuple[np.ndarray, np.ndarray] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def codec(self) -> str:
        """One of :data:`~index.residual_codec.CODECS`: how residuals are stored (``none``: exact float32 vectors kept)."""
        return residual_codec.name_of(self.quantizer, self.token_vectors is not None)

    def __len__(self) -> int:
        return len(self.doc_ids)

    @property
    def n_tokens(self) -> int:
        return int(self.doc_offsets[-1])

    @classmethod
    def build(
        cls,
        tokens: np.ndarray,
        doc_offsets: np.ndarray,
        doc_ids: np.ndarray,
        *,
        codec: str = "pq",
        n_centroids: int | None = None,
        seed: int = 0,
    ) -> "MultiVectorIndex":
        """Train centroids and the residual codec on ``tokens`` ``(n_tokens, dim)`` and encode every token
        (``codec``: one of :data:`~index.residual_codec.CODECS`; ``none`` also keeps the exact vectors)."""
        import faiss

        quantizer, iterations, training_tokens = residual_codec.untrained(codec, tokens.shape[1])
        n_tokens, dim = tokens.shape
        if n_tokens == 0:
            raise ValueError("cannot build a multi-vector index without token vectors")
        k = n_centroids or centroid_count(n_tokens)
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n_tokens, size=min(n_tokens, k * KMEANS_POINTS_PER_CENTROID), replace=False))
        clustering = faiss.Clustering(dim, k)
        clustering.niter, clustering.seed, clustering.spherical = KMEANS_ITERATIONS, seed, True
        clustering.max_points_per_centroid = KMEANS_POINTS_PER_CENTROID
        clustering.min_points_per_centroid = KMEANS_POINTS_PER_CENTROID // 2  # FAISS warns below this; 32 is measured
        clustering.train(np.ascontiguousarray(tokens[sample], dtype=np.float32), centroid_search(dim, k))
        centroids = faiss.vector_to_array(clustering.centroids).reshape(k, dim).astype(np.float32)
        assigner = centroid_search(dim, k)
        assigner.add(centroids)

        codec_sample = np.sort(rng.choice(n_tokens, size=min(n_tokens, training_tokens), replace=False))
        sample_vectors = np.ascontiguousarray(tokens[codec_sample], dtype=np.float32)
        _, sample_assign = assigner.search(sample_vectors, 1)
        residual_codec.train(quantizer, iterations, sample_vectors - centroids[sample_assign[:, 0]])

        token_centroid, token_codes = _encode_tokens(tokens, centroids, assigner, quantizer)
        ivf_offsets, ivf_docs = _inverted_lists(token_centroid, np.asarray(doc_offsets), k)
        vectors = np.ascontiguousarray(tokens, dtype=np.float32) if codec == "none" else None
        norms = np.linalg.norm(sample_vectors, axis=1)
        unit = bool(np.all(np.abs(norms - 1.0) <= UNIT_LENGTH_TOLERANCE))
        return cls(centroids, quantizer, token_centroid, token_codes, np.asarray(doc_offsets, dtype=np.int64),
                   np.asarray(doc_ids, dtype=np.int64), ivf_offsets, ivf_docs, vectors, search_defaults(len(doc_ids), n_tokens),
                   unit)

    def with_documents(self, tokens: np.ndarray, doc_offsets: np.ndarray, doc_ids: np.ndarray) -> "MultiVectorIndex":
        """A new index that also holds these documents, encoded with the existing centroids and residual codec."""
        assigner = centroid_search(self.centroids.shape[1], len(self.centroids))
        assigner.add(self.centroids)
        new_centroid, new_codes = _encode_tokens(tokens, self.centroids, assigner, self.quantizer)
        offsets = np.concatenate([self.doc_offsets, self.doc_offsets[-1] + np.asarray(doc_offsets[1:], dtype=np.int64)])
        token_centroid = np.concatenate([self.token_centroid, new_centroid])
        vectors = None if self.token_vectors is None else np.concatenate([self.token_vectors, np.asarray(tokens, dtype=np.float32)])
        return self._replaced(
            token_centroid, np.concatenate([self.token_codes, new_codes]), offsets,
            np.concatenate([self.doc_ids, np.asarray(doc_ids, dtype=np.int64)]), vectors,
        )

    def without_documents(self, row_ids: np.ndarray | list[int]) -> "MultiVectorIndex":
        """A new index without the documents of these row ids (their tokens are dropped, the lists rebuilt)."""
        keep = ~np.isin(np.asarray(self.doc_ids), np.asarray(row_ids, dtype=np.int64))
        lengths = np.diff(self.doc_offsets)
        token_keep = np.repeat(keep, lengths)
        offsets = np.concatenate([[0], np.cumsum(lengths[keep])]).astype(np.int64)
        vectors = None if self.token_vectors is None else np.asarray(self.token_vectors)[token_keep]
        return self._replaced(
            np.asarray(self.token_centroid)[token_keep], np.asarray(self.token_codes)[token_keep], offsets,
            np.asarray(self.doc_ids)[keep], vectors,
        )

    def _replaced(self, token_centroid: np.ndarray, token_codes: np.ndarray, doc_offsets: np.ndarray,
                  doc_ids: np.ndarray, token_vectors: np.ndarray | None) -> "MultiVectorIndex":
        ivf_offsets, ivf_docs = _inverted_lists(token_centroid, doc_offsets, len(self.centroids))
        return MultiVectorIndex(self.centroids, self.quantizer, token_centroid, token_codes, doc_offsets, doc_ids,
                                ivf_offsets, ivf_docs, token_vectors, self.search_params, self.unit_tokens)

    @staticmethod
    def payload_names(folder: Path) -> list[str]:
        """The multi-vector files present in ``folder``."""
        return [name for name in FILES.values() if (Path(folder) / name).exists()]

    def save(self, folder: Path) -> list[str]:
        """Write the payload files; returns their names for the manifest."""
        folder = Path(folder)
        names = []
        for key in ("centroids", "token_centroid", "token_codes", "doc_offsets", "doc_ids", "ivf_offsets", "ivf_docs"):
            np.save(folder / FILES[key], getattr(self, key))
            names.append(FILES[key])
        names.append(residual_codec.save(self.quantizer, folder))
        if self.token_vectors is not None:
            np.save(folder / FILES["token_vectors"], self.token_vectors)
            names.append(FILES["token_vectors"])
        return names

    @classmethod
    def load(cls, folder: Path, search_params: dict[str, int] | None = None, unit_tokens: bool = False) -> "MultiVectorIndex":
        """Open the payload files, memory-mapping the per-token arrays; ``search_params`` and ``unit_tokens`` as
        :meth:`describe` gave them at build (the manifest keeps them)."""
        folder = Path(folder)
        arrays = {
            key: np.load(folder / FILES[key], mmap_mode=None if key == "centroids" else "r")
            for key in ("centroids", "token_centroid", "token_codes", "doc_offsets", "doc_ids", "ivf_offsets", "ivf_docs")
        }
        vectors_path = folder / FILES["token_vectors"]
        vectors = np.load(vectors_path, mmap_mode="r") if vectors_path.exists() else None
        quantizer = residual_codec.load(folder)
        n_docs, n_tokens = len(arrays["doc_ids"]), int(arrays["doc_offsets"][-1])
        recorded = {**search_defaults(n_docs, n_tokens), **(search_params or {})}  # older indexes lack newer knobs
        return cls(quantizer=quantizer, token_vectors=vectors, search_params=recorded, unit_tokens=unit_tokens, **arrays)

    def describe(self) -> dict[str, Any]:
        """Facts for the manifest."""
        per_token = 4 + int(self.token_codes.shape[1])
        return {
            "codec": self.codec,
            "centroids": int(len(self.centroids)),
            "pq": residual_codec.describe(self.quantizer),
            "dimension": int(self.centroids.shape[1]),
            "documents": len(self),
            "tokens": self.n_tokens,
            "bytes_per_token": per_token,
            "search_params": dict(self.search_params or search_defaults(len(self), self.n_tokens)),
            "unit_tokens": self.unit_tokens,
        }

    def search(self, query: np.ndarray, k: int, *, nprobe: int | None = None, shortlist: int | None = None,
               candidates: int | None = None, prune: float | None = None,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(scores, document row ids)`` for one query ``(n_query_tokens, dim)``, best first (ties by row
        id); with ``allowed`` (row ids), among those documents only (see :mod:`index.multivector_search`)."""
        from index.multivector_search import search_parts

        return search_parts([self], query, k, nprobe=nprobe, shortlist=shortlist, candidates=candidates, prune=prune,
                            allowed=allowed)

    def score(self, query: np.ndarray, row_ids: np.ndarray | list[int], kept: np.ndarray | None = None) -> np.ndarray:
        """MaxSim of one query against the given documents (by row id) on their stored token vectors; with ``kept``
        (a mask over centroids), on the tokens of kept centroids only (a document with none scores 0)."""
        return self._maxsim(query, positions_of(np.asarray(self.doc_ids), row_ids), kept)

    def count(self, allowed: np.ndarray | None) -> int:
        """How many documents the index holds (only ``allowed`` ones when given)."""
        return len(self) if allowed is None else int(np.count_nonzero(self._admitted(allowed)))

    def rows(self, allowed: np.ndarray | None) -> np.ndarray:
        """The stored documents' row ids (ascending: the order they were added in), only the ``allowed`` ones when given."""
        doc_ids = np.asarray(self.doc_ids, dtype=np.int64)
        return doc_ids if allowed is None else doc_ids[self._admitted(allowed)]

    def shortlist(self, centroid_scores: np.ndarray, probed: np.ndarray, allowed: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, scores)`` of the best ``n`` documents by the scores of their probed lists alone (ties by row id);
        only documents with a token in some probed centroid, and only ``allowed`` ones when given."""
        approx = self._posting_scores(centroid_scores, probed)
        doc_ids = np.asarray(self.doc_ids, dtype=np.int64)
        if allowed is not None:
            approx[~self._admitted(allowed)] = 0
        hit = np.flatnonzero(approx > 0)
        kept = hit[best_of(approx[hit], doc_ids[hit], n)]
        return doc_ids[kept], approx[kept]

    def _admitted(self, allowed: np.ndarray) -> np.ndarray:
        """Which stored documents (a mask by position) are among ``allowed``. One search asks at several stages, so a
        read-only ``allowed`` (what a store returns for a filter) keeps its mask until another comes."""
        last = self._last_admitted
        if last is not None and last[0] is allowed:
            return last[1]
        mask = np.isin(np.asarray(self.doc_ids), allowed)
        if isinstance(allowed, np.ndarray) and not allowed.flags.writeable:
            self._last_admitted = (allowed, mask)
        return mask

    def interaction(self, centroid_scores: np.ndarray, row_ids: np.ndarray, kept: np.ndarray | None = None) -> np.ndarray:
        """Centroid-interaction scores (see :meth:`_centroid_interaction`) of the given documents, by row id; with
        ``kept`` (a mask over centroids), tokens of other centroids are skipped and a query token's best counts from 0."""
        if len(row_ids) == 0:
            return np.zeros(0, dtype=np.float32)
        docs = positions_of(np.asarray(self.doc_ids), row_ids)
        if kept is not None:
            lists = np.flatnonzero(kept)
            if int(np.sum(self.ivf_offsets[lists + 1] - self.ivf_offsets[lists])) < int(np.sum(self.doc_offsets[docs + 1] - self.doc_offsets[docs])):
                return self._kept_list_interaction(centroid_scores, docs, lists)
        return self._centroid_interaction(centroid_scores, docs, kept)

    def _maxsim(self, query: np.ndarray, docs: np.ndarray, kept: np.ndarray | None = None) -> np.ndarray:
        """MaxSim of ``query`` against the documents at positions ``docs`` (only tokens of ``kept`` centroids when
        given), decoding :data:`BLOCK_TOKENS` tokens at a time."""

        def similarities(positions: np.ndarray, centroids_of: np.ndarray) -> np.ndarray:
            if self.token_vectors is not None:
                return query @ np.asarray(self.token_vectors[positions]).T
            vectors, inverse_norms = self._decoded(positions, centroids_of)
            found = query @ vectors.T
            if inverse_norms is not None:
                found *= inverse_norms  # scaling the (n_query, n) products costs less than the (n, dim) vectors
            return found

        return self._per_document_best(docs, kept, similarities, len(query)).sum(axis=0)

    def _posting_scores(self, centroid_scores: np.ndarray, probed: np.ndarray) -> np.ndarray:
        """Approximate MaxSim from the inverted lists alone: for each query token, the best score among its
        probed centroids that the document has a token in, summed over query tokens (0 where none)."""
        total = np.zeros(len(self), dtype=np.float32)
        best = np.empty(len(self), dtype=np.float32)
        for i, centroids in enumerate(probed):
            best.fill(0.0)
            for c in centroids:
                docs = self.ivf_docs[self.ivf_offsets[c] : self.ivf_offsets[c + 1]]
                best[docs] = np.maximum(best[docs], centroid_scores[i, c])
            total += best
        return total

    def _centroid_interaction(self, centroid_scores: np.ndarray, docs: np.ndarray, kept: np.ndarray | None = None) -> np.ndarray:
        """MaxSim of the query against the documents at positions ``docs`` with every token replaced by its
        centroid: a close estimate of exact MaxSim that reads only the 4-byte centroid id of each token. With
        ``kept``, only tokens of kept centroids count, and each query token's best from 0."""
        def similarities(positions: np.ndarray, centroids_of: np.ndarray) -> np.ndarray:
            return np.take(centroid_scores, centroids_of, axis=1)

        best = self._per_document_best(docs, kept, similarities, len(centroid_scores))
        return (best if kept is None else np.maximum(best, 0.0)).sum(axis=0)

    def _kept_list_interaction(self, centroid_scores: np.ndarray, docs: np.ndarray, lists: np.ndarray) -> np.ndarray:
        """:meth:`_centroid_interaction` with pruning, read from the inverted lists of the kept centroids instead of
        the documents' tokens: a long document holds each centroid many times but is in its list once."""
        starts, ends = self.ivf_offsets[lists], self.ivf_offsets[lists + 1]
        holders = np.asarray(self.ivf_docs)[_ranges(starts, ends)]
        centroid_of = np.repeat(lists, ends - starts)
        slot = np.full(len(self), -1, dtype=np.int64)  # where each wanted document's score goes
        slot[docs] = np.arange(len(docs))
        keep = slot[holders] >= 0
        holders, centroid_of = holders[keep], centroid_of[keep]
        order = np.argsort(holders, kind="stable")
        holders, centroid_of = holders[order], centroid_of[order]
        scores = np.zeros(len(docs), dtype=np.float32)
        if len(holders):
            firsts = np.flatnonzero(np.r_[True, holders[1:] != holders[:-1]])
            per_pair = np.ascontiguousarray(centroid_scores.T)[centroid_of]
            scores[slot[holders[firsts]]] = np.maximum(np.maximum.reduceat(per_pair, firsts, axis=0), 0.0).sum(axis=1)
        return scores

    def _per_document_best(self, docs: np.ndarray, kept: np.ndarray | None, similarities: Any, n_query: int) -> np.ndarray:
        """``(n_query, len(docs))``: for each query token and document, the best of ``similarities(positions,
        centroids)`` (an ``(n_query, n)`` array for those tokens) over the document's tokens, only those of ``kept``
        centroids when given; 0 where a document has no such token. Runs over blocks of about
        :data:`BLOCK_TOKENS` tokens."""
        starts, ends = self.doc_offsets[docs], self.doc_offsets[docs + 1]
        best = np.zeros((n_query, len(docs)), dtype=np.float32)
        for a, b in _blocks(ends - starts, BLOCK_TOKENS):
            positions = _ranges(starts[a:b], ends[a:b])
            centroids_of = np.asarray(self.token_centroid[positions])
            counts = ends[a:b] - starts[a:b]
            if kept is not None:
                survives = kept[centroids_of]
                running = np.concatenate([[0], np.cumsum(survives)])
                bounds = np.concatenate([[0], np.cumsum(counts)])
                counts = running[bounds[1:]] - running[bounds[:-1]]
                positions, centroids_of = positions[survives], centroids_of[survives]
            if len(positions) == 0:
                continue
            found = similarities(positions, centroids_of)
            nonempty = counts > 0
            firsts = np.concatenate([[0], np.cumsum(counts)[:-1]])[nonempty]
            block = best[:, a:b]
            block[:, nonempty] = np.maximum.reduceat(found, firsts, axis=1)
        return best

    def residual_energy(self, sample: int = 65_536, seed: int = 0) -> float:
        """Mean squared norm of the stored token residuals (token minus its centroid) on a seeded sample.
        Compared with its value after training, it measures how far the data has drifted from the centroids."""
        chosen = np.sort(np.random.default_rng(seed).choice(self.n_tokens, size=min(sample, self.n_tokens), replace=False))
        if self.token_vectors is not None:
            residuals = np.asarray(self.token_vectors[chosen]) - self.centroids[self.token_centroid[chosen]]
        else:
            residuals = residual_codec.decode(self.quantizer, self.token_codes[chosen])
        return float(np.mean(np.sum(residuals.astype(np.float64) ** 2, axis=1)))

    def document_vectors(self, position: int) -> np.ndarray:
        """Token vectors of the document at ``position`` (as stored: exact or decoded)."""
        return self._vectors_at(np.arange(self.doc_offsets[position], self.doc_offsets[position + 1]))

    def position_of(self, row_id: int) -> int:
        """Position of a document row id in this index."""
        return int(positions_of(np.asarray(self.doc_ids), [row_id])[0])

    def _vectors_at(self, positions: np.ndarray) -> np.ndarray:
        """Token vectors at ``positions``: exact with codec ``none``, else decoded (see :meth:`_decoded`)."""
        if self.token_vectors is not None:
            return np.asarray(self.token_vectors[positions])
        vectors, inverse_norms = self._decoded(positions, self.token_centroid[positions])
        return vectors if inverse_norms is None else vectors * inverse_norms[:, None]

    def _decoded(self, positions: np.ndarray, centroids_of: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Centroid + decoded residual of the tokens at ``positions`` (their centroids ``centroids_of``), and for an
        index of unit tokens the inverse of each decoded vector's length (``None`` otherwise)."""
        vectors = residual_codec.decode(self.quantizer, self.token_codes[positions])
        vectors += np.take(self.centroids, centroids_of, axis=0)
        if not self.unit_tokens:
            return vectors, None
        lengths = np.sqrt(np.einsum("nd,nd->n", vectors, vectors))
        return vectors, 1.0 / np.maximum(lengths, np.finfo(np.float32).tiny)


def _encode_tokens(tokens: np.ndarray, centroids: np.ndarray, assigner: Any, quantizer: Any) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid and residual code of every token, 65,536 tokens at a time."""
    n_tokens = len(tokens)
    token_centroid = np.empty(n_tokens, dtype=np.int32)
    token_codes = np.empty((n_tokens, quantizer.code_size), dtype=np.uint8)
    for start in range(0, n_tokens, 65_536):
        block = np.ascontiguousarray(tokens[start : start + 65_536], dtype=np.float32)
        _, assign = assigner.search(block, 1)
        token_centroid[start : start + len(block)] = assign[:, 0]
        token_codes[start : start + len(block)] = quantizer.compute_codes(np.ascontiguousarray(block - centroids[assign[:, 0]]))
    return token_centroid, token_codes


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, e)`` for each pair, without a Python loop.

    >>> _ranges(np.array([0, 5]), np.array([2, 8])).tolist()
    [0, 1, 5, 6, 7]
    """
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    steps = np.ones(total, dtype=np.int64)
    boundaries = np.cumsum(lengths)[:-1]
    steps[0] = starts[0]
    steps[boundaries] = starts[1:] - ends[:-1] + 1
    return np.cumsum(steps)


def _blocks(lengths: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Consecutive ``(start, end)`` runs of items whose lengths sum to about ``size`` (at least one item each).

    >>> _blocks(np.array([3, 3, 3, 10, 1]), 6)
    [(0, 2), (2, 3), (3, 4), (4, 5)]
    """
    ends = np.cumsum(lengths)
    runs, start = [], 0
    while start < len(lengths):
        before = int(ends[start - 1]) if start else 0
        end = max(start + 1, int(np.searchsorted(ends, before + size, side="right")))
        runs.append((start, end))
        start = end
    return runs


def _inverted_lists(token_centroid: np.ndarray, doc_offsets: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For every centroid, the sorted unique documents having a token assigned to it (CSR form)."""
    doc_of_token = np.repeat(np.arange(len(doc_offsets) - 1, dtype=np.int64), np.diff(doc_offsets))
    pairs = np.unique(token_centroid.astype(np.int64) * (len(doc_offsets) + 1) + doc_of_token)
    centroid_of_pair = pairs // (len(doc_offsets) + 1)
    docs = (pairs % (len(doc_offsets) + 1)).astype(np.int32)
    counts = np.bincount(centroid_of_pair, minlength=k)
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), docs
