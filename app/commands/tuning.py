"""`modernsearch tune`: hybrid fusion chosen from a dataset's judgments, and optionally made the index's default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from app.commands.console import friendly_errors, out, warning_line, write_report
from retrieval.config import results_dir


@friendly_errors
def tune(
    index: Path = typer.Argument(
        ..., help="A hybrid index (dense + BM25; with token vectors, MaxSim rerank is tried too)."
    ),
    dataset: Path = typer.Argument(
        ..., help="BEIR folder whose judged queries choose the setting (its corpus is the index's)."
    ),
    metric: str = typer.Option("ndcg@10", help="What to maximise: ndcg@10, recall@100 or mrr@10."),
    folds: int = typer.Option(5, min=2, help="Cross-validation folds for the estimate of the chosen setting."),
    split: str = typer.Option("test", help="Qrels split (qrels/SPLIT.tsv)."),
    out_path: Path | None = typer.Option(
        None, "--out", help="JSON report (default: $MODERNSEARCH_HOME/results/tune-INDEX-DATASET.json)."
    ),
    apply: bool = typer.Option(
        False,
        "--apply",
        help="Make the chosen setting the index's default search settings (a new "
        "committed version; explicit search options still override it).",
    ),
) -> None:
    """Choose hybrid fusion (RRF or normalised linear, weights, MaxSim rerank) from judged queries, with a
    cross-validated estimate and its interval against the better single component."""
    from tqdm import tqdm

    from eval.beir import METRICS, load_beir
    from eval.fusion_tuning import settings_grid
    from eval.fusion_tuning import tune as run_tuning
    from retrieval.build.tuned import apply_tuned_search

    if metric not in METRICS:  # before the searches, not after them
        raise ValueError(f"--metric must be one of {', '.join(METRICS)}, got {metric!r}")
    data = load_beir(dataset, split)
    runs, current = _component_runs(index, dataset, data, split)
    with tqdm(total=len(settings_grid(runs.reranker)), desc="Evaluating settings", unit=" setting") as bar:
        report = run_tuning(
            runs,
            data.qrels,
            metric=metric,
            folds=folds,
            dataset=str(dataset),
            index=str(index),
            on_setting=bar.update,
            current=current,
        )
    target = out_path or results_dir() / f"tune-{Path(index).resolve().name}-{Path(dataset).name}.json"
    write_report(target, report.to_dict())
    _print_report(report)
    out.print(f"Report written to {target}")
    if apply:
        if report.cv_metric < report.default[metric]:
            raise ValueError(
                f"Not applied: tuning's cross-validated {metric} ({report.cv_metric:.4f}) is below that of the "
                f"index's current settings ({report.default[metric]:.4f}); {index} keeps them."
            )
        tuned = apply_tuned_search(
            index,
            report.chosen,
            dataset=str(dataset),
            metric=metric,
            cv_metric=report.cv_metric,
            in_sample_metric=report.chosen_metric,
            queries=report.n_queries,
        )
        out.print(f"Applied to {index}: searches now default to {_spelled(tuned.settings)}.")


def _component_runs(index: Path, dataset: Path, data: Any, split: str) -> tuple[Any, Any]:
    """Every judged query's ranked lists from each hybrid component of ``index`` (the fusion grid's input), and the
    settings the index searches with now; a dataset whose judged documents are not in the index is refused."""
    from tqdm import tqdm

    from eval.beir import check_judged_documents, corpus_ids
    from eval.fusion_tuning import collect_runs, judged_in_index
    from retrieval.registry import HYBRID
    from retrieval.search.searcher import Searcher

    searcher = Searcher.load(index)
    try:
        if HYBRID not in searcher.modes:
            raise ValueError(
                f"{index} has {' and '.join(searcher.modes)} only; tuning fusion needs a hybrid index "
                f"(build it with --mode hybrid)."
            )
        check_judged_documents(data, corpus_ids(data.corpus_path), split)
        coverage = judged_in_index(data, searcher)
        if coverage < 0.5:
            warning_line(
                f"the index holds only {coverage:.0%} of the documents {dataset} judges relevant; is it the "
                f"dataset the index was built from?"
            )
        current = searcher.search_config()
        with tqdm(total=len(data.judged_queries), desc="Searching components", unit=" query") as bar:
            runs = collect_runs(searcher, data, on_batch=bar.update)
    finally:
        searcher.close()
    return runs, current


def _print_report(report: Any) -> None:
    m = report.metric
    table = Table(
        title=f"{report.n_queries} judged queries, {report.grid_size} settings, {report.folds}-fold cross-validation",
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("setting")
    table.add_column(m, justify="right")
    for name, value in report.components.items():
        table.add_row(f"{name} alone", f"{value:.4f}")
    table.add_row(f"current ({_spelled(report.default, skip=(m,))})", f"{report.default[m]:.4f}")
    table.add_row(f"chosen on all queries ({_spelled(report.chosen)})", f"{report.chosen_metric:.4f}")
    versus = report.cv_vs_best_component
    table.add_row("tuning, cross-validated (what to expect)", f"{report.cv_metric:.4f}")
    table.caption = (
        f"Cross-validated minus {report.best_component} alone: {versus['difference']:+.4f} "
        f"(95% paired bootstrap interval {versus['low']:+.4f} to {versus['high']:+.4f})."
    )
    out.print(table)


def _spelled(settings: dict, skip: tuple[str, ...] = ()) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items() if k not in skip)
