"""Hybrid fusion chosen from relevance judgments, with an honest estimate of how well the choice generalises.

Each judged query is searched once per component (dense, BM25) and, where the index has token vectors, every
candidate is scored by exact MaxSim; every fusion setting of the grid is then evaluated on those lists with the
same fusion functions the search pipeline uses, so no setting costs another search. The pure components are in
the grid (linear fusion with alpha 1 or 0), so tuning can always fall back on the stronger one.

The figure to trust is the k-fold cross-validated one: for each fold the setting that is best on the other folds
is scored on the fold's queries, and those out-of-fold scores are averaged (the setting itself is then chosen on
all queries). Its paired bootstrap interval against the best single component says whether fusion helps.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eval.beir import METRICS, BeirDataset, DatasetError, Run, evaluate_run
from retrieval.config import SearchConfig
from retrieval.registry import HYBRID, NO_RERANK, recipe_for
from retrieval.search.pipeline import fuse_scores

DEPTH = 100  # documents kept per query: what recall@100 needs
RERANK_DEPTH = 100
ALPHAS = tuple(round(0.05 * i, 2) for i in range(21))
RRF_KS = (10, 20, 40, 60, 100)
RRF_ALPHAS = (0.2, 0.35, 0.5, 0.65, 0.8)
NORMALISATIONS = ("minmax", "zscore", "bounds")


@dataclass
class ComponentRuns:
    """Per judged query (``queries``: ids) each component's ranked ``{row: score}``, MaxSim scores of every candidate
    of either list (``None`` for an index without token vectors), and each row's document id. Rows, not ids, are
    what the search pipeline breaks ties by, so fusing them here orders ties as a search does."""

    queries: list[str]
    lists: dict[str, list[dict[int, float]]]
    maxsim: list[dict[int, float]] | None
    doc_ids: dict[int, str]
    reranker: str | None = None
    """The component whose scores ``maxsim`` holds (the index's first reranker), ``None`` for none."""

    @property
    def parts(self) -> tuple[str, ...]:
        """The components hybrid search fuses in this index."""
        return tuple(self.lists)


def collect_runs(
    searcher: Any,
    dataset: BeirDataset,
    *,
    candidates: int = 100,
    batch_size: int = 32,
    on_batch: Callable[[int], None] | None = None,
) -> ComponentRuns:
    """Search every judged query with each component hybrid fuses, and MaxSim-score their candidates."""
    queries = dataset.judged_queries
    ids = list(queries)
    rows: dict[str, int] = {}

    def by_row(hits: Any, score: Callable[[Any], float]) -> dict[int, float]:
        for hit in hits:
            if hit.id not in rows:
                rows[hit.id] = searcher.row_of(hit.id)
        return {rows[h.id]: score(h) for h in hits}

    parts = searcher.stage(HYBRID)
    lists: dict[str, list[dict[int, float]]] = {name: [] for name in parts}
    reranker = next(iter(searcher.rerankers(HYBRID)), None)
    label = recipe_for(reranker).score_name if reranker else ""
    maxsim: list[dict[int, float]] = []
    plain = SearchConfig(candidates=candidates)  # never the index's tuned settings: the components as they are
    rescored = plain.with_changes(rerank=reranker or NO_RERANK, rerank_depth=candidates)
    for start in range(0, len(ids), batch_size):
        texts = [queries[q] for q in ids[start : start + batch_size]]
        for name in parts:
            lists[name] += [
                by_row(r.hits, lambda h: h.score)
                for r in searcher.search_batch(texts, k=candidates, mode=name, config=plain)
            ]
        if reranker:  # each component's candidates reranked: the scores of every document any list holds
            found = [searcher.search_batch(texts, k=candidates, mode=name, config=rescored) for name in parts]
            maxsim += [
                {
                    row: s
                    for result in per_query
                    for row, s in by_row(result.hits, lambda h: h.components[label]).items()
                }
                for per_query in zip(*found)
            ]
        if on_batch:
            on_batch(len(texts))
    return ComponentRuns(ids, lists, maxsim if reranker else None, {row: doc for doc, row in rows.items()}, reranker)


def settings_grid(reranker: str | None) -> list[SearchConfig]:
    """Every setting tuning tries: the pure components first (linear alpha 1 and 0: the dense and BM25 rankings,
    which win ties), then linear fusion at every alpha under each normalisation and weighted RRF, each with and
    without rerank by ``reranker`` (a component name; ``None``: no reranked settings)."""
    pure = [SearchConfig(fusion="linear", alpha=1.0), SearchConfig(fusion="linear", alpha=0.0)]
    first = pure + [
        SearchConfig(fusion="linear", alpha=a, normalisation=n) for n in NORMALISATIONS for a in ALPHAS if 0 < a < 1
    ]
    first += [SearchConfig(fusion="rrf", rrf_k=k, rrf_alpha=a) for k in RRF_KS for a in RRF_ALPHAS]
    if reranker is None:
        return first
    return first + [s.with_changes(rerank=reranker, rerank_depth=RERANK_DEPTH) for s in first]


def fused_run(runs: ComponentRuns, setting: SearchConfig, depth: int = DEPTH) -> Run:
    """The run a hybrid search with ``setting`` returns, computed from the collected lists."""
    run: Run = {}
    for i, qid in enumerate(runs.queries):
        fused = fuse_scores(runs.parts, [runs.lists[name][i] for name in runs.parts], setting)
        if runs.reranker is not None and setting.rerank == runs.reranker and runs.maxsim is not None:
            scores = runs.maxsim[i]
            fused = sorted(
                ((row, scores[row]) for row, _ in fused[: setting.rerank_depth]), key=lambda d: (-d[1], d[0])
            )
        run[qid] = {runs.doc_ids[row]: score for row, score in fused[:depth]}
    return run


def component_run(runs: ComponentRuns, name: str, depth: int = DEPTH) -> Run:
    """One component's own run."""
    return {
        qid: {runs.doc_ids[row]: score for row, score in list(runs.lists[name][i].items())[:depth]}
        for i, qid in enumerate(runs.queries)
    }


@dataclass
class TuningReport:
    """What tuning measured on one index and dataset; ``chosen`` is the setting to apply."""

    dataset: str
    index: str
    metric: str
    folds: int
    n_queries: int
    grid_size: int
    components: dict[str, float]
    default: dict[str, Any]
    chosen: dict[str, Any]
    chosen_metric: float
    cv_metric: float
    best_component: str
    cv_vs_best_component: dict[str, float]
    fold_choices: list[dict[str, Any]]
    seconds: float
    created_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "fusion-tuning", **dataclasses.asdict(self)}


