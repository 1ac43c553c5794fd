"""Multi-vector (ColBERT) retrieval: oracle tests against PyLate's exact MaxSim, compression, builds, explanations."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index.multivector.defaults import DEFAULT_PRUNE
from index.multivector.maxsim import maxsim
from index.multivector.search import kept_centroids
from index.multivector.token_index import MultiVectorIndex
from retrieval.build.builder import build_index
from retrieval.config import BuildConfig
from retrieval.search.searcher import Searcher


@pytest.fixture(scope="module")
def slice_tokens(dbpedia_small, minilm_colbert):
    """Token vectors of the dbpedia slice's documents and its queries, encoded once with minilm-colbert."""
    docs = [json.loads(line) for line in (dbpedia_small / "corpus.jsonl").read_text().splitlines()]
    texts = [f"{d['title']} {d['text']}" if d["title"] else d["text"] for d in docs]
    doc_vectors = minilm_colbert.encode_documents(texts)
    queries = [json.loads(line)["text"] for line in (dbpedia_small / "queries.jsonl").read_text().splitlines()]
    queries += ["guitar chord tuning", "american politician born in texas", "a film about the sea"]
    query_vectors = minilm_colbert.encode_queries(queries)
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in doc_vectors])]).astype(np.int64)
    return doc_vectors, np.vstack(doc_vectors), offsets, query_vectors


@pytest.fixture(scope="module")
def slice_indexes(slice_tokens):
    """The slice's token index kept exact (codec none) and with the default codec (pq), each built once for the
    tests that only search them (building is seeded: a second build is the same index)."""
    doc_vectors, tokens, offsets, _ = slice_tokens
    ids = np.arange(len(doc_vectors))
    return MultiVectorIndex.build(tokens, offsets, ids, codec="none"), MultiVectorIndex.build(tokens, offsets, ids)


@pytest.mark.slow
def test_exhaustive_uncompressed_search_equals_pylate_rerank(slice_tokens):
    """Oracle: all candidates + exact vectors give PyLate's rank.rerank ranking and scores.

    PyLate pads shorter documents with zero vectors, so where a query token's best
    similarity in a document is negative it counts 0 instead; that only happens far
    down the ranking. The test accounts for it explicitly and compares the rest exactly
    (ties may swap places).
    """
    from pylate import rank

    doc_vectors, tokens, offsets, query_vectors = slice_tokens
    ids = np.arange(1, len(doc_vectors) + 1)
    index = MultiVectorIndex.build(tokens, offsets, ids, codec="none")
    reference = rank.rerank(
        documents_ids=[list(ids)] * len(query_vectors),
        queries_embeddings=query_vectors,
        documents_embeddings=[doc_vectors] * len(query_vectors),
    )
    longest = max(len(d) for d in doc_vectors)
    for query, expected in zip(query_vectors, reference):
        scores, found = index.search(query, k=len(ids), nprobe=len(index.centroids), candidates=len(ids), prune=0)
        ours = dict(zip(found.tolist(), scores.tolist()))
        for r in expected:
            doc = doc_vectors[int(r["id"]) - 1]
            best = (query @ doc.T).max(axis=1)
            padded = np.maximum(best, 0.0).sum() if len(doc) < longest else best.sum()
            assert abs(r["score"] - padded) < 1e-4  # PyLate's score, explained
            assert abs(ours[int(r["id"])] - best.sum()) < 1e-4  # ours: exact MaxSim
        top = 50
        for rank_position, r in enumerate(expected[:top]):  # same document at each rank, or one tied with it
            assert abs(scores[rank_position] - r["score"]) < 1e-4


@pytest.mark.slow
def test_maxsim_matches_brute_force_for_every_document(slice_tokens, slice_indexes):
    doc_vectors, tokens, offsets, query_vectors = slice_tokens
    index = slice_indexes[0]
    scores, found = index.search(
        query_vectors[0], k=5, nprobe=len(index.centroids), candidates=len(doc_vectors), prune=0
    )
    brute = np.array([maxsim(query_vectors[0], d) for d in doc_vectors])
    np.testing.assert_allclose(scores, np.sort(brute)[::-1][:5], atol=1e-5)


