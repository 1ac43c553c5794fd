"""Processes under signals, and huge documents: SIGTERM of the UI server frees its port; a build resumes in the
middle of a two-megabyte document after SIGKILL, documents over the byte limit are refused clearly, and SIGTERM of a
build cleans up and keeps its progress."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import pytest

from index.format import partial_folder, read_manifest
from index.lock import lock_path
from index.verify import verify_index
from retrieval.build.progress import PROGRESS_NAME

from cli_runs import ENV, cli, one_clean_line, write_corpus
from servers import free_port

# ---- the UI server owns its child ------------------------------------------------------------------------


def test_sigterm_of_the_app_frees_its_port(small_index, tmp_path):
    port = free_port()
    env = {**ENV, "MODERNSEARCH_HOME": str(tmp_path / "home")}
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "app", "--index", str(small_index), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 90
        while not _listening(port):
            assert process.poll() is None and time.monotonic() < deadline, "the app did not start"
            time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        while _listening(port) and time.monotonic() - stopped < 10:
            time.sleep(0.2)
        assert not _listening(port), "the port is still served 10 s after SIGTERM"
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# ---- huge documents -----------------------------------------------------------------------------------


def long_text(n_bytes: int) -> str:
    """Prose-like text of ``n_bytes``: a few words, then a 120-letter token the tokenizer maps to one piece."""
    import random

    rng = random.Random(3)
    words = "river mountain city music science history language engine ocean forest".split()
    parts, size = [], 0
    while size < n_bytes:
        part = (
            " ".join(rng.choice(words) for _ in range(3))
            + " "
            + "".join(rng.choice("abcdefghij") for _ in range(120))
            + "\n"
        )
        parts.append(part)
        size += len(part)
    return "".join(parts)


@pytest.mark.slow
def test_a_two_megabyte_document_resumes_mid_document_after_sigkill(tmp_path):
    corpus = write_corpus(
        tmp_path / "long.jsonl",
        [
            {"_id": "big", "title": "Big", "text": long_text(2_000_000)},
            {"_id": "small", "text": "a short river document"},
        ],
    )
    args = ["build", str(corpus), "--model", "minilm", "--batch-size", "4"]
    reference = cli(*args, "--index", str(tmp_path / "reference"))
    assert reference.returncode == 0, reference.stderr
    assert "chunk" in reference.stderr, "progress shows chunks of the long document"

    target = tmp_path / "idx"
    progress_file = partial_folder(target) / PROGRESS_NAME
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args, "--index", str(target)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while True:  # kill once a checkpoint inside the long document is committed
        try:
            partial = json.loads(progress_file.read_text()).get("partial", {})
        except (OSError, ValueError):
            partial = {}
        if partial.get("chunks", 0) >= 8 or process.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = json.loads(progress_file.read_text())
    assert killed_at["encoded"] == 0 and killed_at["partial"]["row"] >= 1, killed_at

    resumed = cli(*args, "--index", str(target))
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming the interrupted build" in resumed.stderr
    checksums = {name: entry.sha256 for name, entry in read_manifest(target).files.items()}
    assert checksums == {name: entry.sha256 for name, entry in read_manifest(tmp_path / "reference").files.items()}
    assert all(check.ok for check in verify_index(target))


@pytest.mark.slow
def test_documents_over_the_byte_limit_are_rejected_clearly(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl", [{"_id": "a", "text": "fine"}, {"_id": "huge", "text": "x" * 5000}])
    line = one_clean_line(
        cli("build", str(corpus), "--index", str(tmp_path / "idx"), "--model", "minilm", "--max-doc-bytes", "4096")
    )
    assert "c.jsonl:2" in line and "5,000 bytes" in line and "--max-doc-bytes" in line


@pytest.mark.slow
def test_sigterm_of_a_build_cleans_up_and_keeps_its_progress(tmp_path):
    corpus = write_corpus(tmp_path / "long.jsonl", [{"_id": "big", "text": long_text(500_000)}])
    target = tmp_path / "idx"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "build",
            str(corpus),
            "--index",
            str(target),
            "--model",
            "minilm",
            "--batch-size",
            "2",
        ],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    progress_file = partial_folder(target) / PROGRESS_NAME
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if json.loads(progress_file.read_text()).get("partial"):
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert not lock_path(target).exists(), "the lock file is removed on the way out"
    assert json.loads(progress_file.read_text())["partial"], "the committed work stays for a resume"
