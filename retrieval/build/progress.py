"""What a build leaves in its staging folder so that a killed build resumes: the progress record, the
append-only scratch files the encoders fill, and the key that says whether staged work still applies."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.format import write_json_atomic
from index.manifest import FORMAT_VERSION
from retrieval.config import BuildConfig
from retrieval.corpus.readers import corpus_identity

PROGRESS_NAME = "progress.json"


@dataclass
class BuildProgress:
    """How far a build got, persisted in its staging folder after every committed step so a rerun can resume."""

    phase: str = "reading"  # reading -> encoding -> complete
    documents: int = 0
    encoded: int = 0
    partial: dict[str, Any] = field(default_factory=dict)  # a long document part-encoded: row, kind (component), chunks
    scratch_bytes: dict[str, int] = field(default_factory=dict)  # committed size of each scratch file
    long_documents: dict[str, dict[str, int]] = field(default_factory=dict)  # per index: chunked, truncated, chunks
    encode_seconds: float = 0.0
    resumed_from: int = 0
    duplicates: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> BuildProgress:
        """The progress recorded in ``folder``; a fresh record where there is none or it is unreadable."""
        try:
            return cls(**json.loads((folder / PROGRESS_NAME).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, folder: Path) -> None:
        """Commit this record atomically."""
        write_json_atomic(folder / PROGRESS_NAME, dataclasses.asdict(self))


def resume_key(corpus: Path | str, config: BuildConfig, encoders: dict[str, Any], hf_dataset: bool) -> str:
    """A digest of everything the staged work depends on: the corpus files as they are now, the settings, the models."""
    identity = {
        "corpus": corpus_identity(corpus, hf_dataset=hf_dataset),
        "config": dataclasses.asdict(config),
        "models": {name: e.describe() for name, e in encoders.items() if e is not None},
        "format": FORMAT_VERSION,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def reopened_scratch(path: Path, committed_bytes: int) -> Any:
    """An append handle on a scratch file, cut back to the bytes the last recorded step committed."""
    handle = open(path, "r+b" if path.exists() else "w+b")
    handle.truncate(committed_bytes)
    handle.seek(committed_bytes)
    return handle
