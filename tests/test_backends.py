"""Encoder backends: ONNX Runtime (exported once, cached), its int8 variant and bfloat16 autocast against the
float32 torch model on real text, through the builder and the searcher; hardware-dependent loading options."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index.format import read_manifest
from retrieval.builder import build_index
from retrieval.config import BuildConfig, home_dir
from retrieval.encoders import DenseEncoder, accelerated_kwargs
from retrieval.onnx_backend import INT8_FILE
from retrieval.searcher import Searcher


@pytest.fixture(scope="module")
def texts(dbpedia_small):
    lines = (dbpedia_small / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:48]
    return [f"{r['title']} {r['text']}" for r in map(json.loads, lines)]


@pytest.fixture(scope="module")
def onnx_encoders():
    return {backend: DenseEncoder.load("minilm", device="cpu", backend=backend) for backend in ("onnx", "onnx-int8")}


def test_onnx_matches_torch_and_int8_stays_close(texts, minilm, onnx_encoders):
    reference = minilm.encode_documents(texts)
    exported = onnx_encoders["onnx"].encode_documents(texts, token_budget=4096)
    np.testing.assert_allclose(exported, reference, atol=1e-4)
    cosines = np.sum(onnx_encoders["onnx-int8"].encode_documents(texts) * reference, axis=1)
    assert cosines.mean() > 0.99 and cosines.min() > 0.98, f"int8 cosine to torch: mean {cosines.mean():.3f}, min {cosines.min():.3f}"
    queries = ["river in europe", "rock band"]
    np.testing.assert_allclose(onnx_encoders["onnx"].encode_queries(queries), minilm.encode_queries(queries), atol=1e-4)


def test_the_export_is_cached_and_reused(onnx_encoders):
    files = sorted(home_dir().glob("onnx/*/model*.onnx"))
    assert {f.name for f in files} == {"model.onnx", INT8_FILE}
    stamps = [f.stat().st_mtime_ns for f in files]
    DenseEncoder.load("minilm", device="cpu", backend="onnx-int8")
    assert [f.stat().st_mtime_ns for f in files] == stamps, "a second load does not export again"


def test_an_onnx_index_records_its_backend_and_searches_with_it(tmp_path, dbpedia_small, minilm, onnx_encoders):
    build_index(dbpedia_small, tmp_path / "torch", BuildConfig(model="minilm"), encoder=minilm, progress=False)
    build_index(dbpedia_small, tmp_path / "onnx", BuildConfig(model="minilm", backend="onnx"), progress=False)
    assert read_manifest(tmp_path / "onnx").components["dense"].model["backend"] == "onnx"
    onnx_searcher = Searcher.load(tmp_path / "onnx")
    assert onnx_searcher.encoder.backend == "onnx", "queries are encoded by the backend that built the index"
    torch_searcher = Searcher.load(tmp_path / "torch", encoder=minilm)
    for query in ("river in europe", "american actor", "rock band"):
        assert onnx_searcher.search(query, k=10).ids == torch_searcher.search(query, k=10).ids


def test_bf16_autocast_stays_within_rounding_of_float32(texts, minilm):
    bf16 = DenseEncoder(minilm.model, minilm.resolved, backend="torch-bf16")  # the same weights, another runtime
    reference = minilm.encode_documents(texts)
    cosines = np.sum(bf16.encode_documents(texts, token_budget=4096) * reference, axis=1)
    assert cosines.min() > 0.999, f"bf16 cosine to float32: min {cosines.min():.5f}"
    assert not np.array_equal(bf16.encode_documents(texts[:4]), reference[:4]), "autocast was applied"
    queries = ["river in europe", "rock band"]
    assert np.sum(bf16.encode_queries(queries) * minilm.encode_queries(queries), axis=1).min() > 0.999
    np.testing.assert_allclose(minilm.encode_documents(texts[:4]), reference[:4], atol=1e-5)  # float32 encoder unchanged


def test_loading_options_follow_the_hardware():
    assert accelerated_kwargs("cpu") == {}, "on a CPU transformers' default attention (sdpa) is used"
    with pytest.raises(ValueError, match="backend must be one of torch, torch-bf16, onnx, onnx-int8"):
        DenseEncoder.load("minilm", backend="tensorrt")