def judged_in_index(dataset: BeirDataset, searcher: Any) -> float:
    """The share of the documents the judgments name that the index holds; :class:`DatasetError` when it holds
    none of them (judgments of another corpus would score every setting 0 and choose at random)."""
    judged = {doc for docs in dataset.qrels.values() for doc, grade in docs.items() if grade > 0}
    found = sum(searcher.row_of(doc) is not None for doc in judged)
    if judged and not found:
        raise DatasetError(
            f"the index holds none of the {len(judged):,} documents that {dataset.root} judges relevant: "
            f"the judgments are for another corpus. Tune with the dataset the index was built from."
        )
    return found / len(judged) if judged else 1.0


def tune(
    runs: ComponentRuns,
    qrels: dict[str, dict[str, int]],
    *,
    metric: str = "ndcg@10",
    folds: int = 5,
    seed: int = 0,
    dataset: str = "",
    index: str = "",
    on_setting: Callable[[int], None] | None = None,
    current: SearchConfig = SearchConfig(),
) -> TuningReport:
    """Evaluate the grid on the collected lists; choose on all queries and estimate by k-fold cross-validation.
    ``current`` is the setting the index searches with now, reported as the default to beat."""
    from eval.paired import difference_interval

    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if not 2 <= folds <= len(runs.queries):
        raise ValueError(f"folds must be between 2 and the number of judged queries ({len(runs.queries)}), got {folds}")
    started = time.perf_counter()
    grid = settings_grid(runs.reranker)
    per_setting: list[dict[str, float]] = []
    for setting in grid:
        _, per_query = evaluate_run(fused_run(runs, setting), qrels)
        per_setting.append({q: values[metric] for q, values in per_query.items()})
        if on_setting:
            on_setting(1)
    queries = sorted(per_setting[0])
    components = {name: _metric_of(component_run(runs, name), qrels, metric) for name in runs.parts}
    best_component = max(components, key=lambda name: components[name])
    best_values = _metric_per_query(component_run(runs, best_component), qrels, metric)

    out_of_fold, fold_choices = _cross_validated(per_setting, grid, queries, folds, seed)
    chosen = _best(per_setting, queries)
    difference, low, high = difference_interval(out_of_fold, best_values)
    default = current
    default_index = grid.index(default) if default in grid else None
    default_value = (
        _mean(per_setting[default_index], queries)
        if default_index is not None
        else _metric_of(fused_run(runs, default), qrels, metric)
    )
    return TuningReport(
        dataset=dataset,
        index=index,
        metric=metric,
        folds=folds,
        n_queries=len(queries),
        grid_size=len(grid),
        components=components,
        default={**describe(default), metric: default_value},
        chosen=describe(grid[chosen]),
        chosen_metric=_mean(per_setting[chosen], queries),
        cv_metric=statistics.fmean(out_of_fold.values()),
        best_component=best_component,
        cv_vs_best_component={
            "difference": difference,
            "low": low,
            "high": high,
            "component": components[best_component],
        },
        fold_choices=fold_choices,
        seconds=round(time.perf_counter() - started, 1),
    )


