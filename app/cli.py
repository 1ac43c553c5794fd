"""The ``modernsearch`` command line: each command parses its flags and calls one library function.

The commands live in ``app/commands/``, one module per kind of work; this module assembles them.
"""

from __future__ import annotations

import logging
import signal
import sys

import typer

from app.commands import benchmarks, evaluation, indexing, searching, serving, tuning

OWN_PACKAGES = ("app", "eval", "index", "retrieval")
CLI_HANDLER = "modernsearch-cli"

app = typer.Typer(
    name="modernsearch",
    help="Build, search and evaluate long-context dense retrieval indexes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for command in (indexing.build, searching.search, indexing.info, indexing.add, indexing.delete, indexing.compact, indexing.verify,
                indexing.shard):
    app.command()(command)
app.add_typer(evaluation.eval_app, name="eval")
app.command("tune")(tuning.tune)
app.command()(serving.demo)
app.command("app")(serving.app_command)
app.command("serve")(serving.serve_command)
app.add_typer(benchmarks.bench_app, name="bench")


@app.callback()
def configure(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also log details (debug messages) of what the library does."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Log only warnings and errors."),
) -> None:
    """Build, search and evaluate long-context dense retrieval indexes."""
    configure_logging(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


def configure_logging(level: int) -> None:
    """Library messages (``logging``) go to stderr at ``level``: through rich on a terminal, as plain lines in a pipe
    or log file. Only this project's loggers are configured; other libraries keep their own settings."""
    from rich.logging import RichHandler

    from app.commands.console import err

    if err.is_terminal:
        handler: logging.Handler = RichHandler(console=err, show_time=False, show_path=False, markup=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.set_name(CLI_HANDLER)
    for package in OWN_PACKAGES:
        log = logging.getLogger(package)
        log.setLevel(level)
        log.handlers = [h for h in log.handlers if h.get_name() != CLI_HANDLER] + [handler]
        log.propagate = False  # printed once, here, whatever the root logger does

def main() -> None:
    """Entry point of the ``modernsearch`` script."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    app()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """``kill`` ends a command like an error does: cleanup runs (lock file, staging folders), then exit 143."""
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
