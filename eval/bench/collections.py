"""Token-vector collections for the multi-vector benchmarks: a dataset's documents and queries encoded once (and
cached), and grown to any size with seeded distractors, so every system compared sees the same vectors."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval.beir import load_beir, read_corpus_records
from index.documents import embedded_text
from retrieval.config import home_dir

logger = logging.getLogger(__name__)


@dataclass
class Collection:
    """Token vectors of a corpus (real documents first, then seeded distractors) and of the judged queries."""

    doc_ids: list[str]
    tokens: np.ndarray  # (n_tokens, dim) float32
    offsets: np.ndarray  # (n_docs + 1,)
    query_ids: list[str]
    queries: list[np.ndarray]
    query_encode_ms: list[float]
    n_real: int

    def doc_vectors(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]


def encode_collection(dataset_dir: Path, model: str, progress: bool = True, encoder: Any = None) -> Collection:
    """Encode (or load from the cache) the corpus and judged queries of a BEIR folder with a ColBERT model
    (``encoder``, a loaded :class:`MultiVectorEncoder` of ``model``, saves loading it again)."""
    from tqdm.auto import tqdm

    from retrieval.encode.multivector import MultiVectorEncoder

    dataset = load_beir(dataset_dir)
    cache = home_dir() / "bench-cache" / f"{Path(dataset_dir).resolve().name}-{model}.npz"
    encoder = encoder or MultiVectorEncoder.load(model)
    query_ids = list(dataset.judged_queries)
    query_vectors, query_ms = [], []
    for qid in query_ids:
        started = time.perf_counter()
        query_vectors.append(encoder.encode_queries([dataset.queries[qid]])[0])
        query_ms.append((time.perf_counter() - started) * 1000)
    if cache.exists():
        stored = np.load(cache, allow_pickle=False)
        doc_ids = [str(x) for x in stored["doc_ids"]]
        return Collection(
            doc_ids, stored["tokens"], stored["offsets"], query_ids, query_vectors, query_ms, len(doc_ids)
        )
    docs = list(read_corpus_records(dataset.corpus_path))
    texts = [embedded_text(d["title"], d["text"]) for d in docs]
    vectors: list[np.ndarray] = []
    for start in tqdm(range(0, len(texts), 128), desc="Encoding documents", unit=" batch", disable=not progress):
        vectors += encoder.encode_documents(texts[start : start + 128])
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in vectors])]).astype(np.int64)
    tokens = np.vstack(vectors).astype(np.float32)
    doc_ids = [d["id"] for d in docs]
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, tokens=tokens, offsets=offsets, doc_ids=np.array(doc_ids))
    return Collection(doc_ids, tokens, offsets, query_ids, query_vectors, query_ms, len(doc_ids))


DISTRACTORS = ("noise", "mix")
MIX_WEIGHT = (
    0.365  # a mixed token keeps cosine 0.87 with its source on dbpedia-5k, as Gaussian noise of sigma 0.05 does
)


def scale_collection(
    collection: Collection, n_docs: int, folder: Path, seed: int = 0, noise: float = 0.05, distractors: str = "noise"
) -> Collection:
    """Grow the collection to ``n_docs`` with distractors: copies of random real documents' token vectors,
    each token perturbed and renormalised to unit length.

    ``noise``: seeded Gaussian noise (sigma ``noise`` per dimension). ``mix``: each token moved towards a
    random token of the real collection, ``(1 - w) t + w u`` with ``w`` = :data:`MIX_WEIGHT`, so the
    perturbation is itself made of real token vectors (as compressible as the real data) while copies stay
    as close to their sources (mean cosine 0.87 on dbpedia-5k either way).

    The tokens are written to a memory-mapped ``.npy`` in ``folder`` (14 million tokens are 7 GB),
    so memory holds one block of distractors at a time.
    """
    check_choices("distractors", [distractors], DISTRACTORS)
    extra = n_docs - len(collection.doc_ids)
    if extra <= 0:
        return collection
    rng = np.random.default_rng(seed)
    sources = rng.integers(0, collection.n_real, size=extra)
    lengths = np.diff(collection.offsets)[sources]
    offsets = np.concatenate([collection.offsets, collection.offsets[-1] + np.cumsum(lengths)]).astype(np.int64)
    tokens = np.lib.format.open_memmap(
        folder / "tokens.npy", mode="w+", dtype=np.float32, shape=(int(offsets[-1]), collection.tokens.shape[1])
    )
    n_real_tokens = int(collection.offsets[-1])
    tokens[:n_real_tokens] = collection.tokens
    cursor = n_real_tokens
    for start in range(0, extra, 10_000):
        chunk = sources[start : start + 10_000]
        block = np.vstack([collection.doc_vectors(int(s)) for s in chunk])
        if distractors == "noise":
            block = block + rng.normal(0.0, noise, block.shape).astype(np.float32)
        else:
            block = (1 - MIX_WEIGHT) * block + MIX_WEIGHT * collection.tokens[
                rng.integers(0, n_real_tokens, size=len(block))
            ]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        tokens[cursor : cursor + len(block)] = block
        cursor += len(block)
    tokens.flush()
    ids = collection.doc_ids + [f"distractor-{i}" for i in range(extra)]
    return Collection(
        ids, tokens, offsets, collection.query_ids, collection.queries, collection.query_encode_ms, collection.n_real
    )


def check_choices(what: str, given: Any, allowed: tuple[str, ...]) -> None:
    """Raise a clear error naming the allowed values when any of ``given`` is not one of them."""
    unknown = [value for value in given if value not in allowed]
    if unknown:
        raise ValueError(f"Unknown {what} {unknown}; choose from {', '.join(allowed)}.")
