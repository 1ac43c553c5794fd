"""The light query encoder: the build's checked ONNX export answers exactly like the model, and a search
from the command line never imports PyTorch, transformers or sentence-transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval.encode.query_runtime import (
    RECORD_NAME,
    TOLERANCE,
    LightQueryEncoder,
    prepare_light_encoder,
    runtime_folder,
)
from retrieval.search.searcher import Searcher

QUERIES = ["american politician", "rivers of europe", "who wrote the iliad", "Boeing 747 operators " * 80]


@pytest.fixture(scope="module")
def light(minilm) -> LightQueryEncoder:
    assert prepare_light_encoder(minilm), "the export of the offline model must agree with it"
    encoder = LightQueryEncoder.open(minilm.describe())
    assert encoder is not None
    return encoder


def test_the_export_embeds_queries_like_the_model(light, minilm):
    record = json.loads((runtime_folder(minilm.describe()) / RECORD_NAME).read_text())
    assert record["verified"] and record["max_abs_difference"] <= TOLERANCE
    difference = np.abs(light.encode_queries(QUERIES) - minilm.encode_queries(QUERIES)).max()
    assert difference <= TOLERANCE, "queries never seen by the build's check agree too (the last is truncated)"
    assert light.dimension == minilm.dimension and light.max_query_tokens == minilm.max_query_tokens


def test_searches_through_the_light_encoder_equal_the_model_searches(light, minilm, small_index):
    through_model = Searcher.load(small_index, encoder=minilm)
    through_export = Searcher.load(small_index)
    assert isinstance(through_export.encoder, LightQueryEncoder)
    for mode in ("dense", "hybrid"):
        for query in QUERIES:
            expected = through_model.search(query, k=10, mode=mode)
            found = through_export.search(query, k=10, mode=mode)
            assert found.ids == expected.ids
            assert np.allclose([h.score for h in found.hits], [h.score for h in expected.hits], atol=1e-5)


def test_an_unchecked_or_other_backend_export_is_not_used(light, minilm, tmp_path, monkeypatch):
    facts = minilm.describe()
    assert LightQueryEncoder.open({**facts, "backend": "torch-bf16", "query_backend": "torch-bf16"}) is None
    old_manifest = {k: v for k, v in facts.items() if k != "query_backend"}  # before queries had their own runtime
    assert LightQueryEncoder.open({**old_manifest, "backend": "torch-bf16"}) is None
    assert LightQueryEncoder.open({**facts, "backend": "torch-bf16", "query_backend": "torch"}) is not None, (
        "auto's case"
    )
    assert LightQueryEncoder.open({**minilm.describe(), "revision": None}) is None
    monkeypatch.setenv("MODERNSEARCH_HOME", str(tmp_path))  # a home where no build left an export
    assert LightQueryEncoder.open(minilm.describe()) is None


def test_a_command_line_search_imports_no_training_stack(light, small_index):
    probe = (
        "import sys\n"
        "from app.cli import app\n"
        "try:\n"
        f"    app(['search', {str(small_index)!r}, 'american politician', '--mode', 'hybrid', '--json'])\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'pylate') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    process = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert process.returncode == 0, process.stderr
    assert json.loads(process.stdout[: process.stdout.rindex("HEAVY")])["results"], "the search answered"
    assert process.stdout.strip().endswith("HEAVY []"), process.stdout[-300:]


@pytest.mark.slow
def test_the_cold_start_benchmark_times_both_query_encoders(light, small_index):
    from eval.bench.cold_start import run_cold_start_benchmark

    report = run_cold_start_benchmark(small_index, query="american politician", runs=1)
    full, fast = report["results"]
    assert (full["variant"], fast["variant"]) == ("full model", "light encoder")
    assert fast["median_seconds"] < full["median_seconds"] and report["speedup"] > 1
    assert fast["peak_rss_mib"] < full["peak_rss_mib"]
