"""The on-disk index format: one folder, a JSON manifest, payload files with checksums.

An index folder looks like::

    DIR/
      manifest.json       format version, one typed section per component, counts, checksums (index/manifest.py)
      documents.sqlite    documents (id, title, text, metadata) keyed by integer row id
      ...                 each component's files (index/components/), keyed by the same row ids

The manifest is plain JSON so any tool can read it without this code.
Folders are written next to their final place and renamed into it, so a reader
never sees a half-written index and a failed build never damages an older one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from index.component import component_type
from index.errors import ChecksumMismatchError, IndexFormatError, IndexNotFoundError, NotAnIndexError
from index.manifest import FileEntry, Manifest
from index.ownership import MANIFEST_NAME, UnsafeTargetError, index_manifest, permissions_for, resolve_index_path

DOCUMENTS_NAME = "documents.sqlite"
OWNER_NAME = ".owner-pid"
RESUME_KEY_NAME = ".resume-key"

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_files(folder: Path, names: list[str]) -> dict[str, FileEntry]:
    """Size and checksum of each payload file, as stored in the manifest."""
    return {name: FileEntry((folder / name).stat().st_size, file_sha256(folder / name)) for name in names}


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to a temporary sibling, fsync it, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, permissions_for("file"))  # mkstemp makes it private; published files follow the umask
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(folder: Path) -> Manifest:
    """Read and check the manifest of an index folder (a version-2 manifest is returned upgraded)."""
    folder = Path(folder)
    if not folder.exists():
        raise IndexNotFoundError(f"No index at {folder}.", folder)
    if not folder.is_dir():
        raise IndexNotFoundError(f"{folder} is a file, not an index folder.")
    path = folder / MANIFEST_NAME
    if not path.exists():
        raise NotAnIndexError(
            f"{folder} has no {MANIFEST_NAME}: it is not a modernsearch index, or its build did not finish.", folder
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise IndexFormatError(f"{path} is not valid JSON ({err}); the index is corrupt.") from err
    return Manifest.parse(data, path)


def has_manifest(folder: Path | str) -> bool:
    """Whether ``folder`` holds a committed index (its manifest), without reading it."""
    return (Path(folder) / MANIFEST_NAME).is_file()


def version_stamp(folder: Path | str) -> tuple[int, int] | None:
    """Identity of the committed version (``None`` without one): every commit writes a new folder, so a new manifest
    inode and time; readers compare stamps to notice a commit."""
    try:
        stat = (Path(folder) / MANIFEST_NAME).stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write ``manifest`` (in the current format) atomically into ``folder``."""
    write_json_atomic(Path(folder) / MANIFEST_NAME, manifest.to_json())


def verify_files(folder: Path, manifest: Manifest) -> None:
    """Check that every payload file exists with the size and checksum the manifest records."""
    for name, expected in manifest.files.items():
        path = Path(folder) / name
        if not path.exists():
            raise IndexFormatError(f"{path} is missing; the index is incomplete. Rebuild it.")
        size = path.stat().st_size
        if size != expected.bytes:
            raise ChecksumMismatchError(
                f"{path} has {size} bytes but the manifest records {expected.bytes}: "
                "the file was truncated or modified. Rebuild the index."
            )
        if file_sha256(path) != expected.sha256:
            raise ChecksumMismatchError(
                f"{path} does not match its checksum in {MANIFEST_NAME}: the file is corrupt. Rebuild the index."
            )


@contextmanager
def staged_folder(target: Path, *, resume_key: str | None = None) -> Iterator[Path]:
    """Yield a sibling folder to write into; on success swap it into ``target``.

    On any exception (or a crash) whatever was at ``target`` before is left as it was.
    Without ``resume_key`` the staging folder is fresh and discarded on failure. With one,
    it is ``partial_folder(target)`` and survives failures and kills: the next call with the
    same key gets it back as it was left (to resume), a different key starts it afresh.
    """
    target = resolve_index_path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted_swap(target)
    remove_abandoned_staging(target)
    if resume_key is None:
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.building-"))
    else:
        staging = _partial_for(target, resume_key)
    try:
        if resume_key is None:
            (staging / OWNER_NAME).write_text(str(os.getpid()))
        yield staging
        (staging / RESUME_KEY_NAME).unlink(missing_ok=True)
        _swap_into_place(staging, target)
    except BaseException:
        if resume_key is None:
            shutil.rmtree(staging, ignore_errors=True)
        raise


