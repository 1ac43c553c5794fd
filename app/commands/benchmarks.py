"""`modernsearch bench`: speed, size and quality against the baselines each issue names, in one run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from app.commands.console import friendly_errors, out, write_report
from retrieval.config import BACKENDS, results_dir

bench_app = typer.Typer(help="Benchmarks: speed, size and quality against baselines, in one run.", no_args_is_help=True)


def _whole_numbers(flag: str, given: str, example: str) -> tuple[int, ...]:
    """A flag's comma-separated whole numbers (each at least 1), or an error naming the flag."""
    try:
        numbers = tuple(int(part) for part in given.split(",") if part.strip())
    except ValueError:
        numbers = ()
    if not numbers or min(numbers) < 1:
        raise ValueError(f"{flag} takes comma-separated whole numbers of at least 1 such as {example}, got {given!r}")
    return numbers


@bench_app.command("multivector")
@friendly_errors
def bench_multivector(
    dataset: Path = typer.Argument(..., help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv)."),
    model: str = typer.Option("minilm-colbert", help="ColBERT model whose token vectors every system shares."),
    scale: int | None = typer.Option(None, help="Grow the collection to N documents with seeded distractors."),
    distractors: str = typer.Option(
        "noise",
        help="How --scale perturbs copied tokens: noise (Gaussian, sigma 0.05) or mix "
        "(moved towards random real tokens).",
    ),
    systems: str = typer.Option(
        "exact,modernsearch,modernsearch-pq64,modernsearch-sq8,plaid,voyager",
        help="Comma-separated systems to run (also: plaid-2bit, PLAID at 2 bits per dimension).",
    ),
    out_path: Path | None = typer.Option(
        None, "--out", help="JSON results (default: $MODERNSEARCH_HOME/results/bench-multivector-DATASET-N[-mix].json)."
    ),
) -> None:
    """Exact MaxSim vs this project's index vs PyLate PLAID and Voyager on the same token vectors."""
    from eval.bench.multivector import run_benchmark

    chosen = tuple(s.strip() for s in systems.split(",") if s.strip())
    report = run_benchmark(dataset, model=model, scale=scale, systems=chosen, distractors=distractors)
    suffix = "-mix" if scale and distractors == "mix" else ""
    target = out_path or results_dir() / f"bench-multivector-{Path(dataset).name}-{report['documents']}{suffix}.json"
    write_report(target, report)
    table = Table(
        title=f"{Path(dataset).name}: {report['documents']:,} documents"
        f"{f' ({distractors} distractors)' if scale else ''}, {report['tokens']:,} tokens, {report['queries']} "
        f"queries ({model})",
        title_justify="left",
        caption_justify="left",
        caption="vs exact: nDCG@10 / exact MaxSim's, 95% CI by a paired bootstrap over queries; top-10 = exact: share "
        "of exact "
        "MaxSim's top 10 returned in the top 10; 'modernsearch knob=value': the same index searched with that setting.",
    )
    for column in (
        "system",
        "nDCG@10",
        "vs exact",
        "95% CI",
        "top-10 = exact",
        "R@100",
        "build s",
        "bytes/token",
        "p50 ms",
        "p95 ms",
        "peak RSS MiB",
        "search RSS MiB",
    ):
        table.add_column(column, justify="left" if column == "system" else "right", no_wrap=column == "system")
    for r in report["results"]:
        vs = r.get("vs_exact") or {}
        ratio, interval, agreement = (
            (
                f"{vs['ndcg@10_ratio']:.3f}",
                "{:.3f}-{:.3f}".format(*vs["ndcg@10_ratio_ci95"]),
                f"{vs['top10_agreement']:.2f}",
            )
            if vs
            else ("-", "-", "-")
        )
        table.add_row(
            r["system"],
            f"{r['metrics']['ndcg@10']:.4f}",
            ratio,
            interval,
            agreement,
            f"{r['metrics']['recall@100']:.4f}",
            f"{r['build_seconds']:.1f}",
            f"{r['bytes_per_token']:.1f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            f"{r['peak_rss_mib']:.0f}",
            f"{r['search_rss_mib']:.0f}" if r.get("search_rss_mib") else "-",
        )
    out.print(table)
    out.print(f"Results written to {target}")


