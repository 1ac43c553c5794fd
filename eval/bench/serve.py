"""HTTP service benchmark: a real `modernsearch serve` process on a loopback port, driven by a bounded asyncio load
generator at several concurrency levels, against the in-process :class:`Searcher` on the same queries.

Each level sends a fixed number of requests (one query each) from ``concurrency`` clients, so a run always ends. The
in-process baseline is the same queries through :class:`Searcher`: one at a time (latency), and in batches as large
as the level's number of clients, which is all the server can join (``vs_batch``), and of 32, the best batch size
(``vs_best_batch``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LEVELS = (1, 8, 32)
BASELINE_PASSES = 5
BEST_BATCH = 32  # the in-process batch size with the highest throughput measured on this machine


def read_queries(source: Path, limit: int) -> list[str]:
    """Query texts from a BEIR folder (its queries.jsonl) or a file of one query per line."""
    from eval.beir import read_queries_file
    from retrieval.corpus.readers import read_lines

    source = Path(source)
    if source.is_dir():
        return list(read_queries_file(source / "queries.jsonl").values())[:limit]
    return [line.strip() for line in read_lines(source) if line.strip()][:limit]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * (len(ordered) - 1) + 0.5))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(index_dir: Path, port: int, log: Path) -> subprocess.Popen:
    import httpx2 as httpx

    with open(log, "w") as handle:
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "--quiet", "serve", str(index_dir), "--port", str(port)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=120).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.5)
    server.terminate()
    raise RuntimeError("the server did not become ready within 300 s")


async def _drive(url: str, name: str, queries: list[str], mode: str, concurrency: int, requests: int) -> dict[str, Any]:
    """``requests`` searches from ``concurrency`` clients; latency per request, throughput over the level.

    The clients use aiohttp: the load generator shares the machine's cores with the server, and aiohttp spends
    about a third of the CPU per request that httpx does, leaving more of them to the server under test.
    """
    import aiohttp

    latencies: list[float] = []
    errors = 0
    sent = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors, sent
        while sent < requests:
            query = queries[sent % len(queries)]
            sent += 1
            started = time.perf_counter()
            try:
                async with session.post(
                    f"{url}/indexes/{name}/search", json={"query": query, "k": 10, "mode": mode}
                ) as response:
                    await response.read()
                    ok = response.status == 200
            except (TimeoutError, aiohttp.ClientError):
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            errors += not ok

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "qps": round(len(latencies) / elapsed, 2),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(_percentile(latencies, 0.95), 2),
        "p99_ms": round(_percentile(latencies, 0.99), 2),
        "errors": errors,
        "requests": len(latencies),
    }


def _in_process(
    searcher: Any, queries: list[str], mode: str, batch_sizes: Sequence[int], passes: int = BASELINE_PASSES
) -> dict[str, Any]:
    """The same queries through ``searcher``: p50 latency one at a time, and throughput in batches of each size
    (1 is one at a time), each the median of ``passes`` passes, as one pass over a few dozen queries lasts a
    fraction of a second."""
    searcher.search(queries[0], k=10, mode=mode)  # models load before the clock starts
    latencies = []
    for query in queries:
        started = time.perf_counter()
        searcher.search(query, k=10, mode=mode)
        latencies.append((time.perf_counter() - started) * 1000)
    throughput = {}
    for size in sorted(set(batch_sizes) | {1, BEST_BATCH}):
        rates = []
        for _ in range(passes):
            started = time.perf_counter()
            for start in range(0, len(queries), size):
                searcher.search_batch(queries[start : start + size], k=10, mode=mode)
            rates.append(len(queries) / (time.perf_counter() - started))
        throughput[size] = round(statistics.median(rates), 2)
    return {"p50_ms": round(statistics.median(latencies), 2), "qps": throughput}


def run_benchmark(
    index_dir: Path,
    queries: list[str],
    *,
    levels: tuple[int, ...] = LEVELS,
    modes: tuple[str, ...] | None = None,
    requests: int = 600,
) -> dict[str, Any]:
    """Every mode the index has (or those of ``modes`` it has) at every concurrency level, and the in-process
    baseline; a JSON-ready report.

    Each mode's baseline is measured just before its levels, with the server started and idle, so that both sides
    of a comparison see the machine in the same state (its speed drifts by tens of percent over minutes).
    """
    from retrieval.search.searcher import Searcher

    index_dir = Path(index_dir)
    name = index_dir.resolve().name
    rows = []
    searcher = Searcher.load(index_dir)
    modes = tuple(m for m in (modes or searcher.modes) if m in searcher.modes)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as scratch:
        port = _free_port()
        server = _start_server(index_dir, port, Path(scratch) / "server.log")
        try:
            url = f"http://127.0.0.1:{port}"
            for mode in modes:
                baseline = _in_process(searcher, queries, mode, levels)
                asyncio.run(_drive(url, name, queries[:16], mode, 4, 32))  # warm-up
                for level in levels:
                    measured = asyncio.run(_drive(url, name, queries, mode, level, requests))
                    same_batches = baseline["qps"][level]
                    rows.append(
                        {
                            "mode": mode,
                            "concurrency": level,
                            **measured,
                            "in_process_p50_ms": baseline["p50_ms"],
                            "in_process_qps": baseline["qps"][1],
                            "in_process_batch_qps": same_batches,
                            "vs_batch": round(measured["qps"] / same_batches, 3),
                            "in_process_best_batch_qps": baseline["qps"][BEST_BATCH],
                            "vs_best_batch": round(measured["qps"] / baseline["qps"][BEST_BATCH], 3),
                        }
                    )
                    logger.info(
                        "%s at concurrency %d: %.1f QPS, p50 %.1f ms", mode, level, measured["qps"], measured["p50_ms"]
                    )
        finally:
            server.terminate()
            server.wait(timeout=60)
            searcher.close()
    return {
        "index": str(index_dir),
        "queries": len(queries),
        "requests_per_level": requests,
        "baseline_passes": BASELINE_PASSES,
        "results": rows,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
