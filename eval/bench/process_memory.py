"""Peak resident memory of the current process, as the benchmarks report it."""

from __future__ import annotations

import re
import resource
from pathlib import Path


def peak_rss_mib() -> float:
    """This process's peak RSS in MiB (Linux VmHWM), not inherited from the process that started it.

    getrusage's ru_maxrss carries the parent's peak over fork and exec, so a benchmark run in a fresh
    process would report its parent's memory whenever that was larger.
    """
    status = Path("/proc/self/status")
    if status.exists():
        found = re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), re.MULTILINE)
        if found:
            return int(found.group(1)) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: the best the OS offers
