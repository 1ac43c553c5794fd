"""Fusion rules without judgments, side by side on several datasets: which default loses least to the stronger
component wherever it is used.

Each (index, dataset) pair is searched once per component (:func:`eval.fusion_tuning.collect_runs`); every rule
is then scored on those lists with the search pipeline's own fusion functions, next to the components and to
tuning's cross-validated figure. A rule's loss on a dataset is the stronger component's metric minus its own;
the default should have the smallest worst-case loss.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from retrieval.config import SearchConfig

RULES: dict[str, SearchConfig] = {
    **{f"rrf k=60, dense weight {a}": SearchConfig(fusion="rrf", rrf_k=60, rrf_alpha=a) for a in (0.5, 0.7, 0.8, 0.9)},
    **{
        f"linear {n}, alpha {a}": SearchConfig(fusion="linear", normalisation=n, alpha=a)
        for n in ("minmax", "zscore", "bounds")
        for a in (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9)
    },
}


def run_benchmark(
    pairs: Sequence[tuple[Path, Path]],
    *,
    metric: str = "ndcg@10",
    folds: int = 5,
    on_pair: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every rule, the components and cross-validated tuning on every (index, dataset) pair; a JSON-ready report."""
    from eval.beir import evaluate_run, load_beir
    from eval.fusion_tuning import collect_runs, component_run, describe, fused_run, tune
    from retrieval.search.searcher import Searcher

    datasets = []
    for index_dir, dataset_dir in pairs:
        if on_pair:
            on_pair(Path(dataset_dir).name)
        data = load_beir(dataset_dir)
        searcher = Searcher.load(index_dir)
        try:
            runs = collect_runs(searcher, data)
        finally:
            searcher.close()
        score = {name: evaluate_run(component_run(runs, name), data.qrels)[0][metric] for name in runs.parts}
        rules = {rule: evaluate_run(fused_run(runs, setting), data.qrels)[0][metric] for rule, setting in RULES.items()}
        tuned = tune(runs, data.qrels, metric=metric, folds=folds, dataset=str(dataset_dir), index=str(index_dir))
        datasets.append(
            {
                "dataset": Path(dataset_dir).name,
                "index": str(index_dir),
                "queries": len(runs.queries),
                "components": score,
                "rules": rules,
                "tuned_cv": tuned.cv_metric,
                "tuned_choice": tuned.chosen,
                "tuned_vs_best_component": tuned.cv_vs_best_component,
            }
        )
    worst = {rule: max(max(d["components"].values()) - d["rules"][rule] for d in datasets) for rule in RULES}
    return {
        "metric": metric,
        "folds": folds,
        "datasets": datasets,
        "worst_loss": worst,
        "safest": min(worst, key=lambda rule: worst[rule]),
        "rules": {rule: describe(setting) for rule, setting in RULES.items()},
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
