"""`modernsearch bench cold-start`: wall time and peak memory of a whole `modernsearch search` process, with the
light query encoder (the build's checked ONNX export) against loading the model through sentence-transformers."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from index.format import read_manifest
from retrieval.config import home_dir
from retrieval.encode.dense import load_manifest_encoder
from retrieval.encode.query_runtime import LightQueryEncoder, prepare_light_encoder
from retrieval.registry import DENSE

VARIANTS = ("full model", "light encoder")


def run_cold_start_benchmark(
    index_dir: Path | str, query: str = "parse command line arguments", runs: int = 5
) -> dict[str, Any]:
    """Time ``runs`` searches per variant, alternating them so both see the same machine load (one warm-up each)."""
    index_dir = Path(index_dir)
    model = read_manifest(index_dir).components[DENSE].model
    if LightQueryEncoder.open(model) is None and not prepare_light_encoder(load_manifest_encoder(model)):
        raise ValueError(
            f"The ONNX export of {model['name']} does not match the model within tolerance; nothing to compare."
        )
    with tempfile.TemporaryDirectory(prefix="modernsearch-cold-") as empty_home:
        homes = {"full model": empty_home, "light encoder": str(home_dir())}  # an empty home has no export to use
        samples: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
        for attempt in range(runs + 1):
            for variant in VARIANTS:
                seconds, rss = _timed_search(index_dir, query, homes[variant])
                if attempt:
                    samples[variant].append((seconds, rss))
    results = [
        {
            "variant": variant,
            "median_seconds": round(statistics.median(s for s, _ in runs_), 3),
            "min_seconds": round(min(s for s, _ in runs_), 3),
            "max_seconds": round(max(s for s, _ in runs_), 3),
            "peak_rss_mib": round(max(r for _, r in runs_), 1),
            "seconds": [round(s, 3) for s, _ in runs_],
        }
        for variant, runs_ in samples.items()
    ]
    return {
        "index": str(index_dir),
        "model": model["name"],
        "query": query,
        "runs": runs,
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}",
        "results": results,
        "speedup": round(results[0]["median_seconds"] / results[1]["median_seconds"], 2),
    }


# The command as the `modernsearch` script runs it, reporting its own peak RSS (VmHWM) on the way out: the
# rusage of a child includes the memory of the parent it was forked from (see eval/bench/process_memory.py).
_PROBE = """
import sys
from eval.bench.process_memory import peak_rss_mib
from retrieval.registry import DENSE
target = sys.argv.pop(1)
sys.argv[0] = "modernsearch"
try:
    from app.cli import main
    main()
finally:
    with open(target, "w") as handle:
        handle.write(str(peak_rss_mib()))
"""


def _timed_search(index_dir: Path, query: str, home: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one `modernsearch search` process."""
    env = {**os.environ, "MODERNSEARCH_HOME": home, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as scratch:
        rss_file, errors_file = Path(scratch) / "rss", Path(scratch) / "stderr"
        with open(errors_file, "wb") as errors:  # a file, not a pipe: a chatty process can never block on it
            started = time.perf_counter()
            returncode = subprocess.call(
                [sys.executable, "-c", _PROBE, str(rss_file), "search", str(index_dir), query, "--json"],
                stdout=subprocess.DEVNULL,
                stderr=errors,
                env=env,
            )
            seconds = time.perf_counter() - started
        if returncode:
            raise RuntimeError(f"search failed: {errors_file.read_text(errors='replace')}")
        return seconds, float(rss_file.read_text())
