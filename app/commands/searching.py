"""The search command and the results table (also printed by the demo)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from app.commands.console import friendly_errors, out, snippet, warning_line
from app.commands.settings_options import settings_options
from retrieval.config import SearchConfig
from retrieval.registry import search_modes

FILTER_HELP = (
    'Only documents whose metadata match this JSON filter, e.g. \'{"year": {"$gte": 2020}, "team": {"$in": '
    '["finance", "legal"]}}\' (operators $eq $ne $gt $gte $lt $lte $in $nin $exists $contains $and $or $not).'
)
WHERE_HELP = "The same filter as text, e.g. \"year >= 2020 and team in ('finance', 'legal') and not draft\"."


def chosen_filter(filter_json: str | None, where: str | None) -> dict[str, Any] | None:
    """The filter document of ``--filter`` (JSON) or ``--where`` (text); at most one of them."""
    from index.where import parse_where

    if filter_json is not None and where is not None:
        raise ValueError("Give --filter (JSON) or --where (text), not both.")
    if where is not None:
        return parse_where(where)
    if filter_json is None:
        return None
    try:
        document = json.loads(filter_json)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"--filter is not valid JSON ({err.msg} at column {err.colno}); for a filter as text use --where."
        ) from None
    if not isinstance(document, dict):
        raise ValueError("--filter takes a JSON object of fields and conditions, e.g. '{\"year\": 2024}'.")
    return document


@friendly_errors
@settings_options(SearchConfig, given_only=True)
def search(
    index: Path = typer.Argument(..., help="Index folder."),
    query: str = typer.Argument(..., help="What to search for."),
    k: int = typer.Option(10, "-k", "--k", help="Number of results."),
    mode: str | None = typer.Option(
        None,
        help=f"Search mode: {', '.join(search_modes())} (default: hybrid if built, else the first the index holds).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
    filter_json: str | None = typer.Option(None, "--filter", help=FILTER_HELP),
    where: str | None = typer.Option(None, "--where", help=WHERE_HELP),
    *,
    settings: dict[str, Any],
) -> None:
    """Search an index and print the top documents (with the settings tuned for it, where options do not say)."""
    from retrieval.search.searcher import Searcher

    searcher = Searcher.load(index)
    result = searcher.search(
        query, k=k, mode=mode, config=searcher.search_config(**settings), filter=chosen_filter(filter_json, where)
    )
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return
    print_results(result)


def print_results(result: Any) -> None:
    """A readable results table: rank, id, score (and each stage's score when several ran), title, snippet."""
    timings = ", ".join(f"{stage} {ms:.0f}" for stage, ms in result.timings_ms.items())
    table = Table(title=f"'{result.query}'  ({result.mode}; ms: {timings})", title_justify="left")
    stages = list(dict.fromkeys(name for hit in result.hits for name in hit.components))  # first stage, fused, reranker
    stages = stages if len(stages) > 1 else []
    table.add_column("#", justify="right")
    table.add_column("id", overflow="fold", max_width=28)
    table.add_column("score", justify="right")
    for stage in stages:
        table.add_column(stage, justify="right", style="dim")
    table.add_column("title", overflow="fold", max_width=32)
    table.add_column("snippet", overflow="fold")
    for hit in result.hits:
        parts = [f"{hit.components[s]:.3f}" if s in hit.components else "-" for s in stages]
        table.add_row(str(hit.rank), hit.id, f"{hit.score:.3f}", *parts, hit.title, snippet(hit.text))
    if not result.hits:
        warning_line("In bm25 mode a query of stopwords only matches nothing; try hybrid or dense.", "No results. ")
    out.print(table)