def _cross_validated(
    per_setting: list[dict[str, float]], grid: list[SearchConfig], queries: list[str], folds: int, seed: int
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Each query's metric under the setting chosen on the other folds, and each fold's choice."""
    fold_of = _folds(queries, folds, seed)
    out_of_fold: dict[str, float] = {}
    fold_choices = []
    for fold in range(folds):
        held_out = [q for q in queries if fold_of[q] == fold]
        chosen = _best(per_setting, [q for q in queries if fold_of[q] != fold])
        out_of_fold.update({q: per_setting[chosen][q] for q in held_out})
        fold_choices.append({"fold": fold, "queries": len(held_out), "setting": describe(grid[chosen])})
    return out_of_fold, fold_choices


def describe(setting: SearchConfig) -> dict[str, Any]:
    """The settings of a grid point that decide the first stage and rerank (what ``--apply`` records)."""
    if setting.fusion == "rrf":
        shown = {"fusion": "rrf", "rrf_k": setting.rrf_k, "rrf_alpha": setting.rrf_alpha}
    else:
        shown = {"fusion": "linear", "alpha": setting.alpha, "normalisation": setting.normalisation}
    shown["rerank"] = setting.rerank
    if setting.rerank != "none":
        shown["rerank_depth"] = setting.rerank_depth
    return shown


def _folds(queries: Sequence[str], folds: int, seed: int) -> dict[str, int]:
    """Each query's fold: a seeded shuffle dealt round-robin, so folds differ in size by at most one."""
    order = list(queries)
    random.Random(seed).shuffle(order)
    return {q: i % folds for i, q in enumerate(order)}


def _best(per_setting: list[dict[str, float]], queries: Iterable[str]) -> int:
    """The grid index with the highest mean over ``queries`` (the earliest on a tie)."""
    chosen = list(queries)
    means = [_mean(values, chosen) for values in per_setting]
    return max(range(len(means)), key=lambda i: (means[i], -i))


def _mean(values: dict[str, float], queries: Sequence[str]) -> float:
    return statistics.fmean(values[q] for q in queries)


def _metric_per_query(run: Run, qrels: dict[str, dict[str, int]], metric: str) -> dict[str, float]:
    _, per_query = evaluate_run(run, qrels)
    return {q: values[metric] for q, values in per_query.items()}


def _metric_of(run: Run, qrels: dict[str, dict[str, int]], metric: str) -> float:
    mean, _ = evaluate_run(run, qrels)
    return mean[metric]