@pytest.mark.slow
def test_compressed_index_keeps_the_exact_top_10(slice_tokens, slice_indexes):
    """Default search (nprobe, candidates, PQ residuals) against exact MaxSim on the same tokens: recall@10 >= 0.9."""
    doc_vectors, tokens, offsets, query_vectors = slice_tokens
    ids = np.arange(len(doc_vectors))
    exact, compressed = slice_indexes
    assert compressed.describe()["bytes_per_token"] == 36
    recalls = []
    for query in query_vectors:
        _, truth = exact.search(query, k=10, nprobe=len(exact.centroids), candidates=len(ids), prune=0)
        _, got = compressed.search(query, k=10)
        recalls.append(len(set(truth) & set(got)) / 10)
    assert np.mean(recalls) >= 0.9, recalls


@pytest.mark.slow
def test_decoded_unit_tokens_are_renormalised_which_brings_maxsim_closer_to_exact(slice_tokens, slice_indexes):
    """ColBERT tokens are unit vectors, and decoding shrinks them (a PQ code word averages residuals): scaling a
    decoded token back to unit length removes the codec's error along the token's own direction. Measured on every
    document's MaxSim for every query (top-10 sets of 13 queries are too few to rank the two: a swap is 0.008)."""
    import dataclasses

    from index.multivector.maxsim import maxsim_segments

    doc_vectors, tokens, offsets, query_vectors = slice_tokens
    ids = np.arange(len(doc_vectors))
    exact = slice_indexes[0]
    few = offsets[:21]  # twenty documents are enough to build an index of tokens that are not unit vectors
    scaled = MultiVectorIndex.build(tokens[: few[-1]] * 1.5, few, ids[:20])
    assert not scaled.unit_tokens, "only unit tokens are renormalised"
    everything = {"nprobe": len(exact.centroids), "candidates": len(ids), "prune": 0}
    truth = [exact.search(query, k=10, **everything)[1] for query in query_vectors]
    for codec, floor in (("pq", 0.9), ("pq64", 0.95)):
        index = slice_indexes[1] if codec == "pq" else MultiVectorIndex.build(tokens, offsets, ids, codec=codec)
        assert index.unit_tokens and index.describe()["unit_tokens"] is True
        error = {}
        for label, variant in (("unit", index), ("as decoded", dataclasses.replace(index, unit_tokens=False))):
            decoded = np.vstack([variant.document_vectors(i) for i in range(len(ids))])
            error[label] = np.mean(
                [
                    np.abs(maxsim_segments(q, decoded, offsets) - maxsim_segments(q, tokens, offsets)).mean()
                    for q in query_vectors
                ]
            )
        np.testing.assert_allclose(np.linalg.norm(index.document_vectors(0), axis=1), 1.0, atol=1e-5)
        assert error["unit"] < 0.97 * error["as decoded"], (codec, error)  # measured 0.94x (pq), 0.95x (pq64)
        found = [index.search(query, k=10, **everything)[1] for query in query_vectors]
        agreement = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)])
        assert agreement >= floor, (codec, agreement)


