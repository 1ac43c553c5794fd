"""`modernsearch bench` for the running system: cold start, filtered search, the HTTP service under load, Ray
builds and sharded search."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from app.commands.console import friendly_errors, out, write_report
from app.commands.settings_options import whole_numbers
from retrieval.config import results_dir
from retrieval.registry import DENSE, MULTIVECTOR, build_modes


@friendly_errors
def bench_cold_start(
    index: Path = typer.Argument(..., help="A dense or hybrid index folder."),
    query: str = typer.Option("parse command line arguments", help="The query every run searches for."),
    runs: int = typer.Option(5, min=1, help="Timed runs per variant (after one warm-up each)."),
    out_path: Path | None = typer.Option(
        None, "--out", help="JSON results (default: $MODERNSEARCH_HOME/results/bench-cold-start-INDEX.json)."
    ),
) -> None:
    """Seconds for a whole `modernsearch search` process: the light query encoder against loading the full model."""
    from eval.bench.cold_start import run_cold_start_benchmark

    report = run_cold_start_benchmark(index, query=query, runs=runs)
    target = out_path or results_dir() / f"bench-cold-start-{Path(index).name}.json"
    write_report(target, report)
    table = Table(
        title=f"modernsearch search {Path(index).name}: {runs} runs each ({report['model']}, {report['machine']})",
        title_justify="left",
    )
    for column in ("query encoder", "median s", "min s", "max s", "peak RSS MiB"):
        table.add_column(column, justify="left" if column == "query encoder" else "right")
    for r in report["results"]:
        table.add_row(
            r["variant"],
            f"{r['median_seconds']:.2f}",
            f"{r['min_seconds']:.2f}",
            f"{r['max_seconds']:.2f}",
            f"{r['peak_rss_mib']:.0f}",
        )
    out.print(table)
    out.print(f"{report['speedup']:.1f}x faster; results written to {target}")


@friendly_errors
def bench_filter(
    dataset: Path = typer.Argument(..., help="BEIR folder whose corpus and judged queries are encoded."),
    scale: int | None = typer.Option(None, help="Grow the dense collection to N documents with seeded noisy copies."),
    multivector_scale: int | None = typer.Option(
        None, help="Grow the multi-vector collection to N documents (mix distractors)."
    ),
    systems: str = typer.Option(
        "flat,hnsw,multivector", help="Comma-separated: flat, hnsw (dense FAISS indexes), multivector."
    ),
    out_path: Path | None = typer.Option(
        None, "--out", help="JSON results (default: $MODERNSEARCH_HOME/results/bench-filter-DATASET-N.json)."
    ),
) -> None:
    """Filtered search at 0.1%, 1%, 10%, 50% selectivity and none: recall@10 against exact filtered search, latency,
    the planner's choice, and post-filtering (search 100, then filter) as the baseline."""
    from eval.bench.filter import run_benchmark

    chosen = tuple(s.strip() for s in systems.split(",") if s.strip())
    report = run_benchmark(dataset, scale=scale, multivector_scale=multivector_scale, systems=chosen)
    sizes = report["documents"]
    target = (
        out_path or results_dir() / f"bench-filter-{Path(dataset).name}-{sizes.get(DENSE, sizes.get(MULTIVECTOR))}.json"
    )
    write_report(target, report)
    described = ", ".join(f"{kind} {n:,} documents" for kind, n in sizes.items())
    table = Table(
        title=f"{Path(dataset).name}: {described}, {report['queries']} queries, k = {report['k']}",
        title_justify="left",
        caption="recall@10: share of exact filtered search's top 10 returned (multivector: against exact MaxSim over "
        "the allowed documents); results: mean number returned; p50/p95: filter + search per query, one at a time "
        "(a filter's rows are kept after its first run).",
        caption_justify="left",
    )
    for column in ("system", "selectivity", "allowed", "recall@10", "results", "p50 ms", "p95 ms", "filter ms", "plan"):
        table.add_column(
            column, justify="left" if column in ("system", "plan") else "right", no_wrap=column == "system"
        )
    for r in report["results"]:
        table.add_row(
            r["system"],
            r["selectivity"],
            f"{r['allowed']:,}",
            f"{r['recall@10']:.3f}",
            f"{r['mean_results']:.1f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p95_ms']:.2f}",
            f"{r['filter_ms_p50']:.2f}",
            r["plan"],
        )
    out.print(table)
    for kind, times in report["first_filter_ms"].items():
        out.print(
            f"First run of each filter's SQL ({kind} store): "
            + ", ".join(f"{label} {ms:.1f} ms" for label, ms in times.items())
        )
    out.print(f"Results written to {target}")


