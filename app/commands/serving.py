"""The demo (build, search, serve) and the Streamlit UI server."""

from __future__ import annotations

from pathlib import Path

import typer

from app.commands.console import friendly_errors, out, warning_line
from app.commands.indexing import print_build_summary
from app.commands.searching import print_results


@friendly_errors
def demo(
    model: str = typer.Option("minilm", help="Model for the demo index (the offline minilm by default)."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rebuild the demo index even if it exists."),
    serve_ui: bool = typer.Option(
        True, "--serve/--no-serve", help="Serve the Streamlit UI after the example searches."
    ),
    port: int = typer.Option(8501, min=1, max=65535, help="Port of the UI."),
) -> None:
    """Index the Python standard library's documentation (built once, then reused), search it, serve the UI."""
    from app.demo import EXAMPLE_QUERIES, ensure_demo_index, published_results
    from retrieval.search.searcher import Searcher

    index_dir, summary = ensure_demo_index(model=model, rebuild=rebuild)
    if summary is not None:
        print_build_summary(summary)
    else:
        out.print(f"Using the demo index at {index_dir} (pass --rebuild to build it again).")
    searcher = Searcher.load(index_dir)
    for query in EXAMPLE_QUERIES:
        print_results(searcher.search(query, k=5))
    out.print(f'Search it yourself: modernsearch search {index_dir} "your question"')
    if serve_ui:
        from app.ui.launcher import serve

        serve([index_dir], port=port, results=published_results())


@friendly_errors
def app_command(
    index: list[Path] = typer.Option(
        [], "--index", help="Index folder to serve (repeat for several). Default: the demo index."
    ),
    port: int = typer.Option(8501, min=1, max=65535, help="Port to listen on (localhost)."),
    results: Path | None = typer.Option(
        None,
        help="Folder of evaluation reports for the Evaluation page (default: $MODERNSEARCH_HOME/results; the demo "
        "shows the results published with modernsearch).",
    ),
) -> None:
    """Start the Streamlit search UI on localhost."""
    from app.ui.launcher import serve
    from index.format import has_manifest

    for folder in index:
        if not has_manifest(folder):
            warning_line(f"{folder} holds no index; the UI will explain how to build one.")
    serve(list(index), port=port, results=results)


@friendly_errors
def serve_command(
    indexes: list[str] = typer.Argument(..., help="Index folders to serve, as DIR (named by the folder) or NAME=DIR."),
    host: str = typer.Option(
        "127.0.0.1", help="Address to listen on (loopback by default; 0.0.0.0 exposes the service)."
    ),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Worker processes (they share the memory-mapped index files)."),
    api_key_env: str | None = typer.Option(
        None,
        help="Environment variable holding the API key that writes need; without it, the write endpoints are disabled.",
    ),
    cors_origin: list[str] = typer.Option(
        [], help="Allow browser requests from this origin (repeatable); CORS is off without it."
    ),
    engine: str = typer.Option(
        "local",
        help="local (uvicorn in this process) or ray (Ray Serve: a deployment per shard of a "
        "sharded index, and a router with the same HTTP API).",
    ),
    ray_address: str | None = typer.Option(
        None, help="With --engine ray: the cluster (auto, ray://HOST:10001), else a local one."
    ),
    replicas: int = typer.Option(1, min=1, help="With --engine ray: replicas of each shard's deployment."),
    cpus_per_replica: float = typer.Option(
        1.0, min=0.0, help="With --engine ray: CPUs each replica reserves on the cluster."
    ),
    shard_timeout: float = typer.Option(
        10.0, min=0.001, help="With --engine ray: seconds a shard has to answer a call."
    ),
    on_shard_failure: str = typer.Option(
        "partial",
        help="With --engine ray, when a shard does not answer in time: partial "
        "(answer from the others, marked partial with missing_shards) or fail (503).",
    ),
    debug: bool = typer.Option(
        False,
        "--debug",
        help="Error answers name server folders and process ids (by default they "
        "name the served index instead; for a server only you can reach).",
    ),
) -> None:
    """Serve indexes over HTTP (FastAPI on uvicorn, or Ray Serve): search, documents, updates, health, readiness and
    metrics."""
    import os

    import uvicorn

    from app.service.indexes import parse_index_args
    from app.service.main import serve_environment
    from index.format import read_manifest

    served = parse_index_args(indexes)
    for folder in served.values():
        read_manifest(folder)  # a folder that is no index fails now, with the build command
    if api_key_env and not os.environ.get(api_key_env):
        raise ValueError(f"--api-key-env names {api_key_env}, which is not set; export {api_key_env}=KEY first.")
    if engine not in ("local", "ray") or on_shard_failure not in ("partial", "fail"):
        raise ValueError("--engine must be local or ray, and --on-shard-failure partial or fail.")
    names = ", ".join(f"{name} ({folder})" for name, folder in served.items())
    out.print(
        f"Serving {names} on http://{host}:{port} (API docs at /docs; writes "
        f"{'need the key in ' + api_key_env if api_key_env else 'disabled: no --api-key-env'})"
    )
    if engine == "ray":
        from app.service import ray_serve

        ray_serve.start(
            served,
            host=host,
            port=port,
            address=ray_address,
            blocking=True,
            replicas=replicas,
            cpus_per_replica=cpus_per_replica,
            policy=ray_serve.ShardPolicy(shard_timeout, on_shard_failure),  # type: ignore[arg-type]
            api_key=os.environ.get(api_key_env) if api_key_env else None,
            cors_origins=tuple(cors_origin),
            debug=debug,
        )
        return
    os.environ.update(serve_environment(served, api_key_env=api_key_env, cors_origins=cors_origin, debug=debug))
    uvicorn.run(
        "app.service.main:create_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level="warning",
    )
