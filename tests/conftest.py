"""Shared fixtures: the offline model loaded once, slices of the real datasets, indexes built once per session."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

# Tests never reach a model hub; models come from the installed offline package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Cached models (the seeded minilm-colbert) and demo indexes go to a folder of this test session only.
os.environ.setdefault("MODERNSEARCH_HOME", tempfile.mkdtemp(prefix="modernsearch-home-"))


def shared_dataset(name: str) -> Path:
    """A dataset folder from ../shared/data, or skip the test with the reason."""
    folder = SHARED_DATA / name
    if not (folder / "corpus.jsonl").exists():
        pytest.skip(f"real dataset {folder} is absent (expected ../shared/data/{name} beside the repository)")
    return folder


def write_beir_slice(source: Path, target: Path, n_queries: int, n_extra_docs: int) -> Path:
    """A small BEIR folder: the first judged queries, every document judged for them, plus the first other documents."""
    qrels_lines = (source / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    header, rows = qrels_lines[0], [line.split("\t") for line in qrels_lines[1:] if line.strip()]
    chosen: list[str] = []
    for qid, _, _ in rows:
        if qid not in chosen:
            chosen.append(qid)
        if len(chosen) == n_queries:
            break
    kept_rows = [r for r in rows if r[0] in chosen]
    judged = {r[1] for r in kept_rows}
    target.mkdir(parents=True, exist_ok=True)
    (target / "qrels").mkdir(exist_ok=True)
    extra = 0
    with open(source / "corpus.jsonl", encoding="utf-8") as src, open(target / "corpus.jsonl", "w", encoding="utf-8") as dst:
        for line in src:
            doc_id = json.loads(line)["_id"]
            if doc_id in judged or extra < n_extra_docs:
                extra += doc_id not in judged
                dst.write(line)
    with open(source / "queries.jsonl", encoding="utf-8") as src, open(target / "queries.jsonl", "w", encoding="utf-8") as dst:
        for line in src:
            if json.loads(line)["_id"] in chosen:
                dst.write(line)
    (target / "qrels" / "test.tsv").write_text(
        "\n".join([header] + ["\t".join(r) for r in kept_rows]) + "\n", encoding="utf-8"
    )
    return target


@pytest.fixture(scope="session")
def minilm():
    """The offline all-MiniLM-L6-v2 encoder, loaded once for the whole session."""
    from retrieval.encoders import DenseEncoder

    return DenseEncoder.load("minilm", device="cpu")


@pytest.fixture(scope="session")
def minilm_colbert():
    """The offline ColBERT model (bundled MiniLM + seeded projection), loaded once for the whole session."""
    from retrieval.multivector_encoder import MultiVectorEncoder

    return MultiVectorEncoder.load("minilm-colbert", device="cpu")


@pytest.fixture(scope="session")
def dbpedia_dir() -> Path:
    """The full dbpedia-5k folder (5,000 documents, 40 judged queries)."""
    return shared_dataset("dbpedia-5k")


@pytest.fixture(scope="session")
def dbpedia_small(tmp_path_factory) -> Path:
    """dbpedia-5k cut to 5 judged queries, their judged documents and 150 others (a few hundred documents)."""
    return write_beir_slice(shared_dataset("dbpedia-5k"), tmp_path_factory.mktemp("dbpedia-small"), 5, 150)


@pytest.fixture(scope="session")
def small_index(tmp_path_factory, dbpedia_small, minilm, minilm_colbert) -> Path:
    """A hybrid index of the dbpedia slice: Flat dense, multi-vector and BM25 in one folder (default mode hybrid)."""
    from retrieval.builder import build_index
    from retrieval.config import BuildConfig

    folder = tmp_path_factory.mktemp("indexes") / "small"
    config = BuildConfig(model="minilm", mode="hybrid", multivector_model="minilm-colbert")
    build_index(dbpedia_small, folder, config, encoder=minilm, multivector_encoder=minilm_colbert, progress=False)
    return folder


@pytest.fixture(scope="session")
def dbpedia_index(tmp_path_factory, dbpedia_dir, minilm) -> Path:
    """A Flat index of the full dbpedia-5k corpus (about two minutes on two cores), built once. Documents longer
    than the model's 256 tokens are truncated, as in the independent measurement the evaluation is checked against."""
    from retrieval.builder import build_index
    from retrieval.config import BuildConfig

    folder = tmp_path_factory.mktemp("indexes") / "dbpedia-5k"
    build_index(dbpedia_dir, folder, BuildConfig(model="minilm", long_docs="truncate"), encoder=minilm, progress=False)
    return folder
