"""Encoder backends: ONNX Runtime (exported once, cached), its int8 variant and bfloat16 autocast against the
float32 torch model on real text, through the builder and the searcher; hardware-dependent loading options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index.format import read_manifest
from retrieval.build.builder import build_index
from retrieval.config import BuildConfig, home_dir
from retrieval.encode.dense import DenseEncoder, accelerated_kwargs
from retrieval.encode.onnx_backend import INT8_FILE
from retrieval.encode.precision import native_bfloat16, resolve_backend
from retrieval.encode.query_runtime import LightQueryEncoder
from retrieval.search.searcher import Searcher


@pytest.fixture(scope="module")
def texts(dbpedia_small):
    lines = (dbpedia_small / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:48]
    return [f"{r['title']} {r['text']}" for r in map(json.loads, lines)]


@pytest.fixture(scope="module")
def onnx_encoders():
    return {backend: DenseEncoder.load("minilm", device="cpu", backend=backend) for backend in ("onnx", "onnx-int8")}


@pytest.mark.slow
def test_onnx_matches_torch_and_int8_stays_close(texts, minilm, onnx_encoders):
    reference = minilm.encode_documents(texts)
    exported = onnx_encoders["onnx"].encode_documents(texts, token_budget=4096)
    np.testing.assert_allclose(exported, reference, atol=1e-4)
    cosines = np.sum(onnx_encoders["onnx-int8"].encode_documents(texts) * reference, axis=1)
    assert cosines.mean() > 0.99 and cosines.min() > 0.98, (
        f"int8 cosine to torch: mean {cosines.mean():.3f}, min {cosines.min():.3f}"
    )
    queries = ["river in europe", "rock band"]
    np.testing.assert_allclose(onnx_encoders["onnx"].encode_queries(queries), minilm.encode_queries(queries), atol=1e-4)


def test_the_export_is_cached_and_reused(onnx_encoders):
    files = sorted(home_dir().glob("onnx/*/model*.onnx"))
    assert {f.name for f in files} == {"model.onnx", INT8_FILE}
    stamps = [f.stat().st_mtime_ns for f in files]
    DenseEncoder.load("minilm", device="cpu", backend="onnx-int8")
    assert [f.stat().st_mtime_ns for f in files] == stamps, "a second load does not export again"


@pytest.mark.slow
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
    np.testing.assert_allclose(
        minilm.encode_documents(texts[:4]), reference[:4], atol=1e-5
    )  # float32 encoder unchanged


def test_loading_options_follow_the_hardware():
    assert accelerated_kwargs("cpu") == {}, "on a CPU transformers' default attention (sdpa) is used"
    with pytest.raises(ValueError, match="backend must be one of auto, torch, torch-bf16, onnx, onnx-int8"):
        DenseEncoder.load("minilm", backend="tensorrt")


def _cpu_flags() -> set[str] | None:
    """The CPU's feature flags as the kernel reports them (read apart from torch's own probes)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return None
    line = next((line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), None)
    return set(line.split(":", 1)[1].split()) if line else None


def test_auto_encodes_documents_in_bfloat16_only_where_the_cpu_multiplies_it_natively():
    flags = _cpu_flags()
    if flags is None:
        pytest.skip("no /proc/cpuinfo flags to check torch's CPU probes against")
    native = bool(flags & {"avx512_bf16", "amx_bf16"})
    assert native_bfloat16("cpu") is native
    assert resolve_backend("auto", "cpu") == ("torch-bf16" if native else "torch", "torch"), "queries stay float32"
    assert resolve_backend("onnx-int8", "cpu") == ("onnx-int8", "onnx-int8"), "a named backend serves both"
    assert native_bfloat16("mps") is False
    with pytest.raises(ValueError, match="queries can be encoded apart from documents only in float32"):
        DenseEncoder(None, None, backend="onnx", query_backend="torch")


@pytest.mark.slow
def test_a_default_build_records_its_runtimes_and_ranks_like_float32(tmp_path, dbpedia_small, small_searcher, minilm):
    config = BuildConfig(model="minilm", mode="both", multivector_model="minilm-colbert")
    assert config.backend == "auto"
    build_index(dbpedia_small, tmp_path / "auto", config, progress=False)
    documents, queries = resolve_backend("auto", "cpu")
    manifest = read_manifest(tmp_path / "auto")
    for name in ("dense", "multivector"):
        model = manifest.components[name].model
        assert (model["backend"], model["query_backend"]) == (documents, queries), name

    searcher = Searcher.load(tmp_path / "auto")
    assert isinstance(searcher.encoder, LightQueryEncoder), "float32 queries keep the light query encoder"
    assert (searcher.multivector_encoder.backend, searcher.multivector_encoder.query_backend) == (documents, queries)
    for query in ("river in europe", "american actor", "rock band", "football club founded in 1900"):
        np.testing.assert_allclose(searcher.encoder.encode_queries([query]), minilm.encode_queries([query]), atol=1e-5)
        found = searcher.search(query, k=10, mode="dense")
        reference = small_searcher.search(query, k=10, mode="dense")  # the same slice built in float32
        assert len(set(found.ids) & set(reference.ids)) >= 9, (query, found.ids, reference.ids)
        assert abs(found.hits[0].score - reference.hits[0].score) < 1e-3


@pytest.mark.slow
def test_bf16_token_vectors_keep_exact_maxsim_rankings(dbpedia_small, minilm_colbert):
    """Compared on exact MaxSim over the token vectors (a compressed index would add its own codec's noise)."""
    from pylate import rank

    from retrieval.encode.multivector import MultiVectorEncoder

    lines = (dbpedia_small / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:300]
    texts = [f"{r['title']} {r['text']}" for r in map(json.loads, lines)]
    bf16 = MultiVectorEncoder(
        minilm_colbert.model, minilm_colbert.resolved, backend="torch-bf16", query_backend="torch"
    )
    reference, tokens = (
        minilm_colbert.encode_documents(texts, token_budget=8192),
        bf16.encode_documents(texts, token_budget=8192),
    )
    assert [len(t) for t in tokens] == [len(t) for t in reference]
    np.testing.assert_allclose(np.linalg.norm(np.vstack(tokens), axis=1), 1.0, atol=1e-5)
    cosines = np.sum(np.vstack(tokens) * np.vstack(reference), axis=1)
    assert np.median(cosines) > 0.9999 and cosines.min() > 0.99, (np.median(cosines), cosines.min())
    queries = ["river in europe", "american actor", "rock band", "football club founded in 1900", "city in asia"]
    query_tokens = bf16.encode_queries(queries)
    ids = [list(range(len(texts)))] * len(queries)
    top = [
        [
            [d["id"] for d in ranked[:10]]
            for ranked in rank.rerank(
                documents_ids=ids, queries_embeddings=query_tokens, documents_embeddings=documents
            )
        ]
        for documents in ([tokens] * len(queries), [reference] * len(queries))
    ]
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(*top)])
    assert overlap >= 0.95, f"bf16 documents keep {overlap:.2f} of float32's exact top 10"