@pytest.mark.slow
def test_centroid_interaction_is_maxsim_over_centroids_and_finds_more_of_the_top_10(slice_tokens, slice_indexes):
    """The middle stage scores a document as MaxSim with each token replaced by its centroid; with 60 candidates
    of 640 documents it finds more of exact MaxSim's top 10 than the posting-list scores alone."""
    doc_vectors, tokens, offsets, query_vectors = slice_tokens
    ids = np.arange(len(doc_vectors))
    exact, index = slice_indexes
    docs = np.array([0, 3, len(doc_vectors) - 1])
    interaction = index._centroid_interaction(query_vectors[0] @ index.centroids.T, docs)
    replaced = [index.centroids[index.token_centroid[offsets[d] : offsets[d + 1]]] for d in docs]
    np.testing.assert_allclose(interaction, [maxsim(query_vectors[0], r) for r in replaced], atol=1e-5)

    assert len(ids) > 240, "the stages only narrow a collection larger than the shortlist"
    recalls = {"posting lists only": [], "with centroid interaction": []}
    for query in query_vectors:
        _, truth = exact.search(query, k=10, nprobe=len(exact.centroids), candidates=len(ids), prune=0)
        for label, shortlist in (("posting lists only", 60), ("with centroid interaction", 240)):
            _, got = index.search(query, k=10, shortlist=shortlist, candidates=60, prune=0)
            recalls[label].append(len(set(truth) & set(got)) / 10)
    mean = {label: float(np.mean(values)) for label, values in recalls.items()}
    assert mean["with centroid interaction"] >= 0.9, mean  # measured 0.925 (posting lists alone: 0.8625)
    assert mean["with centroid interaction"] > mean["posting lists only"], mean


@pytest.mark.slow
def test_pruning_skips_most_tokens_and_keeps_exact_maxsims_top_10(slice_tokens, slice_indexes):
    """Pruning (the default for long documents) scores each document on the tokens of centroids near some query
    token only. Here on short documents and exact
    vectors, so only pruning differs from exact MaxSim: a document's pruned score never exceeds its exact one (a best
    over fewer tokens), most tokens are skipped, and the top 10 stays exact MaxSim's (a pruning that dropped the
    wrong tokens would lose it)."""
    doc_vectors, tokens, offsets, query_vectors = slice_tokens
    ids = np.arange(len(doc_vectors))
    index = slice_indexes[0]
    threshold = DEFAULT_PRUNE
    everything = {"nprobe": len(index.centroids), "candidates": len(ids)}
    agreement, skipped = [], []
    for query in query_vectors:
        exact_scores, exact_rows = index.search(query, k=len(ids), prune=0, **everything)
        pruned_scores, pruned_rows = index.search(query, k=len(ids), prune=threshold, **everything)
        exact_of = dict(zip(exact_rows.tolist(), exact_scores.tolist()))
        assert all(score <= exact_of[row] + 1e-5 for row, score in zip(pruned_rows.tolist(), pruned_scores.tolist()))
        agreement.append(len(set(exact_rows[:10].tolist()) & set(pruned_rows[:10].tolist())) / 10)
        skipped.append(1 - kept_centroids(query @ index.centroids.T, threshold)[index.token_centroid].mean())
    assert np.mean(skipped) > 0.75, np.mean(skipped)  # measured 0.85
    assert np.mean(agreement) >= 0.95, agreement  # measured 0.975


def test_multivector_search_knobs_apply_per_search(small_searcher):
    """The index records its knobs; a search may set its own. Every document decoded with nothing pruned gives exact
    MaxSim on the stored vectors (the reranker's score); with a threshold no centroid reaches, only each query token's
    few best centroids are read, so no score is higher and some are lower."""
    query = "american politician born in texas"
    recorded = small_searcher.component("multivector").index.search_params
    assert (
        set(recorded) == {"nprobe", "shortlist", "candidates", "prune"} and recorded["prune"] == 0.0
    )  # short documents
    everything = small_searcher.search_config(
        multivector_nprobe=4096, multivector_candidates=len(small_searcher), multivector_prune=0.0
    )
    found = small_searcher.search(query, k=10, mode="multivector", config=everything)
    encoded = small_searcher.multivector_encoder.encode_queries([query])[0]
    rows = [small_searcher.row_of(doc_id) for doc_id in found.ids]
    np.testing.assert_allclose(
        [h.score for h in found.hits], small_searcher.component("multivector").rescore(encoded, rows), atol=1e-5
    )
    fewest = small_searcher.search(
        query, k=10, mode="multivector", config=small_searcher.search_config(multivector_prune=0.99)
    )
    exact = small_searcher.component("multivector").rescore(
        encoded, [small_searcher.row_of(doc_id) for doc_id in fewest.ids]
    )
    assert all(h.score <= score + 1e-5 for h, score in zip(fewest.hits, exact))
    assert sum(h.score for h in fewest.hits) < sum(exact) - 0.01


