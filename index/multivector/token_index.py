"""One multi-vector index: its payload files, training through :mod:`index.multivector.training`, and the
search stages :mod:`index.multivector.search` runs over it (the file layout and the search are described in
:mod:`index.multivector`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from index.multivector import codec as residual_codec
from index.multivector.defaults import search_defaults
from index.multivector.interaction import kept_list_interaction, per_document_best
from index.multivector.search import search_parts
from index.multivector.training import (
    centroid_count,
    centroid_search,
    encode_tokens,
    inverted_lists,
    train_centroids,
    train_codec,
)
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
UNIT_LENGTH_TOLERANCE = 1e-3  # tokens whose norms are all this close to 1 are unit tokens


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
        """One of :data:`~index.multivector.codec.CODECS`: how residuals are stored (``none``: exact float32 vectors
        kept)."""
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
    ) -> MultiVectorIndex:
        """Train centroids and the residual codec on ``tokens`` ``(n_tokens, dim)`` and encode every token
        (``codec``: one of :data:`~index.multivector.codec.CODECS`; ``none`` also keeps the exact vectors)."""
        n_tokens = len(tokens)
        if n_tokens == 0:
            raise ValueError("cannot build a multi-vector index without token vectors")
        k = n_centroids or centroid_count(n_tokens)
        rng = np.random.default_rng(seed)
        centroids, assigner = train_centroids(tokens, k, rng, seed)
        quantizer, sample_vectors = train_codec(tokens, centroids, assigner, codec, rng)
        token_centroid, token_codes = encode_tokens(tokens, centroids, assigner, quantizer)
        ivf_offsets, ivf_docs = inverted_lists(token_centroid, np.asarray(doc_offsets), k)
        vectors = np.ascontiguousarray(tokens, dtype=np.float32) if codec == "none" else None
        norms = np.linalg.norm(sample_vectors, axis=1)
        unit = bool(np.all(np.abs(norms - 1.0) <= UNIT_LENGTH_TOLERANCE))
        return cls(
            centroids,
            quantizer,
            token_centroid,
            token_codes,
            np.asarray(doc_offsets, dtype=np.int64),
            np.asarray(doc_ids, dtype=np.int64),
            ivf_offsets,
            ivf_docs,
            vectors,
            search_defaults(len(doc_ids), n_tokens),
            unit,
        )

    def with_documents(self, tokens: np.ndarray, doc_offsets: np.ndarray, doc_ids: np.ndarray) -> MultiVectorIndex:
        """A new index that also holds these documents, encoded with the existing centroids and residual codec."""
        assigner = centroid_search(self.centroids.shape[1], len(self.centroids))
        assigner.add(self.centroids)
        new_centroid, new_codes = encode_tokens(tokens, self.centroids, assigner, self.quantizer)
        offsets = np.concatenate([self.doc_offsets, self.doc_offsets[-1] + np.asarray(doc_offsets[1:], dtype=np.int64)])
        token_centroid = np.concatenate([self.token_centroid, new_centroid])
        vectors = (
            None
            if self.token_vectors is None
            else np.concatenate([self.token_vectors, np.asarray(tokens, dtype=np.float32)])
        )
        return self._replaced(
            token_centroid,
            np.concatenate([self.token_codes, new_codes]),
            offsets,
            np.concatenate([self.doc_ids, np.asarray(doc_ids, dtype=np.int64)]),
            vectors,
        )

    def without_documents(self, row_ids: np.ndarray | list[int]) -> MultiVectorIndex:
        """A new index without the documents of these row ids (their tokens are dropped, the lists rebuilt)."""
        keep = ~np.isin(np.asarray(self.doc_ids), np.asarray(row_ids, dtype=np.int64))
        lengths = np.diff(self.doc_offsets)
        token_keep = np.repeat(keep, lengths)
        offsets = np.concatenate([[0], np.cumsum(lengths[keep])]).astype(np.int64)
        vectors = None if self.token_vectors is None else np.asarray(self.token_vectors)[token_keep]
        return self._replaced(
            np.asarray(self.token_centroid)[token_keep],
            np.asarray(self.token_codes)[token_keep],
            offsets,
            np.asarray(self.doc_ids)[keep],
            vectors,
        )

    def _replaced(
        self,
        token_centroid: np.ndarray,
        token_codes: np.ndarray,
        doc_offsets: np.ndarray,
        doc_ids: np.ndarray,
        token_vectors: np.ndarray | None,
    ) -> MultiVectorIndex:
        ivf_offsets, ivf_docs = inverted_lists(token_centroid, doc_offsets, len(self.centroids))
        return MultiVectorIndex(
            self.centroids,
            self.quantizer,
            token_centroid,
            token_codes,
            doc_offsets,
            doc_ids,
            ivf_offsets,
            ivf_docs,
            token_vectors,
            self.search_params,
            self.unit_tokens,
        )

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
    def load(
        cls, folder: Path, search_params: dict[str, int] | None = None, unit_tokens: bool = False
    ) -> MultiVectorIndex:
        """Open the payload files, memory-mapping the per-token arrays; ``search_params`` and ``unit_tokens`` as
        :meth:`describe` gave them at build (the manifest keeps them)."""
        folder = Path(folder)
        arrays = {
            key: np.load(folder / FILES[key], mmap_mode=None if key == "centroids" else "r")
            for key in (
                "centroids",
                "token_centroid",
                "token_codes",
                "doc_offsets",
                "doc_ids",
                "ivf_offsets",
                "ivf_docs",
            )
        }
        vectors_path = folder / FILES["token_vectors"]
        vectors = np.load(vectors_path, mmap_mode="r") if vectors_path.exists() else None
        quantizer = residual_codec.load(folder)
        n_docs, n_tokens = len(arrays["doc_ids"]), int(arrays["doc_offsets"][-1])
        recorded = {**search_defaults(n_docs, n_tokens), **(search_params or {})}  # older indexes lack newer knobs
        return cls(
            quantizer=quantizer, token_vectors=vectors, search_params=recorded, unit_tokens=unit_tokens, **arrays
        )

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

    def search(
        self,
        query: np.ndarray,
        k: int,
        *,
        nprobe: int | None = None,
        shortlist: int | None = None,
        candidates: int | None = None,
        prune: float | None = None,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(scores, document row ids)`` for one query ``(n_query_tokens, dim)``, best first (ties by row
        id); with ``allowed`` (row ids), among those documents only (see :mod:`index.multivector.search`)."""
        return search_parts(
            [self], query, k, nprobe=nprobe, shortlist=shortlist, candidates=candidates, prune=prune, allowed=allowed
        )

    def score(self, query: np.ndarray, row_ids: np.ndarray | list[int], kept: np.ndarray | None = None) -> np.ndarray:
        """MaxSim of one query against the given documents (by row id) on their stored token vectors; with ``kept``
        (a mask over centroids), on the tokens of kept centroids only (a document with none scores 0)."""
        return self._maxsim(query, positions_of(np.asarray(self.doc_ids), row_ids), kept)

    def count(self, allowed: np.ndarray | None) -> int:
        """How many documents the index holds (only ``allowed`` ones when given)."""
        return len(self) if allowed is None else int(np.count_nonzero(self._admitted(allowed)))

    def rows(self, allowed: np.ndarray | None) -> np.ndarray:
        """The stored documents' row ids (ascending: the order they were added in), only the ``allowed`` ones when
        given."""
        doc_ids = np.asarray(self.doc_ids, dtype=np.int64)
        return doc_ids if allowed is None else doc_ids[self._admitted(allowed)]

    def shortlist(
        self, centroid_scores: np.ndarray, probed: np.ndarray, allowed: np.ndarray | None, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
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

    def interaction(
        self, centroid_scores: np.ndarray, row_ids: np.ndarray, kept: np.ndarray | None = None
    ) -> np.ndarray:
        """Centroid-interaction scores (see :meth:`_centroid_interaction`) of the given documents, by row id; with
        ``kept`` (a mask over centroids), tokens of other centroids are skipped and a query token's best counts from
        0."""
        if len(row_ids) == 0:
            return np.zeros(0, dtype=np.float32)
        docs = positions_of(np.asarray(self.doc_ids), row_ids)
        if kept is not None:
            lists = np.flatnonzero(kept)
            if int(np.sum(self.ivf_offsets[lists + 1] - self.ivf_offsets[lists])) < int(
                np.sum(self.doc_offsets[docs + 1] - self.doc_offsets[docs])
            ):
                return kept_list_interaction(self.ivf_offsets, self.ivf_docs, len(self), centroid_scores, docs, lists)
        return self._centroid_interaction(centroid_scores, docs, kept)

    def _maxsim(self, query: np.ndarray, docs: np.ndarray, kept: np.ndarray | None = None) -> np.ndarray:
        """MaxSim of ``query`` against the documents at positions ``docs`` (only tokens of ``kept`` centroids when
        given), decoding :data:`~index.multivector.interaction.BLOCK_TOKENS` tokens at a time."""

        def similarities(positions: np.ndarray, centroids_of: np.ndarray) -> np.ndarray:
            if self.token_vectors is not None:
                return query @ np.asarray(self.token_vectors[positions]).T
            vectors, inverse_norms = self._decoded(positions, centroids_of)
            found = query @ vectors.T
            if inverse_norms is not None:
                found *= inverse_norms  # scaling the (n_query, n) products costs less than the (n, dim) vectors
            return found

        best = per_document_best(self.doc_offsets, self.token_centroid, docs, kept, similarities, len(query))
        return best.sum(axis=0)

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

    def _centroid_interaction(
        self, centroid_scores: np.ndarray, docs: np.ndarray, kept: np.ndarray | None = None
    ) -> np.ndarray:
        """MaxSim of the query against the documents at positions ``docs`` with every token replaced by its
        centroid: a close estimate of exact MaxSim that reads only the 4-byte centroid id of each token. With
        ``kept``, only tokens of kept centroids count, and each query token's best from 0."""

        def similarities(positions: np.ndarray, centroids_of: np.ndarray) -> np.ndarray:
            return np.take(centroid_scores, centroids_of, axis=1)

        best = per_document_best(self.doc_offsets, self.token_centroid, docs, kept, similarities, len(centroid_scores))
        return (best if kept is None else np.maximum(best, 0.0)).sum(axis=0)

    def residual_energy(self, sample: int = 65_536, seed: int = 0) -> float:
        """Mean squared norm of the stored token residuals (token minus its centroid) on a seeded sample.
        Compared with its value after training, it measures how far the data has drifted from the centroids."""
        chosen = np.sort(
            np.random.default_rng(seed).choice(self.n_tokens, size=min(sample, self.n_tokens), replace=False)
        )
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
