"""What the UI serves, read from the environment that `modernsearch app` sets."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

INDEXES_ENV = "MODERNSEARCH_INDEXES"
RESULTS_ENV = "MODERNSEARCH_RESULTS"
MAX_QUERY_CHARS = 5_000


@dataclass(frozen=True)
class UiSettings:
    """Index folders to offer and the folder of evaluation reports."""

    indexes: tuple[Path, ...]
    results_dir: Path


def ui_settings() -> UiSettings:
    """Settings from ``MODERNSEARCH_INDEXES`` (paths joined by os.pathsep) and ``MODERNSEARCH_RESULTS``.

    With no index named, the demo index is offered if it has been built.
    """
    from app.demo import demo_index_dir
    from index.format import has_manifest
    from retrieval.config import results_dir

    named = [Path(p) for p in os.environ.get(INDEXES_ENV, "").split(os.pathsep) if p.strip()]
    if not named and has_manifest(demo_index_dir()):
        named = [demo_index_dir()]
    results = Path(os.environ.get(RESULTS_ENV) or results_dir())
    return UiSettings(tuple(named), results)


def index_choices(indexes: tuple[Path, ...]) -> dict[str, Path]:
    """Index folders by the label the picker shows: the folder name, or the full path where names repeat."""
    names = [p.name or str(p) for p in indexes]
    return {(name if names.count(name) == 1 else str(path)): path for name, path in zip(names, indexes)}
