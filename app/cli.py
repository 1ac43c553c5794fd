"""The ``modernsearch`` command line: each command parses its flags and calls one library function.

The commands live in ``app/commands/``, one module per kind of work; this module assembles them.
"""

from __future__ import annotations

import logging
import signal
import sys

import typer

from app.commands import benchmarks, evaluation, indexing, searching, serving, tuning
from app.commands.console import configure_logging

app = typer.Typer(
    name="modernsearch",
    help="Build, search and evaluate long-context dense retrieval indexes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for command in (
    indexing.build,
    searching.search,
    indexing.info,
    indexing.add,
    indexing.delete,
    indexing.compact,
    indexing.verify,
    indexing.shard,
):
    app.command()(command)
app.add_typer(evaluation.eval_app, name="eval")
app.command("tune")(tuning.tune)
app.command()(serving.demo)
app.command("app")(serving.app_command)
app.command("serve")(serving.serve_command)
app.add_typer(benchmarks.bench_app, name="bench")


@app.callback()
def configure(
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Also log details (debug messages) of what the library does."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Log only warnings and errors."),
) -> None:
    """Build, search and evaluate long-context dense retrieval indexes."""
    configure_logging(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


def main() -> None:
    """Entry point of the ``modernsearch`` script."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    app()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """``kill`` ends a command like an error does: cleanup runs (lock file, staging folders), then exit 143."""
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
