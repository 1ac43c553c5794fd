"""Search settings tuned for an index, recorded in it: a new committed version whose manifest names them, so every
later search (CLI, Python, UI, service) uses them unless told otherwise, and updates and compactions keep them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.format import describe_files, staged_folder, write_manifest
from index.manifest import TunedSearch
from retrieval.build.committed import copy_payload, copy_shards, locked_index
from retrieval.config import SearchConfig


def apply_tuned_search(
    index_dir: Path | str,
    settings: dict[str, Any],
    *,
    dataset: str,
    metric: str,
    cv_metric: float,
    in_sample_metric: float,
    queries: int,
) -> TunedSearch:
    """Make ``settings`` (SearchConfig fields) the index's default search settings; returns what was recorded."""
    SearchConfig(**settings)  # a setting this version does not know, or a bad value, fails before anything is written
    tuned = TunedSearch(
        settings=dict(settings),
        dataset=dataset,
        metric=metric,
        cv_metric=round(cv_metric, 6),
        in_sample_metric=round(in_sample_metric, 6),
        queries=queries,
        tuned_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    with locked_index(index_dir) as (index_dir, manifest), staged_folder(index_dir) as staging:
        (copy_shards if manifest.shards else copy_payload)(index_dir, staging, manifest)
        entry = {"at": tuned.tuned_at, "tuned_search": tuned.to_json()}
        write_manifest(
            staging,
            dataclasses.replace(
                manifest,
                tuned_search=tuned,
                files=describe_files(staging, list(manifest.files)),
                updates=[*manifest.updates, entry],
            ),
        )
    return tuned