@pytest.mark.slow
def test_save_load_round_trip(tmp_path, slice_tokens):
    doc_vectors, tokens, offsets, query_vectors = slice_tokens
    index = MultiVectorIndex.build(tokens, offsets, np.arange(len(doc_vectors)) + 7)
    index.save(tmp_path)
    loaded = MultiVectorIndex.load(tmp_path, index.search_params, index.unit_tokens)  # as the manifest gives them
    assert isinstance(loaded.token_codes, np.memmap), "the token store is memory-mapped, not loaded whole"
    for query in query_vectors[:3]:
        a, b = index.search(query, k=10), loaded.search(query, k=10)
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_allclose(a[0], b[0], atol=1e-6)


def test_hybrid_mode_builds_dense_multivector_and_bm25_in_one_folder(small_index, minilm, minilm_colbert):
    searcher = Searcher.load(small_index, encoder=minilm, multivector_encoder=minilm_colbert)
    assert searcher.modes == ["hybrid", "dense", "multivector", "bm25"]
    manifest = searcher.manifest
    assert manifest.mode == "hybrid"
    assert manifest.components["multivector"].model["spec"] == "minilm-colbert"
    assert manifest.components["multivector"].bytes_per_token == 36
    assert {"mv_token_codes.npy", "dense.faiss"} <= set(manifest.files)
    dense = searcher.search("guitar chord tuning", k=5, mode="dense")
    multi = searcher.search("guitar chord tuning", k=5, mode="multivector")
    assert dense.mode == "dense" and multi.mode == "multivector"
    assert type(dense) is type(multi) and len(multi.hits) == 5
    assert "tuning" in multi.hits[0].title.lower()


@pytest.mark.slow
def test_batches_do_not_change_the_index(tmp_path, minilm_colbert):
    """Built from the same documents read and encoded in different batch sizes: same results."""
    rows = [
        {"_id": f"d{i}", "text": f"Document {i} is about topic {i % 7} and item {i * 13 % 11}."} for i in range(120)
    ]
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    results = []
    for read, batch in ((7, 3), (1000, 16)):
        folder = tmp_path / f"idx-{read}"
        config = BuildConfig(mode="multivector", model="minilm-colbert", read_batch_size=read, batch_size=batch)
        build_index(corpus, folder, config, multivector_encoder=minilm_colbert, progress=False)
        result = Searcher.load(folder, multivector_encoder=minilm_colbert).search("topic 3 item 5", k=10)
        results.append(result)
    assert results[0].ids == results[1].ids
    np.testing.assert_allclose([h.score for h in results[0].hits], [h.score for h in results[1].hits], atol=1e-4)


def test_explanations_point_at_real_document_text(small_index, minilm, minilm_colbert):
    searcher = Searcher.load(small_index, encoder=minilm, multivector_encoder=minilm_colbert)
    hit = searcher.search("guitar chord tuning", k=1, mode="multivector").hits[0]
    matches = searcher.explain("guitar chord tuning", hit.id)
    assert [m.query_token for m in matches][:2] == ["[CLS]", "[Q]"]
    by_query = {m.query_token: m for m in matches}
    tuning = by_query["tuning"]
    assert tuning.document_token == "tuning" and 0.5 < tuning.similarity <= 1.0001
    located = [m for m in matches if m.span is not None]  # tokens of the title have no span in the text
    assert located, "some query tokens match tokens of the document text"
    for match in located:
        assert hit.text[match.span[0] : match.span[1]].lower() == match.document_token.removeprefix("##").lower()


def test_query_longer_than_the_query_length_is_truncated(small_index, minilm, minilm_colbert):
    searcher = Searcher.load(small_index, encoder=minilm, multivector_encoder=minilm_colbert)
    long_query = "guitar chord tuning " * 200
    vectors = minilm_colbert.encode_queries([long_query])[0]
    assert len(vectors) == minilm_colbert.max_query_tokens
    assert len(searcher.search(long_query, k=3, mode="multivector").hits) == 3


