"""The Python search API on a real index, and clear errors for missing, incomplete and corrupt index folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index.errors import ChecksumMismatchError, IndexFormatError, IndexNotFoundError
from retrieval import Searcher, SearchResult
from retrieval.config import SearchConfig


def test_single_query_and_batch_share_one_result_type(small_index, minilm, dbpedia_small):
    searcher = Searcher.load(small_index, encoder=minilm)
    queries = [json.loads(line)["text"] for line in (dbpedia_small / "queries.jsonl").read_text().splitlines()]
    one = searcher.search(queries[0], k=10)
    many = searcher.search(queries, k=10)
    assert isinstance(one, SearchResult) and all(isinstance(r, SearchResult) for r in many)
    assert len(many) == len(queries)
    assert many[0].ids == one.ids
    np.testing.assert_allclose([h.score for h in many[0].hits], [h.score for h in one.hits], atol=1e-5)
    assert [h.rank for h in one.hits] == list(range(1, 11))
    assert all(a.score >= b.score for a, b in zip(one.hits, one.hits[1:]))
    assert one.mode == "hybrid" and searcher.modes == ["hybrid", "dense", "multivector", "bm25"]
    assert set(one.timings_ms) == {"encode", "search", "total"}
    assert one.timings_ms["total"] >= one.timings_ms["search"]


def test_to_dict_has_the_documented_json_shape(small_index, minilm):
    result = Searcher.load(small_index, encoder=minilm).search("a film", k=3).to_dict()
    assert list(result) == ["query", "results", "timings_ms"]
    assert result["query"] == "a film"
    assert [list(r) for r in result["results"]] == [["id", "score", "title", "text", "metadata", "components"]] * 3
    assert all(set(r["metadata"]) == {"metadata"} and "url" in r["metadata"]["metadata"] for r in result["results"]), (
        "dbpedia keeps its url"
    )
    assert all({"fused"} <= set(r["components"]) <= {"bm25", "dense", "fused"} for r in result["results"])
    json.dumps(result)


def test_k_larger_than_the_corpus_returns_every_document(small_index, minilm):
    searcher = Searcher.load(small_index, encoder=minilm)
    result = searcher.search("anything at all", k=100_000)
    assert len(result.hits) == len(searcher)
    assert len(set(result.ids)) == len(searcher)


def test_bad_queries_and_modes_are_clear_errors(small_index, minilm):
    searcher = Searcher.load(small_index, encoder=minilm)
    with pytest.raises(ValueError, match="no visible characters"):
        searcher.search("   ")
    with pytest.raises(ValueError, match=r"supports modes \['hybrid', 'dense', 'multivector', 'bm25'\], not 'sparse'"):
        searcher.search("q", mode="sparse")
    with pytest.raises(ValueError, match="k must be at least 1"):
        searcher.search("q", k=0)


def test_missing_index_folder(tmp_path):
    with pytest.raises(IndexNotFoundError, match="No index at .*nope") as caught:
        Searcher.load(tmp_path / "nope")
    assert caught.value.folder == tmp_path / "nope" and "modernsearch" not in str(caught.value), (
        "the library names no command"
    )


def test_incomplete_index_without_manifest(copy_of_small_index):
    (copy_of_small_index / "manifest.json").unlink()
    with pytest.raises(IndexFormatError, match="has no manifest.json.*did not finish"):
        Searcher.load(copy_of_small_index)


def test_missing_payload_file(copy_of_small_index):
    (copy_of_small_index / "dense.faiss").unlink()
    with pytest.raises(IndexFormatError, match=r"dense.faiss is missing"):
        Searcher.load(copy_of_small_index)


@pytest.mark.parametrize(
    "name", ["dense.faiss", "documents.sqlite", "mv_token_codes.npy", "mv_doc_offsets.npy", "bm25/data.csc.index.npy"]
)
def test_flipped_byte_is_a_checksum_error(copy_of_small_index, name):
    path = copy_of_small_index / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError, match=f"{name} does not match its checksum"):
        Searcher.load(copy_of_small_index)


def test_truncated_file_is_named(copy_of_small_index):
    path = copy_of_small_index / "documents.sqlite"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ChecksumMismatchError, match="documents.sqlite has 1000 bytes but the manifest records"):
        Searcher.load(copy_of_small_index)


def test_unknown_format_version(copy_of_small_index):
    path = copy_of_small_index / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 99
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="format_version 99"):
        Searcher.load(copy_of_small_index)


def test_garbled_manifest(copy_of_small_index):
    (copy_of_small_index / "manifest.json").write_text("{not json")
    with pytest.raises(IndexFormatError, match="not valid JSON"):
        Searcher.load(copy_of_small_index)


def test_a_sharded_index_offers_the_rerankers_of_its_whole(
    small_index, small_searcher, tmp_path, minilm, minilm_colbert
):
    """Which components can rerank comes from their registered type, and each sharded proxy declares exactly its
    kind's abilities (a proxy that forwarded ``rescore`` for every kind made the UI's rerank toggle pick dense and
    fail): BM25 results of a sharded index rerank by MaxSim, as the whole's do."""
    from index.component import Explaining, Rescoring
    from index.shard_folders import shard_index

    shard_index(small_index, tmp_path / "sharded", 2)
    sharded = Searcher.load(tmp_path / "sharded", encoder=minilm, multivector_encoder=minilm_colbert)
    try:
        abilities = {
            name: (isinstance(sharded.component(name), Rescoring), isinstance(sharded.component(name), Explaining))
            for name in ("dense", "multivector", "bm25")
        }
        assert abilities == {"dense": (False, False), "multivector": (True, True), "bm25": (False, False)}
        assert {mode: sharded.rerankers(mode) for mode in sharded.modes} == {
            mode: small_searcher.rerankers(mode) for mode in sharded.modes
        }
        assert sharded.rerankers("bm25") == ["multivector"]
        config = SearchConfig(rerank="multivector")
        assert (
            sharded.search("a film", k=5, mode="bm25", config=config).ids
            == small_searcher.search("a film", k=5, mode="bm25", config=config).ids
        )
    finally:
        sharded.close()
