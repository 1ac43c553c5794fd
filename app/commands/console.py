"""Terminal output shared by the commands: the two consoles, one-line errors, JSON reports.

Both consoles print every string literally: markup and emoji codes are off, so ids, titles, queries,
paths and error messages from data or users can never change (or break) what is printed. Styling is
applied explicitly with :func:`styled`.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import sys
import warnings
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.text import Text

logger = logging.getLogger(__name__)
_LITERAL = {"markup": False, "emoji": False, "highlight": False}
# Piped into a log or file, rich would squeeze tables into 80 columns and elide every number; give them room.
out = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160, **_LITERAL)
err = Console(stderr=True, **_LITERAL)
OWN_PACKAGES = ("app", "eval", "index", "retrieval")
LOG_HANDLER = "modernsearch-cli"


def styled(label: str, style: str, rest: str = "") -> Text:
    """``label`` in ``style`` followed by ``rest`` as plain text (never parsed as markup)."""
    return Text.assemble((label, style), rest)


def error_line(message: str) -> None:
    """The one line a failed command prints on stderr."""
    err.print(styled("Error: ", "bold red", message), soft_wrap=True)


def warning_line(message: str, label: str = "Warning: ") -> None:
    """A warning on stderr."""
    err.print(styled(label, "yellow", message), soft_wrap=True)


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors a user can cause into one clear line on stderr and exit code 1."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from retrieval.encode.model_specs import FallbackWarning

        def show_warning(message, category, *rest, **kw):  # noqa: ANN001 - warnings API
            if issubclass(category, FallbackWarning):
                err.print(Panel(Text(str(message)), title="Using the offline model", border_style="yellow"))
            else:
                warning_line(str(message))

        warnings.showwarning = show_warning
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            warning_line("Any earlier index is unchanged.", "Interrupted. ")
            raise typer.Exit(130) from None
        except Exception as error:  # noqa: BLE001 - only the errors cli_message knows are caught
            message = cli_message(error)
            if message is None:
                raise
            error_line(message)
            raise typer.Exit(1) from None

    return wrapper


def cli_message(error: BaseException) -> str | None:
    """The one line the CLI prints for an error a user can cause (settings as flags, hints as commands);
    ``None`` for a bug, which keeps its traceback."""
    from eval.beir import DatasetError
    from index.errors import IndexFormatError, IndexNotFoundError, NotAnIndexError, SettingError
    from index.filters import FilterError
    from index.ownership import ExistingIndexError, ShardWriteError
    from retrieval.corpus.readers import CorpusError
    from retrieval.encode.model_specs import ModelUnavailableError

    if isinstance(error, SettingError):
        return f"{cli_spelling(error.setting, None)} {error.requirement}, got {error.value!r}"
    if isinstance(error, CorpusError):
        return error.message(cli_spelling)
    if isinstance(error, IndexNotFoundError) and error.folder is not None:
        return f"{error} Build one with: modernsearch build CORPUS --index {error.folder}"
    if isinstance(error, ExistingIndexError):
        return f"{error} To replace it, pass --replace."
    if isinstance(error, ShardWriteError):
        return (
            f"{error.shard} is shard {error.shard.name} of the sharded index {error.index}; "
            f"run the command on {error.index} instead."
        )
    if isinstance(error, NotAnIndexError):
        return f"{error} Build one into a new folder with: modernsearch build CORPUS --index NEW_FOLDER"
    if isinstance(error, FilterError) and error.position is not None and error.text:
        return f"{error}\n  {error.text}\n  {' ' * error.position}^"
    if isinstance(error, (IndexFormatError, ModelUnavailableError, DatasetError, ValueError)):
        return str(error)
    if isinstance(error, OSError):
        return describe_os_error(error)
    if isinstance(error, sqlite3.OperationalError):
        return f"the document store failed: {error}. No index was changed (writes are atomic)."
    return None


_OS_HINTS = {
    errno.ENOSPC: "free some space or choose another location; any earlier index is unchanged",
    errno.EDQUOT: "free some space or choose another location; any earlier index is unchanged",
    errno.EROFS: "the location is on a read-only file system; choose a writable folder",
    errno.EACCES: "you may not write or read there; choose another folder or fix its permissions",
    errno.EPERM: "you may not write or read there; choose another folder or fix its permissions",
}


def cli_spelling(setting: str, value: str | None) -> str:
    """A setting as the command line spells it: ``--skip-invalid``, ``--split test``."""
    from app.commands.settings_options import flag

    return flag(setting) if value is None else f"{flag(setting)} {value}"


def describe_os_error(error: OSError) -> str:
    """One line for a failed file operation: what failed, on which path, and what to do."""
    what = error.strerror or str(error)
    where = f": {error.filename}" if error.filename else ""
    hint = _OS_HINTS.get(error.errno or 0)
    return f"{what}{where}" + (f" ({hint})." if hint else ".")


def after_commit(report: Callable[..., Any], *args: Any) -> None:
    """Print what a committed change did; a failure to print is logged, never turned into a failed command
    (the change has happened, so a script must see exit code 0)."""
    try:
        report(*args)
    except Exception:  # noqa: BLE001 - the change is committed whatever the terminal does
        logger.warning("The change was committed, but its summary could not be printed.", exc_info=True)


def snippet(text: str, width: int = 100) -> str:
    """The text on one line, cut to ``width`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def write_report(target: Path, report: dict[str, Any]) -> None:
    """Write a benchmark's JSON results (creating the folder)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def configure_logging(level: int) -> None:
    """Library messages (``logging``) go to stderr at ``level``: through rich on a terminal, as plain lines in a pipe
    or log file. Only this project's loggers are configured; other libraries keep their own settings."""
    from rich.logging import RichHandler

    if err.is_terminal:
        handler: logging.Handler = RichHandler(console=err, show_time=False, show_path=False, markup=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.set_name(LOG_HANDLER)
    for package in OWN_PACKAGES:
        log = logging.getLogger(package)
        log.setLevel(level)
        log.handlers = [h for h in log.handlers if h.get_name() != LOG_HANDLER] + [handler]
        log.propagate = False  # printed once, here, whatever the root logger does
