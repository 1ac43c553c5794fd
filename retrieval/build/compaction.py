"""Compaction: rewrite an index to reclaim space, and retrain its centroids when updates have drifted away from them.

Updates already drop deleted vectors eagerly; what they leave behind is free pages in the SQLite
document store, and centroids (multi-vector k-means, dense IVF cells) trained on the data of the
first build. Drift is a ratio to the figure recorded right after training, so 1.0 means "as well
fitted as when trained":

- multi-vector: mean squared norm of the stored token residuals (token minus its centroid, on a
  seeded sample of 65,536 tokens). Tokens unlike the training data sit far from every centroid.
- dense IVF: FAISS's imbalance factor of the cells. Vectors unlike the training data pile into
  the few cells nearest to them.

Above the threshold (default 1.2: 20% worse than after training) compaction re-encodes the stored
documents with the recorded models and settings and trains afresh, exactly as a new build would.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from index.component import component_type
from index.docstore import DocumentStore
from index.format import DOCUMENTS_NAME, describe_files, read_manifest, staged_folder, write_manifest
from index.manifest import Manifest
from index.sharding import ShardedStore
from retrieval.build.builder import build_index_locked
from retrieval.build.committed import committed_manifest, copy_payload, copy_shards, locked_index, recorded_config
from retrieval.components import given_encoders, stored_encoders
from retrieval.encode.dense import DenseEncoder
from retrieval.encode.multivector import MultiVectorEncoder

DRIFT_THRESHOLD = 1.2
Retrain = Literal["auto", "always", "never"]


@dataclass
class CompactSummary:
    """What compaction found and did."""

    index_dir: str
    documents: int
    bytes_before: int
    bytes_after: int
    drift: dict[str, float]
    threshold: float
    retrained: bool
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for ``--json`` and the manifest's update history."""
        return dataclasses.asdict(self)


def measure_drift(index_dir: Path | str, manifest: Manifest | None = None) -> dict[str, float]:
    """Per component with trained structures, its drift figure now over the one recorded right after training (see
    the module docstring); for a sharded index, the largest of its shards' (they share the training)."""
    index_dir = Path(index_dir)
    manifest = manifest or committed_manifest(index_dir)
    if manifest.shards:
        per_shard = [measure_drift(index_dir / name, read_manifest(index_dir / name)) for name in manifest.shards]
        return {name: max(d[name] for d in per_shard) for name in per_shard[0]}
    drift: dict[str, float] = {}
    for name, section in manifest.components.items():
        if getattr(section, "trained", None):
            value = component_type(name).load(index_dir, section).drift(section)
            if value is not None:
                drift[name] = value
    return drift


def compact_index(
    index_dir: Path | str,
    *,
    retrain: Retrain = "auto",
    threshold: float = DRIFT_THRESHOLD,
    encoder: DenseEncoder | None = None,
    multivector_encoder: MultiVectorEncoder | None = None,
    encoders: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> CompactSummary:
    """Rewrite the index as a new version: vacuumed document store, and retrained centroids when
    ``retrain`` is ``always``, or ``auto`` and the drift of any trained index exceeds ``threshold``."""
    if retrain not in ("auto", "always", "never"):
        raise ValueError(f"retrain must be auto, always or never, got {retrain!r}")
    started = time.perf_counter()
    with locked_index(index_dir) as (index_dir, manifest):
        before = _payload_bytes(index_dir, manifest)
        drift = measure_drift(index_dir, manifest)
        retrained = retrain == "always" or (retrain == "auto" and any(value > threshold for value in drift.values()))
        history = list(manifest.updates)
        entry = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "compacted": True,
            "drift": drift,
            "threshold": threshold,
            "retrained": retrained,
        }
        if retrained:
            given = given_encoders(encoders, encoder=encoder, multivector_encoder=multivector_encoder)
            _rebuild_from_store(index_dir, dataclasses.replace(manifest, updates=history + [entry]), given, progress)
        else:
            _vacuum(index_dir, manifest, history + [entry])
        after_manifest = committed_manifest(index_dir)
    return CompactSummary(
        index_dir=str(index_dir),
        documents=after_manifest.documents.count,
        bytes_before=before,
        bytes_after=_payload_bytes(index_dir, after_manifest),
        drift=drift,
        threshold=threshold,
        retrained=retrained,
        seconds=round(time.perf_counter() - started, 3),
    )


def _payload_bytes(index_dir: Path, manifest: Manifest) -> int:
    """The size of an index's files (a sharded index's: its shards')."""
    return (
        sum(read_manifest(index_dir / name).payload_bytes for name in manifest.shards)
        if manifest.shards
        else manifest.payload_bytes
    )


def _vacuum(index_dir: Path, manifest: Manifest, history: list[dict[str, Any]]) -> None:
    """A new version with the same vectors and VACUUMed document stores (free pages returned)."""
    with staged_folder(index_dir) as staging:
        if manifest.shards:
            copy_shards(index_dir, staging, manifest)
            for name in manifest.shards:
                shard = read_manifest(staging / name)
                _vacuum_store(staging / name / DOCUMENTS_NAME)
                write_manifest(
                    staging / name, dataclasses.replace(shard, files=describe_files(staging / name, list(shard.files)))
                )
        else:
            copy_payload(index_dir, staging, manifest)
            _vacuum_store(staging / DOCUMENTS_NAME)
        write_manifest(
            staging, dataclasses.replace(manifest, files=describe_files(staging, list(manifest.files)), updates=history)
        )


def _vacuum_store(path: Path) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.execute("VACUUM")
    finally:
        connection.close()


def _rebuild_from_store(index_dir: Path, manifest: Manifest, given: Mapping[str, Any], progress: bool) -> None:
    """Re-encode the stored documents with the recorded models and settings into a new version (fresh training)."""
    encoders = stored_encoders(manifest, given)
    if manifest.shards:  # every shard's documents, rebuilt into as many shards with one fresh training
        store: Any = ShardedStore([DocumentStore.open(index_dir / name / DOCUMENTS_NAME) for name in manifest.shards])
    else:
        store = DocumentStore.open(index_dir / DOCUMENTS_NAME)
    try:
        build_index_locked(
            store.iter_documents(),
            index_dir,
            recorded_config(manifest),
            encoders=encoders,
            progress=progress,
            rebuild_of=manifest,
            metadata_types=store.metadata_types(),
        )
    finally:
        store.close()