@bench_app.command("encode")
@friendly_errors
def bench_encode(
    dataset: Path = typer.Argument(..., help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv)."),
    model: str = typer.Option("minilm", help="Dense model every variant runs."),
    variants: str = typer.Option(
        ",".join(("baseline", *BACKENDS)),
        help="Comma-separated: baseline (plain SentenceTransformer.encode) and backends (auto: what builds use here).",
    ),
    limit: int | None = typer.Option(None, help="Encode only the first N documents."),
    out_path: Path | None = typer.Option(
        None, "--out", help="JSON results (default: $MODERNSEARCH_HOME/results/bench-encode-DATASET.json)."
    ),
) -> None:
    """Documents/s, tokens/s, peak memory and nDCG@10: plain SentenceTransformer.encode against this project's encoder
    per backend."""
    from eval.bench.encode import VARIANTS, run_encode_benchmark

    chosen = tuple(v.strip() for v in variants.split(",") if v.strip())
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown or not chosen or chosen[0] != "baseline":
        raise ValueError(f"--variants must start with baseline and name only {', '.join(VARIANTS)} (got {variants!r}).")
    report = run_encode_benchmark(dataset, model=model, variants=chosen, limit=limit)
    target = out_path or results_dir() / f"bench-encode-{Path(dataset).name}.json"
    write_report(target, report)
    base = report["results"][0]
    table = Table(
        title=f"{Path(dataset).name}: {report['documents']:,} documents ({model}, {report['machine']})",
        title_justify="left",
    )
    for column in (
        "variant",
        "docs/s",
        "vs baseline",
        "tokens/s",
        "peak RSS MiB",
        "nDCG@10",
        "vs baseline ",
        "query p50 ms",
    ):
        table.add_column(column, justify="left" if column == "variant" else "right", no_wrap=column == "variant")
    for r in report["results"]:
        name = (
            r["variant"] if r["variant"] != "auto" else f"auto (documents {r['backend']}, queries {r['query_backend']})"
        )
        table.add_row(
            name,
            f"{r['docs_per_second']:.1f}",
            f"{r['docs_per_second'] / base['docs_per_second']:.2f}x",
            f"{r['tokens_per_second']:,.0f}",
            f"{r['peak_rss_mib']:.0f}",
            f"{r['metrics']['ndcg@10']:.4f}",
            f"{r['metrics']['ndcg@10'] / base['metrics']['ndcg@10']:.3f}x",
            f"{r['query_p50_ms']:.1f}",
        )
    out.print(table)
    out.print(f"Results written to {target}")


