"""Every dense index kind through one battery, and oracle tests of HNSW and IVF-PQ against exact search."""

from __future__ import annotations

import numpy as np
import pytest

from index.dense import DenseIndex, factory_for
from retrieval.search.searcher import Searcher

IVFPQ_RECALL_AT_10 = 0.75  # stated threshold: 4-bit PQ codes, 2 dims each (96 bytes per 384-dim vector); measured 0.82


@pytest.fixture(scope="module")
def dbpedia_vectors(dbpedia_index, minilm):
    """The vectors of the Flat dbpedia index (one per chunk), renumbered 1..n, and 200 query-like probes."""
    searcher = Searcher.load(dbpedia_index, encoder=minilm)
    vectors = searcher.component("dense").index.reconstruct(searcher.component("dense").index.ids())
    ids = np.arange(1, len(vectors) + 1)
    rng = np.random.default_rng(0)
    probes = vectors[rng.choice(len(vectors), 200, replace=False)] + rng.normal(0, 0.03, (200, vectors.shape[1]))
    probes = (probes / np.linalg.norm(probes, axis=1, keepdims=True)).astype(np.float32)
    return ids, vectors, probes


def tie_aware_recall(approx_true_scores: np.ndarray, exact_scores: np.ndarray) -> float:
    """Share of returned ids whose exact score reaches the exact k-th score (a tie with it counts as found)."""
    kth = exact_scores[:, -1:]
    return float((approx_true_scores >= kth - 1e-6).mean())


def build(kind, ids, vectors) -> DenseIndex:
    index = DenseIndex.create(vectors.shape[1], factory_for(kind, len(vectors), vectors.shape[1]))
    if index.needs_training:
        index.train(vectors)
    index.add(vectors, ids)
    return index


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq"])
def test_index_battery(tmp_path, dbpedia_vectors, kind):
    """build, count, search, save, load: the same contract for every kind."""
    ids, vectors, probes = dbpedia_vectors
    index = build(kind, ids, vectors)
    assert len(index) == len(vectors) and index.dimension == 384
    scores, found = index.search(probes[:5], 10)
    assert found.shape == (5, 10) and (found >= 1).all()
    assert all((np.diff(row) <= 1e-6).all() for row in scores)
    index.save(tmp_path / "x.faiss")
    loaded = DenseIndex.load(tmp_path / "x.faiss", index.factory, index.search_params)
    assert len(loaded) == len(index)
    np.testing.assert_array_equal(loaded.search(probes[:5], 10)[1], found)


def test_flat_is_exact(dbpedia_vectors):
    ids, vectors, probes = dbpedia_vectors
    scores, found = build("flat", ids, vectors).search(probes, 10)
    brute = probes @ vectors.T
    np.testing.assert_allclose(scores, -np.sort(-brute, axis=1)[:, :10], atol=1e-5)


@pytest.mark.parametrize("kind, threshold", [("hnsw", 0.95), ("ivfpq", IVFPQ_RECALL_AT_10)])
def test_approximate_indexes_against_exact_search(dbpedia_vectors, kind, threshold):
    """Oracle test on the same real embeddings: recall@10 of the approximate index vs Flat."""
    ids, vectors, probes = dbpedia_vectors
    exact_scores, _ = build("flat", ids, vectors).search(probes, 10)
    _, approx_ids = build(kind, ids, vectors).search(probes, 10)
    exact_full = probes @ vectors.T
    approx_true_scores = np.take_along_axis(exact_full, approx_ids - 1, axis=1)
    recall = tie_aware_recall(approx_true_scores, exact_scores)
    assert recall >= threshold, f"{kind} recall@10 {recall:.3f} < {threshold}"


def test_ivf_cells_keep_enough_training_points():
    for n in (624, 5_000, 50_000, 2_000_000):
        factory = factory_for("ivfpq", n, 384)
        nlist = int(factory.split(",")[0][3:])
        assert n // nlist >= 39, factory
    with pytest.raises(ValueError, match="at least 624 documents"):
        factory_for("ivfpq", 100, 384)


def test_bad_factory_string_is_a_clear_error():
    with pytest.raises(ValueError, match="FAISS cannot build an index from factory string 'Nonsense42'"):
        DenseIndex.create(8, "Nonsense42")
