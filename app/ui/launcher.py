"""Run the Streamlit UI, pointed at the given index folders.

The command's process becomes Streamlit (``exec``): a signal sent to ``modernsearch app`` reaches the
server itself, so stopping it always frees the port and leaves no orphan behind.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

from app.ui.settings import INDEXES_ENV, RESULTS_ENV

APP_SCRIPT = Path(__file__).parent / "streamlit_app.py"


def streamlit_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """The `streamlit run` command line for the UI: headless, no telemetry, no file watcher."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_SCRIPT),
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "minimal",
        "--theme.base",
        "light",
        "--client.showErrorDetails",
        "none",  # no stack trace or source path ever reaches the browser
    ]


def ui_environment(indexes: list[Path], results: Path | None) -> dict[str, str]:
    """Environment telling the UI which indexes and results folder to serve."""
    env = dict(os.environ)
    env[INDEXES_ENV] = os.pathsep.join(str(Path(p).absolute()) for p in indexes)
    if results is not None:
        env[RESULTS_ENV] = str(Path(results).absolute())
    return env


def serve(indexes: list[Path], port: int = 8501, results: Path | None = None, host: str = "127.0.0.1") -> NoReturn:
    """Replace this process by the Streamlit server; it runs until stopped (Ctrl-C, SIGTERM)."""
    print(
        f"modernsearch UI: http://{'localhost' if host in ('127.0.0.1', 'localhost') else host}:{port}  (Ctrl-C to "
        "stop)",
        flush=True,
    )
    sys.stderr.flush()
    command = streamlit_command(port, host)
    os.execve(command[0], command, ui_environment(indexes, results))
