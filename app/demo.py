"""The demo: an index of the Python standard library's documentation, built once and reused."""

from __future__ import annotations

from pathlib import Path

from index.errors import IndexFormatError
from index.format import read_manifest
from retrieval.build.builder import BuildSummary, build_index
from retrieval.config import BuildConfig, home_dir
from retrieval.corpus.stdlib_docs import stdlib_documents
from retrieval.registry import FULL_BUILD_MODE

EXAMPLE_QUERIES = (
    "read and write JSON files",
    "parse command line arguments",
    "compress data with gzip",
    "run a shell command and capture its output",
)


def published_results() -> Path | None:
    """The evaluation results published with modernsearch (its ``eval/results``), which the demo's UI shows."""
    folder = Path(__file__).resolve().parent.parent / "eval" / "results"
    return folder if folder.is_dir() else None


def demo_index_dir() -> Path:
    """Folder of the demo index."""
    return home_dir() / "demo-index"


def demo_config(model: str = "minilm", multivector_model: str = "minilm-colbert") -> BuildConfig:
    """The demo's build: hybrid (BM25, dense and multi-vector), so every search mode, the fusion controls and the
    MaxSim token highlights of the UI work on it."""
    return BuildConfig(model=model, mode=FULL_BUILD_MODE, multivector_model=multivector_model, on_duplicate="first")


def ensure_demo_index(model: str = "minilm", rebuild: bool = False) -> tuple[Path, BuildSummary | None]:
    """Return the demo index folder, building it first if it is missing, unreadable or built with other settings."""
    folder = demo_index_dir()
    config = demo_config(model)
    if not rebuild:
        try:
            recorded = read_manifest(folder).build.config
            if all(recorded.get(name) == getattr(config, name) for name in ("model", "mode", "multivector_model")):
                return folder, None
        except IndexFormatError:
            pass
    return folder, build_index(stdlib_documents(), folder, config)
