"""Residual codecs side by side: how much of exact MaxSim's top 10 each FAISS quantizer keeps at its size.

Every codec codes the same residuals (token minus its centroid, with the centroids this project's index trains on
the collection) from the same seeded training sample, and every query scores every document by MaxSim over the
decoded tokens (no candidate stages), so only the codec differs between rows. Each row reports the agreement with
decoded tokens as they come and scaled back to unit length (what the index does for unit tokens). With
``centroid_multipliers``, the whole comparison is repeated with that many times the index's centroids (smaller
residuals for the same codes), so the two levers a 36-byte budget leaves, the codec and the centroids, are measured
on one table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench.collections import Collection, encode_collection
from index.multivector import codec as residual_codec
from index.multivector.maxsim import maxsim_segments
from index.multivector.token_index import MultiVectorIndex
from index.multivector.training import centroid_count


@dataclass(frozen=True)
class CodecSpec:
    """A FAISS quantizer for residuals: how to make it, its code size, and how many residuals train it."""

    label: str
    code_bytes: int
    make: Callable[[int], Any]
    training_tokens: int = residual_codec.PQ_TRAINING_TOKENS


def _index_codec(name: str, iterations: int | None = None) -> Callable[[int], Any]:
    """The index's quantizer for ``name``, with ``iterations`` of k-means per code book instead of its own when
    given."""

    def make(dim: int) -> Any:
        quantizer, own_iterations, _ = residual_codec.untrained(name, dim)
        if iterations or own_iterations:  # 0 for sq8, which has no k-means
            quantizer.cp.niter = iterations or own_iterations
        return quantizer

    return make


def _faiss(factory: str) -> Callable[[int], Any]:
    def make(dim: int) -> Any:
        import faiss

        if factory == "opq32":
            return _Rotated(faiss.OPQMatrix(dim, 32), faiss.ProductQuantizer(dim, 32, 8))
        if factory == "rq32":
            quantizer = faiss.ResidualQuantizer(dim, 32, 8)
            quantizer.max_beam_size = 5
            return quantizer
        if factory == "prq32":
            return faiss.ProductResidualQuantizer(dim, 4, 8, 8)
        if factory == "pq64x4":
            return faiss.ProductQuantizer(dim, 64, 4)
        raise ValueError(factory)

    return make


class _Rotated:
    """OPQ: a learned rotation, then PQ in the rotated space (decoded back through the rotation's inverse)."""

    def __init__(self, rotation: Any, quantizer: Any) -> None:
        self.rotation, self.quantizer = rotation, quantizer

    def train(self, x: np.ndarray) -> None:
        self.rotation.niter = 25
        self.rotation.train(x)
        self.quantizer.train(self.rotation.apply(x))

    def compute_codes(self, x: np.ndarray) -> np.ndarray:
        return self.quantizer.compute_codes(self.rotation.apply(x))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return self.rotation.reverse_transform(self.quantizer.decode(codes))


CODECS: dict[str, CodecSpec] = {
    "pq": CodecSpec("PQ 32 x 8 bits (the index's pq)", 32, _index_codec("pq")),
    "pq-t64k": CodecSpec("pq trained on 65,536 residuals, 25 iterations", 32, _index_codec("pq", 25), 65_536),
    "opq32": CodecSpec("OPQ rotation + PQ 32 x 8 bits", 32, _faiss("opq32")),
    "rq32": CodecSpec("residual quantizer 32 x 8 bits, beam 5", 32, _faiss("rq32")),
    "prq32": CodecSpec("product residual quantizer 4 x 8 x 8 bits", 32, _faiss("prq32")),
    "pq64x4": CodecSpec("PQ 64 x 4 bits (fast-scan codes)", 32, _faiss("pq64x4")),
    "pq64": CodecSpec(
        "PQ 64 x 8 bits (the index's pq64)", 64, _index_codec("pq64"), residual_codec.PQ64_TRAINING_TOKENS
    ),
    "pq64-t256k": CodecSpec("pq64 trained on 262,144 residuals", 64, _index_codec("pq64"), 262_144),
    "sq8": CodecSpec("8-bit scalar quantizer (the index's sq8)", 128, _index_codec("sq8")),
}
DEFAULT_CODECS = ("pq", "opq32", "rq32", "prq32", "pq64x4", "pq64", "sq8")


def run_codec_benchmark(
    dataset_dir: Path | str,
    model: str = "minilm-colbert",
    codecs: tuple[str, ...] = DEFAULT_CODECS,
    seed: int = 0,
    progress: bool = True,
    encoder: Any = None,
    centroid_multipliers: tuple[int, ...] = (1,),
) -> dict[str, Any]:
    """Agreement with exact MaxSim's top 10 per codec on the dataset's token vectors (encoded once, cached;
    ``encoder``: the loaded ``model``, if at hand), with the index's centroid count times each multiplier."""
    unknown = [c for c in codecs if c not in CODECS]
    if unknown:
        raise ValueError(f"unknown codecs {', '.join(unknown)}; choose from {', '.join(CODECS)}")
    if not centroid_multipliers or min(centroid_multipliers) < 1:
        raise ValueError(f"centroid multipliers must be whole numbers >= 1, got {centroid_multipliers}")
    collection = encode_collection(Path(dataset_dir), model, progress=progress, encoder=encoder)
    tokens = np.ascontiguousarray(collection.tokens, dtype=np.float32)
    exact = _top10(collection, tokens)
    rows = []
    for multiplier in centroid_multipliers:
        started = time.perf_counter()
        structure = MultiVectorIndex.build(
            tokens,
            collection.offsets,
            np.arange(len(collection.doc_ids)),
            codec="none",
            seed=seed,
            n_centroids=centroid_count(len(tokens)) * multiplier,
        )
        centroid_seconds = time.perf_counter() - started
        bases = structure.centroids[np.asarray(structure.token_centroid)]
        rows += [
            {
                "centroids": int(len(structure.centroids)),
                "centroid_seconds": round(centroid_seconds, 1),
                **_codec_row(name, collection, bases, tokens - bases, exact, seed),
            }
            for name in codecs
        ]
    return {
        "dataset": str(dataset_dir),
        "model": model,
        "documents": len(collection.doc_ids),
        "tokens": int(len(tokens)),
        "queries": len(collection.queries),
        "centroids": centroid_count(len(tokens)),
        "results": rows,
    }


def _codec_row(
    name: str, collection: Collection, bases: np.ndarray, residuals: np.ndarray, exact: list[np.ndarray], seed: int
) -> dict[str, Any]:
    """One codec trained and applied on the residuals of the tokens from their centroids (``bases``, one per token)."""
    spec = CODECS[name]
    quantizer = spec.make(residuals.shape[1])
    sample = np.sort(
        np.random.default_rng(seed).choice(
            len(residuals), size=min(len(residuals), spec.training_tokens), replace=False
        )
    )
    started = time.perf_counter()
    quantizer.train(np.ascontiguousarray(residuals[sample]))
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    codes = quantizer.compute_codes(residuals)
    encode_seconds = time.perf_counter() - started
    decoded = quantizer.decode(codes)
    vectors = bases + decoded
    mse = float(np.mean(np.sum((decoded - residuals) ** 2, axis=1)))
    as_decoded = _agreement(_top10(collection, vectors), exact)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), np.finfo(np.float32).tiny)
    return {
        "codec": name,
        "label": spec.label,
        "bytes_per_token": spec.code_bytes + 4,
        "code_bytes": int(codes.shape[1]),
        "train_seconds": round(train_seconds, 1),
        "encode_seconds": round(encode_seconds, 1),
        "residual_mse": round(mse, 5),
        "agreement_as_decoded": round(as_decoded, 4),
        "agreement_unit_length": round(_agreement(_top10(collection, vectors), exact), 4),
    }


def _top10(collection: Collection, tokens: np.ndarray) -> list[np.ndarray]:
    """Every query's top 10 documents by exhaustive MaxSim (ties by position)."""
    tops = []
    for query in collection.queries:
        scores = maxsim_segments(query, tokens, collection.offsets)
        tops.append(np.lexsort((np.arange(len(scores)), -scores))[:10])
    return tops


def _agreement(found: list[np.ndarray], exact: list[np.ndarray]) -> float:
    return float(np.mean([len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(found, exact)]))
