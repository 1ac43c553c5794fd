"""The demo (build, search, serve) and the Streamlit UI server."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from app.commands.console import friendly_errors, out, warning_line
from app.commands.indexing import print_build_summary
from app.commands.searching import print_results


@friendly_errors
def demo(
    model: str = typer.Option("minilm", help="Model for the demo index (the offline minilm by default)."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rebuild the demo index even if it exists."),
    serve_ui: bool = typer.Option(True, "--serve/--no-serve", help="Serve the Streamlit UI after the example searches."),
    port: int = typer.Option(8501, help="Port of the UI."),
) -> None:
    """Index the Python standard library's documentation (built once, then reused), search it, serve the UI."""
    from app.demo import EXAMPLE_QUERIES, ensure_demo_index, published_results
    from retrieval.searcher import Searcher

    index_dir, summary = ensure_demo_index(model=model, rebuild=rebuild)
    if summary is not None:
        print_build_summary(summary)
    else:
        out.print(f"Using the demo index at {index_dir} (pass --rebuild to build it again).")
    searcher = Searcher.load(index_dir)
    for query in EXAMPLE_QUERIES:
        print_results(searcher.search(query, k=5))
    out.print(f"Search it yourself: modernsearch search {index_dir} \"your question\"")
    if serve_ui:
        from app.serve import serve

        serve([index_dir], port=port, results=published_results())


@friendly_errors
def app_command(
    index: list[Path] = typer.Option([], "--index", help="Index folder to serve (repeat for several). Default: the demo index."),
    port: int = typer.Option(8501, help="Port to listen on (localhost)."),
    results: Optional[Path] = typer.Option(None, help="Folder of evaluation reports for the Evaluation page (default: $MODERNSEARCH_HOME/results; the demo shows the results published with modernsearch)."),
) -> None:
    """Start the Streamlit search UI on localhost."""
    from app.serve import serve
    from index.format import has_manifest

    for folder in index:
        if not has_manifest(folder):
            warning_line(f"{folder} holds no index; the UI will explain how to build one.")
    serve(list(index), port=port, results=results)
