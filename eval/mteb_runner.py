"""`eval mteb`: run mteb 2.x retrieval tasks with the project's encoders, exactly or through its indexes.

Results land in one folder: mteb's own JSON under ``mteb/<model>/<configuration>/<task>.json`` and this
project's summary (``kind: mteb``, the same shape as ``eval beir`` reports) as ``mteb-<task>-<configuration>.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.beir import DatasetError, describe_configuration
from eval.mteb_models import IndexSearch, ProjectEncoder
from eval.mteb_tasks import hub_tasks, local_task
from retrieval.config import BuildConfig
from retrieval.config import results_dir as default_results_dir
from retrieval.encode.dense import DenseEncoder
from retrieval.encode.multivector import MultiVectorEncoder
from retrieval.registry import DENSE, MULTIVECTOR

METRIC_NAMES = {"ndcg_at_10": "ndcg@10", "recall_at_100": "recall@100", "mrr_at_10": "mrr@10"}


@dataclass(frozen=True)
class MtebSetup:
    """What one `eval mteb` run evaluates: which model, how it searches, where results go."""

    model: str
    mode: str = DENSE
    use_index: bool = False
    index_type: str = "flat"
    multivector_codec: str = "pq"
    long_docs: str = "chunk"
    shards: int = 1

    @property
    def configuration(self) -> str:
        """Short name of the search setup: ``exact``, ``index-flat``, ``index-hnsw``, ``index-mv-pq``, ...
        (``-truncate``
        when the index truncates long documents instead of chunking them, ``-shards2`` when it is split in two)."""
        if not self.use_index:
            return "exact"
        name = f"index-mv-{self.multivector_codec}" if self.mode == MULTIVECTOR else f"index-{self.index_type}"
        return (
            name
            + ("-truncate" if self.long_docs == "truncate" else "")
            + (f"-shards{self.shards}" if self.shards > 1 else "")
        )


def default_mode(model: str) -> str:
    """ColBERT aliases and models named *colbert* are multi-vector; everything else dense.

    >>> default_mode("minilm-colbert"), default_mode("lightonai/GTE-ModernColBERT-v1"), default_mode("minilm")
    ('multivector', 'multivector', 'dense')
    """
    return MULTIVECTOR if "colbert" in model.lower() else DENSE


def run_mteb(
    setup: MtebSetup,
    *,
    tasks: Sequence[str] = (),
    local: Path | str | None = None,
    name: str | None = None,
    results_dir: Path | str | None = None,
    encoder: DenseEncoder | MultiVectorEncoder | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Evaluate ``setup`` on mteb tasks (by name) or a local BEIR folder; returns the summaries it wrote."""
    import mteb

    if bool(tasks) == (local is not None):
        raise ValueError("Give either --tasks NAMES (mteb's tasks, loaded from the hub) or --local DATASET_DIR.")
    chosen = [local_task(local, name)] if local is not None else hub_tasks(list(tasks))
    for task in chosen:  # data first: a bad folder or an unreachable hub fails before the model loads
        _load(task, hub=local is None)
    if encoder is None:
        encoder = MultiVectorEncoder.load(setup.model) if setup.mode == MULTIVECTOR else DenseEncoder.load(setup.model)
    if setup.use_index:
        config = BuildConfig(
            index_type=setup.index_type,
            multivector_codec=setup.multivector_codec,
            long_docs=setup.long_docs,
            shards=setup.shards,
        )
        model: Any = IndexSearch(encoder, config, configuration=setup.configuration, progress=progress)
    else:
        model = ProjectEncoder(encoder, configuration=setup.configuration)
    results_dir = Path(results_dir) if results_dir is not None else default_results_dir()
    summaries = []
    try:
        for task in chosen:
            started = time.perf_counter()
            result = mteb.evaluate(model, task, cache=None, overwrite_strategy="always", show_progress_bar=progress)
            seconds = time.perf_counter() - started
            for task_result in result.task_results:
                summaries.append(_write(task_result, task, setup, model, encoder, results_dir, seconds))
    finally:
        if isinstance(model, IndexSearch):
            model.close()
    return summaries


def _load(task: Any, hub: bool) -> None:
    try:
        task.load_data()
    except (ConnectionError, OSError) as err:
        if not hub:
            raise
        raise DatasetError(
            f"mteb could not load {task.metadata.name}'s data from the Hugging Face hub ({err}). Connect to the "
            "internet once (datasets caches it), or evaluate a local BEIR copy with --local DATASET_DIR."
        ) from err


def _write(
    task_result: Any, task: Any, setup: MtebSetup, model: Any, encoder: Any, results_dir: Path, seconds: float
) -> dict[str, Any]:
    """mteb's JSON and the project's summary for one task; returns the summary."""
    meta = model.mteb_model_meta
    raw_path = results_dir / "mteb" / meta.model_name_as_path() / setup.configuration / f"{task_result.task_name}.json"
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    task_result.to_disk(raw_path)
    split = task.metadata.eval_splits[0]
    scores = task_result.scores[split][0]
    summary = {
        "kind": "mteb",
        "dataset": task_result.task_name,
        "index": setup.configuration,
        "model": encoder.describe()["spec"],
        "mode": setup.mode,
        "factory": _structure(setup, model),
        "n_queries": len(task.dataset["default"][split]["queries"]) if getattr(task, "dataset", None) else None,
        "metrics": {ours: float(scores[theirs]) for theirs, ours in METRIC_NAMES.items() if theirs in scores},
        "main_score": float(scores["main_score"]),
        "latency_ms": (
            {"mean_per_query_batched": round(model.search_seconds * 1000 / model.queries_searched, 2)}
            if isinstance(model, IndexSearch) and model.queries_searched
            else {}
        ),
        "index_bytes": getattr(model, "index_bytes", 0),
        "evaluation_seconds": round(seconds, 2),
        "mteb_version": task_result.mteb_version,
        "mteb_result": str(raw_path),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    target = results_dir / f"mteb-{task_result.task_name}-{_slug(meta.name)}-{setup.configuration}.json"
    target.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    summary["file"] = str(target)
    return summary


def _structure(setup: MtebSetup, model: Any) -> str:
    if isinstance(model, IndexSearch) and model.searcher is not None:
        return describe_configuration(model.searcher.manifest, setup.mode)[2]
    return "mteb exact search (MaxSim)" if setup.mode == MULTIVECTOR else "mteb exact search (cosine)"


def _slug(name: str) -> str:
    return name.rsplit("/", 1)[-1]
