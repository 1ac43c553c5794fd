"""An index's committed version as a writer starts from it: held under the writer lock, checked (never change a
corrupt index), its build settings, and its files copied into the staging folder of the next version."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from index.format import MANIFEST_NAME, read_manifest, verify_files
from index.lock import writer_lock
from index.manifest import Manifest
from index.ownership import check_outside_indexes, check_owned_index, resolve_index_path
from retrieval.config import BuildConfig


@contextmanager
def locked_index(index_dir: Path | str) -> Iterator[tuple[Path, Manifest]]:
    """Hold the writer lock of an existing index: yields its real path and committed manifest.

    The path is resolved once (a symlink locks and updates the folder it points at), and a folder that is
    not an index, or is one shard of a sharded index, fails before any lock file is created beside it.
    """
    index_dir = resolve_index_path(index_dir)
    read_manifest(index_dir)
    check_outside_indexes(index_dir)
    with writer_lock(index_dir):
        yield index_dir, committed_manifest(index_dir)


def committed_manifest(index_dir: Path) -> Manifest:
    """The committed manifest, after checking the files it describes (never update a corrupt index) and that
    the folder holds nothing else (a new version replaces the whole folder)."""
    manifest = read_manifest(index_dir)
    check_owned_index(index_dir, manifest.files)
    verify_files(index_dir, manifest)
    if manifest.shards:
        check_shards(index_dir, manifest)
    return manifest


def recorded_config(manifest: Manifest) -> BuildConfig:
    """The build settings a manifest records (unknown keys from other versions ignored)."""
    known = {f.name for f in dataclasses.fields(BuildConfig)}
    return BuildConfig(**{k: v for k, v in manifest.build.config.items() if k in known})


def copy_payload(source: Path, staging: Path, manifest: Manifest) -> None:
    """Copy every file the manifest lists into a staging folder (the starting point of a new version)."""
    for name in manifest.files:
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, staging / name)


def check_shards(index_dir: Path, manifest: Manifest) -> None:
    """Every shard's files as its manifest records them, and nothing else in its folder (the update replaces it)."""
    for name in manifest.shards:
        shard = read_manifest(index_dir / name)
        check_owned_index(index_dir / name, shard.files)
        verify_files(index_dir / name, shard)


def copy_shards(index_dir: Path, staging: Path, manifest: Manifest) -> None:
    """Copy every shard's files and manifest into the staging folder (the starting point of the new version)."""
    for name in manifest.shards:
        (staging / name).mkdir()
        copy_payload(index_dir / name, staging / name, read_manifest(index_dir / name))
        shutil.copy2(index_dir / name / MANIFEST_NAME, staging / name / MANIFEST_NAME)