@pytest.mark.parametrize("distractors", ["noise", "mix"])
def test_benchmark_distractors_are_seeded_noisy_copies_on_disk(tmp_path, distractors):
    from eval.bench.collections import Collection, scale_collection

    rng = np.random.default_rng(1)
    lengths = rng.integers(3, 9, size=20)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    tokens = rng.normal(size=(int(offsets[-1]), 16)).astype(np.float32)
    tokens /= np.linalg.norm(tokens, axis=1, keepdims=True)
    real = Collection([f"d{i}" for i in range(20)], tokens, offsets, ["q"], [tokens[:4]], [1.0], 20)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    grown = scale_collection(real, 200, tmp_path / "a", distractors=distractors)
    again = scale_collection(real, 200, tmp_path / "b", distractors=distractors)
    assert isinstance(grown.tokens, np.memmap) and len(grown.doc_ids) == 200 and grown.n_real == 20
    np.testing.assert_array_equal(grown.tokens[: offsets[-1]], tokens), "real documents come first, unchanged"
    np.testing.assert_array_equal(grown.tokens, again.tokens), "the same seed gives the same distractors"
    np.testing.assert_allclose(np.linalg.norm(grown.tokens, axis=1), 1.0, atol=1e-5)
    lengths_grown = np.diff(grown.offsets)
    assert set(lengths_grown[20:]) <= set(lengths), "a distractor has the length of the real document it copies"
    first = grown.doc_vectors(20)
    source = min(
        range(20),
        key=lambda i: np.abs(real.doc_vectors(i)[: len(first)] - first).sum() if lengths[i] == len(first) else np.inf,
    )
    residual = first - real.doc_vectors(source)
    assert 0.01 < np.abs(residual).mean() < 0.2, "noisy copies: close to their source, not identical"
    assert 0.75 < np.mean(np.sum(first * real.doc_vectors(source), axis=1)) < 0.99  # cosine with the source


@pytest.mark.slow
def test_codec_benchmark_ranks_codecs_by_what_they_keep_of_the_exact_top_10(dbpedia_small, minilm_colbert):
    from eval.bench.codecs import run_codec_benchmark

    report = run_codec_benchmark(
        dbpedia_small,
        codecs=("pq", "pq64x4", "sq8"),
        progress=False,
        encoder=minilm_colbert,
        centroid_multipliers=(1, 4),
    )
    rows = {r["codec"]: r for r in report["results"] if r["centroids"] == report["centroids"]}
    more = {r["codec"]: r for r in report["results"] if r["centroids"] == 4 * report["centroids"]}
    assert [rows[c]["bytes_per_token"] for c in ("pq", "pq64x4", "sq8")] == [36, 36, 132]
    assert sorted(more) == sorted(rows), "every codec again with four times the centroids"
    assert more["pq"]["residual_mse"] < 0.9 * rows["pq"]["residual_mse"], "more centroids leave smaller residuals"
    assert rows["sq8"]["residual_mse"] < rows["pq"]["residual_mse"] / 10
    assert rows["sq8"]["agreement_as_decoded"] >= 0.95, rows
    assert rows["sq8"]["agreement_as_decoded"] >= rows["pq"]["agreement_as_decoded"], (
        "4x the bytes keep at least as much"
    )
    assert all(0 < r["agreement_unit_length"] <= 1 for r in rows.values())


