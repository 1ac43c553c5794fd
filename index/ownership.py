"""Where the project may write: an index path is resolved once, and only a new folder or an existing
modernsearch index (recognised by its manifest) is ever replaced.

A build or update swaps a whole folder into place and deletes the previous one, so the folder it
replaces must hold nothing but files this project wrote. Everything else is refused before any lock,
staging folder or model load, with :class:`UnsafeTargetError` saying why. Nothing is written inside another
index's folder either: the shards of a sharded index change only through it (:class:`ShardWriteError`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from index.errors import IndexFormatError

MANIFEST_NAME = "manifest.json"  # the file that makes a folder an index (index.format re-exports it)


class UnsafeTargetError(IndexFormatError):
    """The index path points at something the project did not create; writing there could destroy user files.

    ``path`` is the resolved path, ``reason`` says what it is (a file, the current folder, ...).
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"Refusing to write an index at {path}: {reason}. Choose a new folder for the index.")


class ExistingIndexError(UnsafeTargetError):
    """The target already holds an index, and the caller did not ask to replace it (``path``)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "it holds an index already")


class ShardWriteError(IndexFormatError):
    """A write aimed at one shard of a sharded index: ``shard`` (the folder) and ``index`` (the sharded index)."""

    def __init__(self, shard: Path, index: Path) -> None:
        self.shard, self.index = shard, index
        super().__init__(
            f"{shard} is shard {shard.name} of the sharded index {index}; write to {index} instead, which "
            f"keeps its shards and their checksums consistent."
        )


def resolve_index_path(path: Path | str) -> Path:
    """The real location of an index folder: absolute, ``~`` expanded, symlinks followed.

    Locking, staging and swapping all act on this path, so a symlink keeps pointing at the live index
    and two spellings of one folder share one writer lock.
    """
    return Path(path).expanduser().resolve()


def check_build_target(target: Path, sources: Iterable[Path | str] = ()) -> None:
    """Refuse to build at ``target`` unless it is new, an empty folder, or a modernsearch index of ours.

    ``sources`` are the corpus paths: a folder that is or contains one of them is refused too, so a build
    can never delete the data it reads.
    """
    target = resolve_index_path(target)
    if target == Path.cwd().resolve():
        raise UnsafeTargetError(target, "it is the current folder")
    for source in sources:
        real = Path(source).expanduser().resolve()
        if real == target or target in real.parents:
            raise UnsafeTargetError(target, f"it contains the corpus {real}")
    check_outside_indexes(target)
    if not os.path.lexists(target):
        return
    if not target.is_dir():
        raise UnsafeTargetError(target, "it is a file, not an index folder")
    entries = sorted(os.listdir(target))
    if not entries:
        return
    if MANIFEST_NAME not in entries:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise UnsafeTargetError(
            target,
            f"it is a folder that is not a modernsearch index (no {MANIFEST_NAME}) and holds {len(entries)} entries "
            f"({shown})",
        )
    check_owned_index(target, _manifest_or_refuse(target).get("files", {}))


def check_outside_indexes(target: Path) -> None:
    """Refuse a folder inside another index's folder: a shard of a sharded index (:class:`ShardWriteError`), or any
    other folder there, which would make that index hold files that are not its own."""
    target = resolve_index_path(target)
    for ancestor in target.parents:
        manifest = index_manifest(ancestor)
        if manifest is None:
            continue
        shards = manifest.get("shards")
        if ancestor == target.parent and isinstance(shards, dict) and target.name in shards:
            raise ShardWriteError(target, ancestor)
        raise UnsafeTargetError(target, f"it is inside the index {ancestor}")


def index_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a modernsearch index folder, ``None`` for any other folder."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and "format_version" in manifest else None


def check_owned_index(target: Path, payload: Iterable[str]) -> None:
    """Refuse an index folder that holds entries other than its manifest and the payload files it lists: replacing the
    folder would delete them."""
    listed = {MANIFEST_NAME} | {name.split("/", 1)[0] for name in payload if isinstance(name, str)}
    foreign = sorted(set(os.listdir(target)) - listed)
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise UnsafeTargetError(
            target, f"the index folder also holds files that are not part of the index ({shown}); move them out first"
        )


def _manifest_or_refuse(target: Path) -> dict[str, Any]:
    """The manifest of a folder that looks like an index; a foreign ``manifest.json`` is refused."""
    try:
        manifest = json.loads((target / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UnsafeTargetError(
            target, f"its {MANIFEST_NAME} cannot be read as a modernsearch manifest ({err})"
        ) from err
    if (
        not isinstance(manifest, dict)
        or "format_version" not in manifest
        or not isinstance(manifest.get("files", {}), dict)
    ):
        raise UnsafeTargetError(target, f"its {MANIFEST_NAME} is not a modernsearch manifest")
    return manifest


def permissions_for(kind: str) -> int:
    """The mode a new file (``kind="file"``) or folder gets under the process umask, as ``open``/``mkdir`` would give.

    Temporary files and folders are created private (0600 / 0700); published ones are set to this.
    """
    base = 0o666 if kind == "file" else 0o777
    return base & ~current_umask()


def current_umask() -> int:
    """The process umask, read without changing it where the kernel reports it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no /proc: the only portable way reads it by setting it
    os.umask(mask)
    return mask