@friendly_errors
def bench_serve(
    index: Path = typer.Argument(..., help="Index folder to serve."),
    queries: Path = typer.Option(
        ..., help="Queries: a BEIR folder (its queries.jsonl) or a file with one query per line."
    ),
    limit: int = typer.Option(200, help="Use at most this many queries."),
    requests: int = typer.Option(600, help="Requests sent at each concurrency level (the load always ends)."),
    concurrency: str = typer.Option("1,8,32", help="Comma-separated numbers of concurrent clients."),
    out_path: Path | None = typer.Option(
        None, "--out", help="JSON results (default: $MODERNSEARCH_HOME/results/bench-serve-INDEX.json)."
    ),
) -> None:
    """`modernsearch serve` on a loopback port under a bounded load, against the in-process Searcher on the same
    queries."""
    from eval.bench.serve import read_queries, run_benchmark

    report = run_benchmark(
        index,
        read_queries(queries, limit),
        levels=whole_numbers("--concurrency", concurrency, "1,8,32"),
        requests=requests,
    )
    target = out_path or results_dir() / f"bench-serve-{index.resolve().name}.json"
    write_report(target, report)
    table = Table(
        title=f"{index}: {report['queries']} queries, {requests} requests per level, k = 10",
        title_justify="left",
        caption="QPS and latency per request over HTTP (loopback). In-process: the same queries through Searcher, "
        "one at a time (p50, QPS) and in batches as large as the number of clients (batch QPS) or of 32 "
        "(best batch QPS); vs: the service's QPS as a share of each.",
        caption_justify="left",
    )
    for column in (
        "mode",
        "clients",
        "QPS",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "in-process p50",
        "in-process QPS",
        "batch QPS",
        "vs batch",
        "best batch QPS",
        "vs best",
    ):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for r in report["results"]:
        table.add_row(
            r["mode"],
            str(r["concurrency"]),
            f"{r['qps']:.1f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
            str(r["errors"]),
            f"{r['in_process_p50_ms']:.1f}",
            f"{r['in_process_qps']:.1f}",
            f"{r['in_process_batch_qps']:.1f}",
            f"{r['vs_batch']:.2f}x",
            f"{r['in_process_best_batch_qps']:.1f}",
            f"{r['vs_best_batch']:.2f}x",
        )
    out.print(table)
    out.print(f"Results written to {target}")


def _ray_serve(folders: dict[str, Path], port: int) -> Callable[[], None]:
    """Ray Serve over ``folders`` on ``port`` for ``bench scale`` (small CPU shares: the benchmark's replicas share
    one machine); returns what shuts it down."""
    from ray import serve

    from app.service import ray_serve

    ray_serve.start(folders, port=port, cpus_per_replica=0.1)
    return serve.shutdown