def partial_folder(target: Path) -> Path:
    """Where a resumable build of ``target`` keeps its work until it completes."""
    target = resolve_index_path(target)
    return target.with_name(f".{target.name}.partial")


def discard_partial(target: Path) -> None:
    """Delete an interrupted build's partial folder, if there is one and this project wrote it."""
    staging = partial_folder(target)
    if not staging.exists():
        return
    if not (staging / RESUME_KEY_NAME).exists() and any(staging.iterdir()):
        raise UnsafeTargetError(
            staging, "it was not written by a modernsearch build (no resume key), so it is left alone"
        )
    shutil.rmtree(staging)


def _partial_for(target: Path, resume_key: str) -> Path:
    """The partial folder for ``resume_key``: kept if it was started with the same key, else emptied."""
    staging = partial_folder(target)
    key_file = staging / RESUME_KEY_NAME
    if staging.exists() and not (key_file.exists() and key_file.read_text() == resume_key):
        discard_partial(target)
    staging.mkdir(exist_ok=True)
    write_text_atomic(key_file, resume_key)
    return staging


def write_text_atomic(path: Path, text: str) -> None:
    """Write a small text file through a temporary sibling and a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def remove_abandoned_staging(target: Path) -> None:
    """Delete staging folders of builds whose process is gone (killed or crashed); only folders that
    carry this project's owner file are touched, or, without one, a finished index of ours: a writer killed
    while swapping it in had removed its owner file already. Callers hold the target's writer lock, so no live
    writer is between those two steps."""
    for staging in target.parent.glob(f".{target.name}.building-*"):
        try:
            pid = int((staging / OWNER_NAME).read_text())
        except FileNotFoundError:
            if index_manifest(staging) is not None:
                shutil.rmtree(staging, ignore_errors=True)
            continue
        except (OSError, ValueError):
            continue
        if not _process_alive(pid):
            shutil.rmtree(staging, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _swap_into_place(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` with two renames; the old folder is kept until the end."""
    (staging / OWNER_NAME).unlink(missing_ok=True)
    os.chmod(staging, permissions_for("folder"))  # mkdtemp makes it private; the published index follows the umask
    _fsync_dir(staging)
    if target.exists():
        old = target.with_name(f".{target.name}.old-{int(time.time() * 1000)}")
        os.rename(target, old)
        os.rename(staging, target)
        _fsync_dir(target.parent)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, target)
        _fsync_dir(target.parent)


def swap_in_progress(target: Path) -> bool:
    """The folder is missing and an old copy waits beside it: a writer is between its two renames (or died there)."""
    target = resolve_index_path(target)
    return not target.exists() and any(target.parent.glob(f".{target.name}.old-*"))


def recover_interrupted_swap(target: Path) -> None:
    """If a crash happened between the two renames of a swap, put the old index back."""
    target = resolve_index_path(target)
    if target.exists() or not target.parent.exists():
        return
    olds = sorted(target.parent.glob(f".{target.name}.old-*"))
    if olds:
        os.rename(olds[-1], target)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def folder_bytes(folder: Path) -> int:
    """Total size of the files in a folder and its subfolders."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def human_bytes(n: float) -> str:
    """Byte count for people: ``10.2 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def manifest_summary(manifest: Manifest) -> list[tuple[str, str]]:
    """The manifest as ``(label, value)`` rows for people: what ``info`` and the UI's index page show."""
    rows = [
        ("format version", str(manifest.format_version)),
        ("created", manifest.created_at),
        ("mode", manifest.mode),
    ]
    for name, section in manifest.components.items():
        rows += component_type(name).summary(section)
    rows.append(("documents", f"{manifest.documents.count:,}"))
    tuned = manifest.tuned_search
    if tuned is not None:
        settings = ", ".join(f"{k}={v}" for k, v in tuned.settings.items())
        rows.append(
            (
                "tuned search settings",
                f"{settings} (on {tuned.dataset}: {tuned.metric} {tuned.cv_metric:.4f} "
                f"cross-validated over {tuned.queries} queries; {tuned.tuned_at})",
            )
        )
    rows += [
        (f"shard {name}", f"{shard.documents:,} documents (rows {shard.first_row} to {shard.last_row})")
        for name, shard in manifest.shards.items()
    ]
    rows += [(f"file {name}", human_bytes(entry.bytes)) for name, entry in manifest.files.items()]
    built_bytes = manifest.build.summary.get("index_bytes")  # a sharded index's files are its shards' manifests
    rows.append(("total size", human_bytes(built_bytes if manifest.shards and built_bytes else manifest.payload_bytes)))
    return rows
