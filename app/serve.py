"""Start the Streamlit UI as a child process, pointed at the given index folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.ui.settings import INDEXES_ENV, RESULTS_ENV

APP_SCRIPT = Path(__file__).parent / "ui" / "streamlit_app.py"


def streamlit_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """The `streamlit run` command line for the UI: headless, no telemetry, no file watcher."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT),
        "--server.port", str(port), "--server.address", host, "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--client.toolbarMode", "minimal", "--theme.base", "light",
    ]


def ui_environment(indexes: list[Path], results: Path | None) -> dict[str, str]:
    """Environment telling the UI which indexes and results folder to serve."""
    env = dict(os.environ)
    env[INDEXES_ENV] = os.pathsep.join(str(Path(p).absolute()) for p in indexes)
    if results is not None:
        env[RESULTS_ENV] = str(Path(results).absolute())
    return env


def serve(indexes: list[Path], port: int = 8501, results: Path | None = None, host: str = "127.0.0.1") -> int:
    """Run the UI until interrupted; returns Streamlit's exit code."""
    print(f"modernsearch UI: http://{'localhost' if host in ('127.0.0.1', 'localhost') else host}:{port}  (Ctrl-C to stop)", flush=True)
    try:
        return subprocess.call(streamlit_command(port, host), env=ui_environment(indexes, results))
    except KeyboardInterrupt:
        return 0