@friendly_errors
def bench_scale(
    dataset: Path = typer.Argument(..., help="BEIR folder: its corpus for the builds, its queries for the searches."),
    index: Path | None = typer.Option(
        None,
        help="A one-folder index of DATASET to shard and search (e.g. built with --mode "
        "hybrid); without one, the search part is skipped.",
    ),
    build_docs: int = typer.Option(
        1000, help="Documents of DATASET's corpus built locally and on Ray (0: skip the builds)."
    ),
    build_mode: str = typer.Option(DENSE, help=f"Mode of those builds: {', '.join(build_modes())}."),
    workers: str = typer.Option("1,2", help="Comma-separated numbers of Ray encode workers."),
    shards: str = typer.Option(
        "2,4", help="Comma-separated numbers of shards (1, the unsharded index, is always measured)."
    ),
    queries: int = typer.Option(50, help="Queries searched one at a time for each latency."),
    scale: int = typer.Option(
        200_000, help="Documents of DATASET grown with distractors and searched as a multi-vector index (0: skip it)."
    ),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Also search through Ray Serve."),
    ray_address: str | None = typer.Option(None, help="Ray cluster (default: a local one started for the benchmark)."),
    out_path: Path | None = typer.Option(
        None, "--out", help="JSON results (default: $MODERNSEARCH_HOME/results/bench-scale-DATASET.json)."
    ),
) -> None:
    """Ray builds against a local build, and sharded search (in process, on Ray Serve, at scale) against one index."""
    from eval.bench.scale import run_benchmark

    report = run_benchmark(
        dataset,
        index,
        build_docs=build_docs,
        build_mode=build_mode,
        queries=queries,
        scale=scale,
        serve=_ray_serve if serve else None,
        workers=whole_numbers("--workers", workers, "1,2"),
        shards=tuple(n for n in whole_numbers("--shards", shards, "2,4") if n > 1),
        ray_address=ray_address,
    )
    target = out_path or results_dir() / f"bench-scale-{Path(dataset).name}.json"
    write_report(target, report)
    if report["builds"]:
        out.print(_builds_table(report))
    if report["search"]:
        out.print(
            _sharded_search_table(
                f"{index}: p50 of {report['queries']} queries one at a time, k = 10", report["search"]
            )
        )
    large = report["multivector_scale"]
    if large:
        out.print(
            _sharded_search_table(
                f"{Path(dataset).name} grown to {large['documents']:,} documents ({large['tokens']:,} tokens, "
                f"multi-vector index built in {large['build_seconds']:.0f} s): p50 of {large['queries']} queries "
                "one at a time, k = 10",
                large["results"],
            )
        )
    out.print(f"Results written to {target}")


def _builds_table(report: dict[str, Any]) -> Table:
    """``bench scale``'s builds: Ray against a local build of the same documents."""
    builds = Table(
        title=f"Builds of {report['builds'][0]['documents']:,} documents ({report['build_mode']}), "
        f"{report['cpus']} CPUs",
        title_justify="left",
        caption="docs/s: the encoding pass (Ray's actors start and load the models within it); "
        "steady: the rate between a build of half as many documents and this one; build s: the whole build.",
        caption_justify="left",
    )
    for column in (
        "engine",
        "encode workers",
        "docs/s",
        "vs local",
        "steady docs/s",
        "vs local ",
        "build s",
        "vs local  ",
    ):
        builds.add_column(column, justify="left" if column == "engine" else "right")
    for r in report["builds"]:
        builds.add_row(
            r["engine"],
            str(r["encode_workers"] or "-"),
            f"{r['docs_per_second']:.1f}",
            f"{r['docs_per_second_vs_local']:.2f}x",
            f"{r['marginal_docs_per_second']:.1f}",
            f"{r['marginal_docs_per_second_vs_local']:.2f}x",
            f"{r['build_seconds']:.1f}",
            f"{r['build_seconds_vs_local']:.2f}x",
        )
    return builds


def _sharded_search_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        caption="same top 10: share of queries answered exactly as the unsharded index answers in process.",
        caption_justify="left",
    )
    for column in ("where", "shards", "mode", "p50 ms", "vs unsharded", "same top 10"):
        table.add_column(column, justify="left" if column in ("where", "mode") else "right")
    for r in rows:
        table.add_row(
            r["where"],
            str(r["shards"]),
            r["mode"],
            f"{r['p50_ms']:.1f}",
            f"{r['vs_unsharded']:.2f}x",
            f"{r['same_top10']:.3f}",
        )
    return table
