"""Training the multi-vector index: k-means centroids over a sample of the tokens, the residual codec, and every
token's centroid and code; the inverted lists from centroids to the documents holding them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from index.multivector import codec as residual_codec


def centroid_count(n_tokens: int) -> int:
    """Number of k-means centroids: a power of two near 4*sqrt(n_tokens), at most n_tokens/64.

    Fewer centroids leave larger residuals for the 32-byte PQ codes to describe, which costs quality;
    more cost training time and memory (docs/index-format.md, "Design choices").

    >>> centroid_count(350_000), centroid_count(14_000_000), centroid_count(5_000)
    (2048, 16384, 64)
    """
    target = min(4 * math.sqrt(n_tokens), n_tokens / 64)
    return int(2 ** max(0, round(math.log2(max(1.0, target)))))


EXACT_ASSIGNMENT_MAX_CENTROIDS = 4096
# Training effort: the fewest k-means iterations, on the smallest sample per centroid, that keep nDCG@10 at
# exact MaxSim's level; more effort only lengthens builds (docs/index-format.md, "Design choices").
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


def train_centroids(tokens: np.ndarray, k: int, rng: np.random.Generator, seed: int) -> tuple[np.ndarray, Any]:
    """Spherical k-means centroids ``(k, dim)`` of a sample of ``tokens`` and the FAISS index that assigns tokens
    to them."""
    import faiss

    n_tokens, dim = tokens.shape
    sample = np.sort(rng.choice(n_tokens, size=min(n_tokens, k * KMEANS_POINTS_PER_CENTROID), replace=False))
    clustering = faiss.Clustering(dim, k)
    clustering.niter, clustering.seed, clustering.spherical = KMEANS_ITERATIONS, seed, True
    clustering.max_points_per_centroid = KMEANS_POINTS_PER_CENTROID
    clustering.min_points_per_centroid = KMEANS_POINTS_PER_CENTROID // 2  # FAISS warns below this; 32 is measured
    clustering.train(np.ascontiguousarray(tokens[sample], dtype=np.float32), centroid_search(dim, k))
    centroids = faiss.vector_to_array(clustering.centroids).reshape(k, dim).astype(np.float32)
    assigner = centroid_search(dim, k)
    assigner.add(centroids)
    return centroids, assigner


def train_codec(
    tokens: np.ndarray,
    centroids: np.ndarray,
    assigner: Any,
    codec: str,
    rng: np.random.Generator,
) -> tuple[Any, np.ndarray]:
    """The residual quantizer of ``codec`` trained on a sample of residuals (token minus its centroid), and that
    sample's token vectors."""
    quantizer, iterations, training_tokens = residual_codec.untrained(codec, tokens.shape[1])
    codec_sample = np.sort(rng.choice(len(tokens), size=min(len(tokens), training_tokens), replace=False))
    sample_vectors = np.ascontiguousarray(tokens[codec_sample], dtype=np.float32)
    _, sample_assign = assigner.search(sample_vectors, 1)
    residual_codec.train(quantizer, iterations, sample_vectors - centroids[sample_assign[:, 0]])
    return quantizer, sample_vectors


def encode_tokens(
    tokens: np.ndarray, centroids: np.ndarray, assigner: Any, quantizer: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid and residual code of every token, 65,536 tokens at a time."""
    n_tokens = len(tokens)
    token_centroid = np.empty(n_tokens, dtype=np.int32)
    token_codes = np.empty((n_tokens, quantizer.code_size), dtype=np.uint8)
    for start in range(0, n_tokens, 65_536):
        block = np.ascontiguousarray(tokens[start : start + 65_536], dtype=np.float32)
        _, assign = assigner.search(block, 1)
        token_centroid[start : start + len(block)] = assign[:, 0]
        token_codes[start : start + len(block)] = quantizer.compute_codes(
            np.ascontiguousarray(block - centroids[assign[:, 0]])
        )
    return token_centroid, token_codes


def inverted_lists(token_centroid: np.ndarray, doc_offsets: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For every centroid, the sorted unique documents having a token assigned to it (CSR form)."""
    doc_of_token = np.repeat(np.arange(len(doc_offsets) - 1, dtype=np.int64), np.diff(doc_offsets))
    pairs = np.unique(token_centroid.astype(np.int64) * (len(doc_offsets) + 1) + doc_of_token)
    centroid_of_pair = pairs // (len(doc_offsets) + 1)
    docs = (pairs % (len(doc_offsets) + 1)).astype(np.int32)
    counts = np.bincount(centroid_of_pair, minlength=k)
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), docs
