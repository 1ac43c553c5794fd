"""Helpers for tests of real servers: a free loopback port, and `modernsearch serve` running until a block ends."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

KEY = "test-key-0123456789"  # the API key the served test indexes take writes with


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(indexes: dict[str, Path], log: Path, *extra: str) -> Iterator[str]:
    """`modernsearch serve NAME=FOLDER ...` on a free loopback port, writes enabled with :data:`KEY`; yields its URL
    once
    ``/ready`` answers, and stops the server when the block ends."""
    import httpx2 as httpx

    port = free_port()
    env = {**os.environ, "MS_TEST_KEY": KEY}
    specs = [f"{name}={folder}" for name, folder in indexes.items()]
    with open(log, "w") as handle:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                *specs,
                "--port",
                str(port),
                "--api-key-env",
                "MS_TEST_KEY",
                *extra,
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=60).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server never became ready"
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)
