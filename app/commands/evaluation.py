"""`modernsearch eval`: BEIR metrics, MTEB runs, reports with plots."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from app.commands.console import friendly_errors, out, warning_line
from app.commands.searching import FILTER_HELP, WHERE_HELP, chosen_filter
from app.commands.settings_options import settings_options
from retrieval.config import BuildConfig, SearchConfig, results_dir
from retrieval.registry import DENSE, MULTIVECTOR

eval_app = typer.Typer(help="Evaluate retrieval quality.", no_args_is_help=True)


@eval_app.command("beir")
@friendly_errors
@settings_options(BuildConfig, only=("multivector_model", "index_type"), into="build_settings")
@settings_options(SearchConfig, skip=("rerank",), into="search_settings", given_only=True)
def eval_beir(
    dataset: Path = typer.Argument(..., help="BEIR folder with corpus.jsonl, queries.jsonl, qrels/test.tsv."),
    index: Path | None = typer.Option(None, "--index", help="Evaluate this existing index."),
    model: str | None = typer.Option(None, help="Build a temporary index of the dataset with this model instead."),
    mode: list[str] = typer.Option(
        [],
        help="Configuration to evaluate, repeatable: dense, multivector, bm25, hybrid, each optionally +rerank "
        "(MaxSim) and @default (the default search settings instead of those tuned for the index: hybrid@default "
        "beside hybrid compares them). Default: the index's default mode (with --model, dense).",
    ),
    split: str = typer.Option("test", help="Qrels split (qrels/SPLIT.tsv)."),
    out_path: Path | None = typer.Option(None, "--out", help="Write the JSON report here (one configuration)."),
    out_dir: Path | None = typer.Option(
        None, "--out-dir", help="Write one JSON report per configuration into this folder."
    ),
    filter_json: str | None = typer.Option(
        None, "--filter", help=FILTER_HELP + " Judged documents it excludes count as misses."
    ),
    where: str | None = typer.Option(None, "--where", help=WHERE_HELP),
    *,
    build_settings: BuildConfig,
    search_settings: dict[str, Any],
) -> None:
    """nDCG@10, Recall@100 and MRR@10 of an index on a BEIR dataset (pytrec_eval), one row per configuration."""
    from eval.runner import run_beir

    if (index is None) == (model is None):
        raise ValueError("Give either --index DIR (an existing index) or --model SPEC (build a temporary one).")
    if out_path and len(mode) > 1:
        raise ValueError("--out takes one configuration; with several --mode values use --out-dir.")
    build = build_settings.with_changes(model=model) if model else None
    reports = run_beir(
        dataset,
        index=index,
        build=build,
        configurations=mode,
        search_settings=search_settings,
        split=split,
        filter=chosen_filter(filter_json, where),
    )
    first = reports[0]
    table = Table(
        title=f"{Path(dataset).name}: {first.n_queries} queries", title_justify="left", caption_justify="left"
    )
    table.add_column("configuration")
    for column in (*first.metrics, "ms/query"):
        table.add_column(column, justify="right")
    for report in reports:
        table.add_row(
            report.mode,
            *(f"{v:.4f}" for v in report.metrics.values()),
            f"{report.latency_ms['mean_per_query_batched']:.1f}",
        )
    table.caption = "\n".join(f"{r.mode}: {r.model} on {r.factory}" for r in reports)
    out.print(table)
    if out_path:
        first.write(out_path)
        out.print(f"Report written to {out_path}")
    if out_dir:
        for report in reports:
            target = out_dir / f"{Path(dataset).name}-{re.sub(r'[^A-Za-z0-9+.]+', '-', report.mode).strip('-')}.json"
            report.write(target)
        out.print(f"{len(reports)} reports written to {out_dir}")


@eval_app.command("mteb")
@friendly_errors
@settings_options(BuildConfig, only=("index_type", "multivector_codec", "long_docs", "shards"), into="index_settings")
def eval_mteb(
    model: str = typer.Option(
        "minilm", help="Model: alias (minilm, minilm-colbert, modernbert, modernbert-colbert), folder or hub id."
    ),
    tasks: str | None = typer.Option(
        None, help="Comma-separated mteb retrieval tasks, e.g. SciFact,NFCorpus (data from the hub)."
    ),
    local: Path | None = typer.Option(None, help="A local BEIR folder to evaluate as an mteb task, fully offline."),
    name: str | None = typer.Option(None, help="Task name for --local (default: the folder's name)."),
    mode: str | None = typer.Option(
        None, help="dense or multivector (default: multivector for ColBERT models, else dense)."
    ),
    use_index: bool = typer.Option(
        False,
        "--use-index",
        help="Search through this project's index (built with --index-type, "
        "--multivector-codec, --long-docs and --shards) instead of mteb's exact search, which truncates "
        "long documents.",
    ),
    results: Path | None = typer.Option(
        None, help="Results folder: mteb's JSON and this project's summaries (default: $MODERNSEARCH_HOME/results)."
    ),
    *,
    index_settings: BuildConfig,
) -> None:
    """nDCG@10, Recall@100 and MRR@10 from mteb with the project's encoders (and, with --use-index, its indexes)."""
    from eval.mteb_runner import MtebSetup, default_mode, run_mteb

    task_names = [t.strip() for t in (tasks or "").split(",") if t.strip()]
    setup = MtebSetup(
        model=model,
        mode=mode or default_mode(model),
        use_index=use_index,
        index_type=index_settings.index_type,
        multivector_codec=index_settings.multivector_codec,
        long_docs=index_settings.long_docs,
        shards=index_settings.shards,
    )
    if setup.mode not in (DENSE, MULTIVECTOR):
        raise ValueError(f"--mode must be dense or multivector, got {setup.mode!r}")
    if setup.shards > 1 and not use_index:
        raise ValueError("--shards splits this project's index: add --use-index (mteb's exact search has no shards)")
    summaries = run_mteb(setup, tasks=task_names, local=local, name=name, results_dir=results or results_dir())
    table = Table(title=f"MTEB: {model} ({setup.mode}, {setup.configuration})", title_justify="left")
    for column in ("task", "ndcg@10", "recall@100", "mrr@10", "search ms/query", "seconds"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for summary in summaries:
        metrics, latency = summary["metrics"], summary["latency_ms"].get("mean_per_query_batched")
        table.add_row(
            summary["dataset"],
            *(f"{metrics[m]:.4f}" for m in ("ndcg@10", "recall@100", "mrr@10")),
            f"{latency:.1f}" if latency is not None else "-",
            f"{summary['evaluation_seconds']:.0f}",
        )
    out.print(table)
    for summary in summaries:
        out.print(f"Written: {summary['file']} and {summary['mteb_result']}")


@eval_app.command("report")
@friendly_errors
def eval_report(
    results: Path | None = typer.Argument(
        None, help="Results folder with eval beir / eval mteb JSON reports (default: $MODERNSEARCH_HOME/results)."
    ),
    out_dir: Path | None = typer.Option(
        None, "--out", help="Where to write report.md and the PNG plots (default: RESULTS)."
    ),
) -> None:
    """A Markdown table and PNG plots (nDCG@10 per dataset and configuration; quality vs latency vs size)."""
    from eval.reports import render_report

    results = results or results_dir()
    written = render_report(results, out_dir or results)
    out.print(written.markdown.read_text(encoding="utf-8"), markup=False, highlight=False)
    for path in (written.markdown, *written.plots):
        out.print(f"Written: {path}")
    for problem in written.problems:
        warning_line(problem, "Skipped: ")


@eval_app.command("tables")
@friendly_errors
def eval_tables(
    documents: list[Path] = typer.Argument(..., help="Markdown files with <!-- table: ... --> markers."),
    results: Path = typer.Option(Path("eval/results"), help="Folder of the JSON results the tables are made from."),
    check: bool = typer.Option(False, "--check", help="Change nothing; exit 1 when a table differs from its results."),
) -> None:
    """Regenerate the result tables of Markdown documents from the JSON they name (eval.results_tables)."""
    from eval.results_tables import update

    changed = [path for path in documents if update(path, results, write=not check)]
    if check:
        for path in changed:
            warning_line(f"{path}: its tables differ from {results}; run `modernsearch eval tables {path}`.")
        raise typer.Exit(1 if changed else 0)
    for path in changed:
        out.print(f"Updated: {path}")