@bench_app.command("long")
@friendly_errors
def bench_long(
    dataset: Path = typer.Argument(..., help="BEIR folder of long documents, e.g. ../shared/data/qmsum-long."),
    queries: int = typer.Option(200, help="Evaluate on this many judged queries (a seeded sample; 0 = all)."),
    out_path: Path | None = typer.Option(
        None, "--out", help="JSON results (default: $MODERNSEARCH_HOME/results/bench-long-DATASET.json)."
    ),
) -> None:
    """nDCG@10, p50 and build time with long documents truncated to the model's input or chunked, for minilm and
    minilm-colbert; then the multi-vector engine (codecs, knob settings) against exact MaxSim on the same token
    vectors."""
    from eval.bench.long import run_long_benchmark

    report = run_long_benchmark(dataset, queries=queries or None)
    target = out_path or results_dir() / f"bench-long-{Path(dataset).name}.json"
    write_report(target, report)
    table = Table(title=f"{Path(dataset).name}: {report['queries']:,} queries, k = {report['k']}", title_justify="left")
    for column in ("model", "long docs", "chunks", "build s", "nDCG@10", "Recall@100", "chunk - truncate", "p50 ms"):
        table.add_column(column, justify="left" if column in ("model", "long docs") else "right")
    truncated = {r["model"]: r["metrics"]["ndcg@10"] for r in report["results"] if r["long_docs"] == "truncate"}
    for r in report["results"]:
        gain = f"{r['metrics']['ndcg@10'] - truncated[r['model']]:+.4f}" if r["long_docs"] == "chunk" else ""
        table.add_row(
            r["model"],
            r["long_docs"],
            f"{r.get('chunks', 0):,}",
            f"{r['build_seconds']:.0f}",
            f"{r['metrics']['ndcg@10']:.4f}",
            f"{r['metrics']['recall@100']:.4f}",
            gain,
            f"{r['p50_ms']:.1f}",
        )
    out.print(table)
    if report["engine"]:
        engine = Table(
            title="Multi-vector engine on the chunked documents' token vectors, against exact MaxSim over them",
            title_justify="left",
            caption_justify="left",
            caption="vs exact: nDCG@10 / exact MaxSim's with its 95% paired-bootstrap interval; top-10 = exact: share "
            "of "
            "exact MaxSim's top 10 returned in the top 10; p50 includes encoding the query.",
        )
        for column in (
            "system",
            "nDCG@10",
            "vs exact",
            "95% CI",
            "top-10 = exact",
            "bytes/token",
            "build s",
            "p50 ms",
            "p95 ms",
        ):
            engine.add_column(column, justify="left" if column == "system" else "right", no_wrap=column == "system")
        for r in report["engine"]:
            vs = r["vs_exact"]
            engine.add_row(
                r["system"],
                f"{r['metrics']['ndcg@10']:.4f}",
                f"{vs['ndcg@10_ratio']:.3f}",
                "{:.3f}-{:.3f}".format(*vs["ndcg@10_ratio_ci95"]),
                f"{vs['top10_agreement']:.3f}",
                f"{r['bytes_per_token']:.1f}",
                f"{r['build_seconds']:.1f}",
                f"{r['p50_ms']:.1f}",
                f"{r['p95_ms']:.1f}",
            )
        out.print(engine)
    out.print(f"Results written to {target}")


@bench_app.command("codecs")
@friendly_errors
def bench_codecs(
    dataset: Path = typer.Argument(..., help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv)."),
    model: str = typer.Option("minilm-colbert", help="ColBERT model whose token vectors every codec codes."),
    codecs: str | None = typer.Option(
        None,
        help="Comma-separated residual codecs to compare (default: all of pq, opq32, "
        "rq32, prq32, pq64x4, pq64, sq8; also pq-t64k, pq64-t256k: longer training).",
    ),
    centroids: str = typer.Option(
        "1", help="Comma-separated multiples of the index's centroid count to repeat the comparison with."
    ),
    out_path: Path | None = typer.Option(
        None, "--out", help="JSON results (default: $MODERNSEARCH_HOME/results/bench-codecs-DATASET.json)."
    ),
) -> None:
    """Top-10 agreement with exact MaxSim per residual codec (exhaustive search: only the codec differs), with decoded
    tokens as they come and scaled back to unit length."""
    from eval.bench.codecs import DEFAULT_CODECS, run_codec_benchmark

    chosen = tuple(c.strip() for c in codecs.split(",") if c.strip()) if codecs else DEFAULT_CODECS
    report = run_codec_benchmark(
        dataset, model=model, codecs=chosen, centroid_multipliers=_whole_numbers("--centroids", centroids, "1,2")
    )
    target = out_path or results_dir() / f"bench-codecs-{Path(dataset).name}.json"
    write_report(target, report)
    table = Table(
        title=f"{Path(dataset).name}: {report['documents']:,} documents, {report['tokens']:,} tokens, "
        f"{report['queries']} queries, the index's {report['centroids']:,} centroids",
        title_justify="left",
        caption="top-10 = exact: share of exact MaxSim's top 10 that MaxSim over the decoded tokens returns.",
        caption_justify="left",
    )
    for column in (
        "centroids",
        "codec",
        "bytes/token",
        "train s",
        "encode s",
        "residual MSE",
        "top-10 = exact",
        "unit length",
    ):
        table.add_column(column, justify="left" if column == "codec" else "right", no_wrap=column == "codec")
    for r in report["results"]:
        table.add_row(
            f"{r['centroids']:,}",
            f"{r['codec']}: {r['label']}",
            str(r["bytes_per_token"]),
            f"{r['train_seconds']:.1f}",
            f"{r['encode_seconds']:.1f}",
            f"{r['residual_mse']:.5f}",
            f"{r['agreement_as_decoded']:.3f}",
            f"{r['agreement_unit_length']:.3f}",
        )
    out.print(table)
    out.print(f"Results written to {target}")


