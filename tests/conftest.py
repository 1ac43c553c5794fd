"""Shared fixtures: the offline model loaded once, slices of the real datasets, indexes built once per session."""

from __future__ import annotations

import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

# Tests never reach a model hub; models come from the installed offline package. Set here once: every
# subprocess a test starts inherits it.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Cached models (the seeded minilm-colbert) and demo indexes go to a folder of this test session only.
os.environ.setdefault("MODERNSEARCH_HOME", tempfile.mkdtemp(prefix="modernsearch-home-"))
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two workers share the two cores: one compute thread each (and in the processes they start), rather than two
    # each that contend for the same cores whenever both encode.
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")

# The suite runs on two pytest-xdist workers (`-n 2 --dist loadfile` in pyproject.toml): while one waits on a
# server, a browser, a subprocess or Ray, the other computes. A worker takes a module whole, so a module's fixtures
# are built once; the session's indexes are built once for both workers (:func:`built_once`). The modules that take
# minutes are handed out first, longest first, so that the two workers finish together.
LONGEST_FIRST = (
    "test_sharding.py",
    "test_eval_mteb.py",
    "test_multivector.py",
    "test_resume.py",
    "test_demo.py",
    "test_dense_index.py",
    "test_compact.py",
    "test_service_server.py",
    "test_ui_text.py",
    "test_safety.py",
    "test_backends.py",
    "test_process_safety.py",
    "test_cli.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


def built_once(factory: pytest.TempPathFactory, worker_id: str, name: str, build: Callable[[Path], Any]) -> Path:
    """The folder ``name`` that ``build(folder)`` fills, built once per test run: under xdist the first worker to
    ask builds it while the others wait on a lock, then every worker reads the same folder (tests change copies)."""
    if worker_id == "master":  # not distributed
        folder = factory.mktemp(name) / name
        build(folder)
        return folder
    shared = factory.getbasetemp().parent  # this run's folder, above the workers' own
    folder, done = shared / name, shared / f"{name}.done"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            build(folder)
            done.touch()
    return folder


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
    with (
        open(source / "corpus.jsonl", encoding="utf-8") as src,
        open(target / "corpus.jsonl", "w", encoding="utf-8") as dst,
    ):
        for line in src:
            doc_id = json.loads(line)["_id"]
            if doc_id in judged or extra < n_extra_docs:
                extra += doc_id not in judged
                dst.write(line)
    with (
        open(source / "queries.jsonl", encoding="utf-8") as src,
        open(target / "queries.jsonl", "w", encoding="utf-8") as dst,
    ):
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
    from retrieval.encode.dense import DenseEncoder

    return DenseEncoder.load("minilm", device="cpu")


@pytest.fixture(scope="session")
def minilm_colbert():
    """The offline ColBERT model (bundled MiniLM + seeded projection), loaded once for the whole session."""
    from retrieval.encode.multivector import MultiVectorEncoder

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
def small_index(tmp_path_factory, worker_id, dbpedia_small, minilm, minilm_colbert) -> Path:
    """A hybrid index of the dbpedia slice: Flat dense, multi-vector and BM25 in one folder (default mode hybrid)."""
    from retrieval.build.builder import build_index
    from retrieval.config import BuildConfig

    config = BuildConfig(model="minilm", mode="hybrid", multivector_model="minilm-colbert")
    return built_once(
        tmp_path_factory,
        worker_id,
        "small",
        lambda folder: build_index(
            dbpedia_small, folder, config, encoder=minilm, multivector_encoder=minilm_colbert, progress=False
        ),
    )


@pytest.fixture(scope="session")
def dbpedia_index(tmp_path_factory, worker_id, dbpedia_dir, minilm) -> Path:
    """A Flat index of the full dbpedia-5k corpus (about two minutes on two cores), built once. Documents longer
    than the model's 256 tokens are truncated, as in the independent measurement the evaluation is checked against."""
    from retrieval.build.builder import build_index
    from retrieval.config import BuildConfig

    config = BuildConfig(model="minilm", long_docs="truncate")
    return built_once(
        tmp_path_factory,
        worker_id,
        "dbpedia-5k",
        lambda folder: build_index(dbpedia_dir, folder, config, encoder=minilm, progress=False),
    )


METADATA_CATEGORIES = [f"c{i:02d}" for i in range(20)]
METADATA_TAGS = ["alpha", "beta", "gamma", "delta", "epsilon"]


def synthetic_metadata(rng: random.Random) -> dict[str, Any]:
    """Seeded metadata of one document: a category from 20, a year 1990-2024, a boolean, a list of tags, a date."""
    return {
        "category": rng.choice(METADATA_CATEGORIES),
        "year": rng.randrange(1990, 2025),
        "reviewed": rng.random() < 0.4,
        "tags": sorted(rng.sample(METADATA_TAGS, rng.randrange(0, 3))),
        "published": f"{rng.randrange(2000, 2024)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
    }


def write_corpus_with_metadata(source: Path, target: Path, n: int, keep=lambda meta: True) -> dict[str, dict[str, Any]]:
    """The first ``n`` documents of ``source`` with seeded metadata (those ``keep`` accepts); their metadata by id."""
    rng = random.Random(17)
    kept: dict[str, dict[str, Any]] = {}
    with open(source / "corpus.jsonl", encoding="utf-8") as src, open(target, "w", encoding="utf-8") as out:
        for number, line in enumerate(src):
            if number == n:
                break
            record = json.loads(line)
            record.pop("metadata", None)
            meta = synthetic_metadata(rng)
            if keep(meta):
                out.write(json.dumps({**record, **meta}) + "\n")
                kept[record["_id"]] = meta
    return kept


@pytest.fixture(scope="session")
def filtered_corpus(tmp_path_factory) -> tuple[Path, dict[str, dict[str, Any]]]:
    """The first 300 dbpedia-5k documents with seeded synthetic metadata: the JSONL file and the metadata by id."""
    corpus = tmp_path_factory.mktemp("filtered-corpus") / "corpus.jsonl"
    return corpus, write_corpus_with_metadata(shared_dataset("dbpedia-5k"), corpus, 300)


@pytest.fixture(scope="session")
def filtered_metadata(filtered_corpus) -> dict[str, dict[str, Any]]:
    """The metadata of :func:`filtered_index`'s documents, by id."""
    return filtered_corpus[1]


@pytest.fixture(scope="session")
def filtered_index(tmp_path_factory, worker_id, filtered_corpus, minilm, minilm_colbert) -> Path:
    """A hybrid index (Flat dense, exact float32 token vectors, BM25) of :func:`filtered_corpus`."""
    from retrieval.build.builder import build_index
    from retrieval.config import BuildConfig

    config = BuildConfig(model="minilm", mode="hybrid", multivector_model="minilm-colbert", multivector_codec="none")
    return built_once(
        tmp_path_factory,
        worker_id,
        "filtered",
        lambda folder: build_index(
            filtered_corpus[0], folder, config, encoder=minilm, multivector_encoder=minilm_colbert, progress=False
        ),
    )


class Filtered(tuple):
    """``(searcher, metadata by id)``, shown briefly in failure reports."""

    def __repr__(self) -> str:
        return f"<index of {len(self[1])} documents with metadata>"


@pytest.fixture(scope="module")
def filtered(filtered_index, filtered_metadata, minilm, minilm_colbert) -> Filtered:
    """The session's hybrid index of 300 dbpedia documents with metadata, and that metadata."""
    from retrieval.search.searcher import Searcher

    return Filtered(
        (Searcher.load(filtered_index, encoder=minilm, multivector_encoder=minilm_colbert), filtered_metadata)
    )


@pytest.fixture(scope="session")
def small_searcher(small_index, minilm, minilm_colbert):
    """A searcher on the hybrid :func:`small_index`, with the session's models."""
    from retrieval.search.searcher import Searcher

    return Searcher.load(small_index, encoder=minilm, multivector_encoder=minilm_colbert)


@pytest.fixture
def copy_index(tmp_path) -> Callable[[Path], Path]:
    """``copy_index(source)``: a copy of an index folder in this test's tmp_path (``idx``), to change or break
    freely."""

    def copy(source: Path, name: str = "idx") -> Path:
        target = tmp_path / name
        shutil.copytree(source, target)
        return target

    return copy


@pytest.fixture
def copy_of_small_index(copy_index, small_index) -> Path:
    """A private copy of :func:`small_index`."""
    return copy_index(small_index)


def start_cli(*args: str, **popen: Any) -> subprocess.Popen:
    """``modernsearch ARGS`` in a subprocess, its output discarded unless ``popen`` says otherwise."""
    options = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, **popen}
    return subprocess.Popen([sys.executable, "-m", "app.cli", *args], **options)


def kill_when(
    process: subprocess.Popen, ready: Callable[[], bool], timeout: float = 300, sig: int = signal.SIGKILL
) -> bool:
    """Send ``sig`` to ``process`` as soon as ``ready()`` (a recorded point of its progress) holds, so the kill lands
    mid-work however fast the machine is. Returns whether it was ready (false: the process ended first)."""
    deadline = time.monotonic() + timeout
    reached = False
    while process.poll() is None and not reached:
        assert time.monotonic() < deadline, "the process never reached the point to interrupt it at"
        reached = ready()
        if not reached:
            time.sleep(0.02)
    process.send_signal(sig)
    process.wait()
    return reached


def progress_reached(files: Callable[[], list[Path]], accept: Callable[[dict[str, Any]], bool]) -> Callable[[], bool]:
    """A ``ready`` test for :func:`kill_when`: one of the build progress files ``files()`` records a state ``accept``
    takes."""

    def ready() -> bool:
        for path in files():
            try:
                if accept(json.loads(path.read_text())):
                    return True
            except (OSError, ValueError):
                continue
        return False

    return ready
