"""Model specs: aliases, folders, the offline fallback for the default model, and errors for named models."""

from __future__ import annotations

import time
import warnings

import pytest

from retrieval.build.builder import build_index
from retrieval.encode.model_specs import FallbackWarning, ModelUnavailableError, bundled_minilm_path, resolve_model
from retrieval.search.searcher import Searcher


def test_minilm_alias_is_the_bundled_folder():
    resolved = resolve_model("minilm")
    assert resolved.is_local and resolved.name_or_path == str(bundled_minilm_path())
    assert (bundled_minilm_path() / "modules.json").exists()


def test_a_local_folder_is_used_as_is():
    folder = str(bundled_minilm_path())
    assert resolve_model(folder).name_or_path == folder


def test_default_model_falls_back_offline_with_one_warning(monkeypatch):
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resolved = resolve_model(None)
    assert time.monotonic() - started < 5, "an offline machine must fall back in seconds, not minutes"
    assert resolved.spec == "minilm" and resolved.fell_back_from == "modernbert"
    fallbacks = [w for w in caught if issubclass(w.category, FallbackWarning)]
    assert len(fallbacks) == 1
    text = str(fallbacks[0].message)
    assert "Alibaba-NLP/gte-modernbert-base" in text and "internet" in text


def test_an_explicitly_named_model_never_falls_back(monkeypatch):
    with pytest.raises(
        ModelUnavailableError, match=r"'modernbert'.*not in the local Hugging Face cache.*offline model 'minilm'"
    ):
        resolve_model("modernbert")
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        resolve_model("./no/such/folder")


def test_index_records_the_model_actually_used_and_search_loads_it(tmp_path, monkeypatch):
    """Built with the default model offline: the manifest says minilm, and the searcher loads minilm from it."""
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"_id": "a", "text": "a cat on a mat"}\n{"_id": "b", "text": "stock market news"}\n')
    with pytest.warns(FallbackWarning):
        summary = build_index(corpus, tmp_path / "idx", progress=False)
    assert summary.fell_back_from == "modernbert"
    searcher = Searcher.load(tmp_path / "idx")
    assert searcher.manifest.components["dense"].model["spec"] == "minilm"
    assert searcher.search("kitten", k=1).ids == ["a"]
    assert searcher.encoder.describe()["spec"] == "minilm"  # the model itself or its checked export
