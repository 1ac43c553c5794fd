"""One writer per index folder: an advisory lock file beside the folder, held for the whole write."""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from index.errors import IndexFormatError


class IndexLockedError(IndexFormatError):
    """Another process is writing to this index."""


def lock_path(target: Path) -> Path:
    """The lock file of an index folder (a sibling, so it survives the folder being swapped)."""
    target = Path(target).absolute()
    return target.with_name(f".{target.name}.lock")


@contextmanager
def writer_lock(target: Path) -> Iterator[None]:
    """Hold the index's writer lock, or fail at once naming the process that holds it.

    The lock is ``flock``-based, so it is released by the kernel when its holder dies
    (a SIGKILLed build never leaves a stale lock).
    """
    path = lock_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise IndexLockedError(
                f"{target} is being written by process {holder} (lock {path}). Wait for it to finish, "
                "or stop it; a second writer is refused so the two cannot mix their changes."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the flock


def writer_active(target: Path) -> bool:
    """Whether some process holds the writer lock right now."""
    path = lock_path(target)
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def wait_while_swapping(target: Path, timeout: float = 10.0) -> None:
    """A reader that finds the folder missing mid-swap waits for the writer's second rename;
    if no writer is alive, the swap was interrupted and the old folder is put back."""
    from index.format import recover_interrupted_swap, swap_in_progress

    deadline = time.monotonic() + timeout
    while swap_in_progress(target) and writer_active(target) and time.monotonic() < deadline:
        time.sleep(0.005)
    if not writer_active(target):
        recover_interrupted_swap(target)
