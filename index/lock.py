"""One writer per index folder: an advisory lock file beside the folder, held for the whole write.

The lock file exists only while a writer holds it: the holder removes it before releasing the lock,
and a process that locked a file which was removed meanwhile starts again on the new one, so two
writers can never hold locks on two different files for one folder.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from index.errors import IndexFormatError
from index.ownership import resolve_index_path


class IndexLockedError(IndexFormatError):
    """Another process is writing to this index."""


def lock_path(target: Path) -> Path:
    """The lock file of an index folder (a sibling, so it survives the folder being swapped)."""
    target = resolve_index_path(target)
    return target.with_name(f".{target.name}.lock")


@contextmanager
def writer_lock(target: Path) -> Iterator[None]:
    """Hold the index's writer lock, or fail at once naming the process that holds it.

    The lock is ``flock``-based, so it is released by the kernel when its holder dies
    (a SIGKILLed build never leaves a held lock); a holder that ends normally, in success
    or failure, also removes the file.
    """
    path = lock_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = _acquire(path, target)
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        path.unlink(missing_ok=True)  # while still holding it: nobody can lock this file afterwards
        handle.close()  # closing releases the flock


def _acquire(path: Path, target: Path) -> IO[str]:
    """An open, exclusively locked handle on the lock file that is at ``path`` now."""
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise IndexLockedError(
                f"{target} is being written by process {holder} (lock {path}). Wait for it to finish, "
                "or stop it; a second writer is refused so the two cannot mix their changes."
            ) from None
        except BaseException:
            handle.close()
            raise
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current is not None and current.st_ino == os.fstat(handle.fileno()).st_ino:
            return handle
        handle.close()  # the previous holder removed this file after we opened it: lock the new one


def writer_active(target: Path) -> bool:
    """Whether some process holds the writer lock right now (never creates the lock file)."""
    try:
        fd = os.open(lock_path(target), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases the probe's shared lock
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
