"""Read evaluation reports (JSON written by `eval beir`) from a results folder into one comparison table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COLUMNS = ("dataset", "configuration", "ndcg@10", "recall@100", "mrr@10", "ms/query", "index MiB", "n_queries", "file")


def configuration_label(report: dict[str, Any]) -> str:
    """A short name for what was evaluated: model, mode and FAISS structure.

    >>> configuration_label({"model": "sentence-transformers/all-MiniLM-L6-v2", "mode": "dense", "factory": "IDMap2,HNSW32"})
    'all-MiniLM-L6-v2 · dense · HNSW32'
    """
    model = str(report.get("model", "?")).rsplit("/", 1)[-1]
    factory = str(report.get("factory", "")).removeprefix("IDMap2,")
    return " · ".join(part for part in (model, report.get("mode", ""), factory) if part)


def load_reports(folder: Path | str) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows for every readable report under ``folder``, and a note for every file that could not be read."""
    rows, problems = [], []
    for path in sorted(Path(folder).rglob("*.json")):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            problems.append(f"{path}: not valid JSON ({err})")
            continue
        if not isinstance(report, dict) or "metrics" not in report or report.get("kind") not in ("beir", "mteb"):
            continue
        metrics = report["metrics"]
        rows.append({
            "dataset": Path(str(report.get("dataset", "?"))).name,
            "configuration": configuration_label(report),
            "ndcg@10": metrics.get("ndcg@10"),
            "recall@100": metrics.get("recall@100"),
            "mrr@10": metrics.get("mrr@10"),
            "ms/query": (report.get("latency_ms") or {}).get("mean_per_query_batched"),
            "index MiB": round(report.get("index_bytes", 0) / 2**20, 2) if report.get("index_bytes") else None,
            "n_queries": report.get("n_queries"),
            "file": str(path),
        })
    return rows, problems