@pytest.mark.slow
def test_benchmark_compares_each_system_with_exact_maxsim_per_query(dbpedia_small, minilm_colbert):
    """bench multivector on a real slice: the nDCG@10 ratio to exact MaxSim comes with a paired interval and
    the share of exact MaxSim's top 10 each system returns."""
    from eval.beir import evaluate_run, load_beir
    from eval.bench.multivector import run_benchmark

    report = run_benchmark(dbpedia_small, systems=("exact", "modernsearch"), progress=False, encoder=minilm_colbert)
    json.dumps(report, allow_nan=False)
    exact, ours = report["results"][:2]
    assert exact["vs_exact"] == {"ndcg@10_ratio": 1.0, "ndcg@10_ratio_ci95": [1.0, 1.0], "top10_agreement": 1.0}
    ratio, (low, high) = ours["vs_exact"]["ndcg@10_ratio"], ours["vs_exact"]["ndcg@10_ratio_ci95"]
    assert ratio == pytest.approx(ours["metrics"]["ndcg@10"] / exact["metrics"]["ndcg@10"], abs=1e-4)
    assert low <= ratio <= high
    assert 0.9 <= ours["vs_exact"]["top10_agreement"] <= 1.0  # a few hundred documents: all are decoded
    assert (
        sorted(ours["per_query_ndcg"]) == sorted(exact["per_query_ndcg"])
        and len(exact["per_query_ndcg"]) == report["queries"]
    )
    _, per_query = evaluate_run(
        {q: {d: 10.0 - i for i, d in enumerate(ids)} for q, ids in exact["top10"].items()},
        load_beir(dbpedia_small).qrels,
    )
    assert {q: m["ndcg@10"] for q, m in per_query.items()} == pytest.approx(exact["per_query_ndcg"])


def test_a_collection_smaller_than_a_code_book_still_builds_and_ranks_exactly():
    rng = np.random.default_rng(5)
    docs = [rng.standard_normal((n, 128)).astype(np.float32) for n in (7, 11, 5)]  # 23 tokens < 256 PQ code words
    docs = [d / np.linalg.norm(d, axis=1, keepdims=True) for d in docs]
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in docs])])
    index = MultiVectorIndex.build(np.vstack(docs), offsets, np.array([1, 2, 3]), codec="none")
    query = docs[1][:4]
    scores, rows = index.search(query, k=3, prune=0)
    assert list(rows) == sorted([1, 2, 3], key=lambda r: -maxsim(query, docs[r - 1]))


@pytest.mark.slow
def test_scale_benchmark_writes_its_grown_collection_as_an_index_that_answers_like_exact_maxsim(
    tmp_path, dbpedia_small, minilm_colbert
):
    """bench scale's large part searches the grown collection as an index folder: it verifies, opens like a built
    multi-vector index, keeps the real documents' texts, and ranks close to exhaustive MaxSim over the same tokens."""
    from eval.beir import load_beir
    from eval.bench.collections import encode_collection, scale_collection
    from eval.bench.scale import corpus_documents, write_collection_index
    from index.multivector.maxsim import maxsim_segments
    from index.verify import verify_index

    real = encode_collection(dbpedia_small, "minilm-colbert", progress=False, encoder=minilm_colbert)
    grown = scale_collection(real, len(real.doc_ids) + 300, tmp_path, distractors="mix")
    dataset = load_beir(dbpedia_small)
    documents = corpus_documents(dbpedia_small)
    write_collection_index(tmp_path / "index", grown, documents, minilm_colbert)
    assert all(check.ok for check in verify_index(tmp_path / "index"))
    searcher = Searcher.load(tmp_path / "index", multivector_encoder=minilm_colbert)
    assert len(searcher) == len(grown.doc_ids) and searcher.modes == ["multivector"]
    agreement = []
    for query in dataset.queries.values():
        found = searcher.search(query, k=10, mode="multivector")
        exact = maxsim_segments(minilm_colbert.encode_queries([query])[0], np.asarray(grown.tokens), grown.offsets)
        agreement.append(len(set(found.ids) & {grown.doc_ids[i] for i in np.argsort(-exact)[:10]}) / 10)
        for hit in found.hits:
            assert hit.text == (documents[hit.id].text if hit.id in documents else f"Synthetic distractor {hit.id}.")
            assert hit.title == (documents[hit.id].title if hit.id in documents else "")
    assert np.mean(agreement) >= 0.9, agreement