@bench_app.command("cold-start")
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


@bench_app.command("filter")
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
        out_path
        or results_dir() / f"bench-filter-{Path(dataset).name}-{sizes.get('dense', sizes.get('multivector'))}.json"
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


@bench_app.command("serve")
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
        levels=_whole_numbers("--concurrency", concurrency, "1,8,32"),
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


@bench_app.command("scale")
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
    build_mode: str = typer.Option("dense", help="Mode of those builds: dense, multivector, both or hybrid."),
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
        workers=_whole_numbers("--workers", workers, "1,2"),
        shards=tuple(n for n in _whole_numbers("--shards", shards, "2,4") if n > 1),
        ray_address=ray_address,
    )
    target = out_path or results_dir() / f"bench-scale-{Path(dataset).name}.json"
    write_report(target, report)
    if report["builds"]:
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
        out.print(builds)
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


@bench_app.command("fusion")
@friendly_errors
def bench_fusion(
    pairs: list[str] = typer.Argument(
        ..., help="INDEX_DIR=DATASET_DIR pairs: a hybrid index and the BEIR folder it was built from."
    ),
    metric: str = typer.Option("ndcg@10", help="ndcg@10, recall@100 or mrr@10."),
    out_path: Path | None = typer.Option(
        None, "--out", help="JSON results (default: $MODERNSEARCH_HOME/results/bench-fusion.json)."
    ),
) -> None:
    """Fusion rules that need no judgments, on several datasets: each rule's metric, the components', tuning's
    cross-validated figure, and each rule's worst loss against the stronger component."""
    from eval.bench.fusion import run_benchmark

    parsed = []
    for pair in pairs:
        index, sep, dataset = pair.partition("=")
        if not sep or not index or not dataset:
            raise ValueError(
                f"{pair!r} is not INDEX_DIR=DATASET_DIR (for example data/indexes/scifact=../shared/data/scifact)."
            )
        parsed.append((Path(index), Path(dataset)))
    report = run_benchmark(parsed, metric=metric, on_pair=lambda name: out.print(f"Searching {name}..."))
    target = out_path or results_dir() / "bench-fusion.json"
    write_report(target, report)
    names = [d["dataset"] for d in report["datasets"]]
    table = Table(
        title=f"{metric} of hybrid fusion rules without judgments",
        title_justify="left",
        caption_justify="left",
        caption=f"worst loss: the stronger component's {metric} minus the rule's, at its worst over the datasets; "
        f"tuned: {report['folds']}-fold cross-validated `modernsearch tune`.",
    )
    table.add_column("rule")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("worst loss", justify="right")
    for component in report["datasets"][0]["components"]:
        table.add_row(f"{component} alone", *(f"{d['components'][component]:.4f}" for d in report["datasets"]), "")
    for rule, worst in sorted(report["worst_loss"].items(), key=lambda item: item[1]):
        table.add_row(
            rule + (" (safest)" if rule == report["safest"] else ""),
            *(f"{d['rules'][rule]:.4f}" for d in report["datasets"]),
            f"{worst:+.4f}",
        )
    table.add_row("tuned (cross-validated)", *(f"{d['tuned_cv']:.4f}" for d in report["datasets"]), "")
    out.print(table)
    out.print(f"Results written to {target}")
