"""Terminal output shared by the commands: the two consoles, one-line errors, JSON reports."""

from __future__ import annotations

import json
import os
import sys
import warnings
from functools import wraps
from pathlib import Path
from typing import Any, Callable

import typer
from rich.console import Console
from rich.panel import Panel

# Piped into a log or file, rich would squeeze tables into 80 columns and elide every number; give them room.
out = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160)
err = Console(stderr=True)


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors a user can cause into one clear line on stderr and exit code 1."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from eval.beir import DatasetError
        from index.errors import IndexFormatError
        from retrieval.corpus.readers import CorpusError
        from retrieval.models import FallbackWarning, ModelUnavailableError

        def show_warning(message, category, *rest, **kw):  # noqa: ANN001 - warnings API
            if issubclass(category, FallbackWarning):
                err.print(Panel(str(message), title="Using the offline model", border_style="yellow"))
            else:
                err.print(f"[yellow]Warning:[/] {message}")

        warnings.showwarning = show_warning
        try:
            return command(*args, **kwargs)
        except (CorpusError, IndexFormatError, ModelUnavailableError, DatasetError, ValueError, FileNotFoundError) as error:
            err.print(f"[bold red]Error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("[yellow]Interrupted.[/] Any earlier index is unchanged.")
            raise typer.Exit(130) from None

    return wrapper


def snippet(text: str, width: int = 100) -> str:
    """The text on one line, cut to ``width`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def write_report(target: Path, report: dict[str, Any]) -> None:
    """Write a benchmark's JSON results (creating the folder)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
