"""Evaluation reports (JSON from `eval beir` and `eval mteb`): one comparison table, Markdown and PNG plots."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COLUMNS = (
    "dataset",
    "configuration",
    "evaluator",
    "ndcg@10",
    "recall@100",
    "mrr@10",
    "ms/query",
    "index MiB",
    "n_queries",
    "file",
)


def configuration_label(report: dict[str, Any]) -> str:
    """A short name for what was evaluated: model, mode and index structure (parameters are in the report).

    >>> hnsw = {"model": "sentence-transformers/all-MiniLM-L6-v2", "mode": "dense", "factory": "IDMap2,HNSW32"}
    >>> configuration_label(hnsw)
    'all-MiniLM-L6-v2 · dense · HNSW32'
    >>> hybrid = {"model": "BM25 + minilm", "mode": "hybrid-rrf", "factory": "BM25(k1=1.5,b=0.75) + IDMap2,Flat"}
    >>> configuration_label(hybrid)
    'BM25 + minilm · hybrid-rrf · BM25 + Flat'
    >>> configuration_label({"model": "BM25", "mode": "bm25", "factory": "BM25-code(k1=1.5,b=0.75)"})
    'BM25 · bm25 · BM25-code'
    """
    model = " + ".join(part.rsplit("/", 1)[-1] for part in str(report.get("model", "?")).split(" + "))
    factory = re.sub(r"(BM25[-\w]*)\([^)]*\)", r"\1", str(report.get("factory", ""))).replace("IDMap2,", "")
    return " · ".join(part for part in (model, report.get("mode", ""), factory) if part)


def load_reports(folder: Path | str) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows for every readable report under ``folder`` (the newest per dataset, configuration and
    evaluator), and a note for every file that could not be read."""
    newest: dict[tuple[str, str, str], dict[str, Any]] = {}
    problems = []
    for path in sorted(Path(folder).rglob("*.json")):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            problems.append(f"{path}: not valid JSON ({err})")
            continue
        if not isinstance(report, dict) or "metrics" not in report or report.get("kind") not in ("beir", "mteb"):
            continue
        metrics = report["metrics"]
        row = {
            "dataset": Path(str(report.get("dataset", "?"))).name,
            "configuration": configuration_label(report),
            "evaluator": report["kind"],
            "ndcg@10": metrics.get("ndcg@10"),
            "recall@100": metrics.get("recall@100"),
            "mrr@10": metrics.get("mrr@10"),
            "ms/query": (report.get("latency_ms") or {}).get("mean_per_query_batched"),
            "index MiB": round(report.get("index_bytes", 0) / 2**20, 2) if report.get("index_bytes") else None,
            "n_queries": report.get("n_queries"),
            "file": str(path),
            "created_at": str(report.get("created_at", "")),
        }
        key = (row["dataset"], row["configuration"], row["evaluator"])
        if key not in newest or row["created_at"] >= newest[key]["created_at"]:
            newest[key] = row
    rows = sorted(newest.values(), key=lambda r: (r["dataset"], -(r["ndcg@10"] or 0.0)))
    return [{k: v for k, v in r.items() if k != "created_at"} for r in rows], problems


@dataclass
class RenderedReport:
    """Files written by :func:`render_report`."""

    markdown: Path
    plots: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The comparison as a Markdown table, best nDCG@10 first within each dataset.

    >>> print(markdown_table([{"dataset": "d", "configuration": "c", "evaluator": "beir", "ndcg@10": 0.5,
    ...     "recall@100": 0.9, "mrr@10": 0.7, "ms/query": 3.25, "index MiB": None, "n_queries": 40}]))
    | dataset | configuration | evaluator | nDCG@10 | Recall@100 | MRR@10 | ms/query | index MiB | queries |
    |---|---|---|---:|---:|---:|---:|---:|---:|
    | d | c | beir | 0.5000 | 0.9000 | 0.7000 | 3.2 | - | 40 |
    """

    def number(value: Any, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [
        "| dataset | configuration | evaluator | nDCG@10 | Recall@100 | MRR@10 | ms/query | index MiB | queries |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['configuration']} | {r['evaluator']} | {number(r['ndcg@10'], 4)} | "
            f"{number(r['recall@100'], 4)} | {number(r['mrr@10'], 4)} | {number(r['ms/query'], 1)} | "
            f"{number(r['index MiB'], 1)} | {r['n_queries'] if r['n_queries'] is not None else '-'} |"
        )
    return "\n".join(lines)


def render_report(results: Path | str, out_dir: Path | str) -> RenderedReport:
    """Write ``report.md``, ``ndcg.png`` (nDCG@10 per dataset and configuration) and ``tradeoff.png``
    (nDCG@10 against query latency, marker area by index size) for every report under ``results``."""
    results, out_dir = Path(results), Path(out_dir)
    if not results.is_dir():
        raise FileNotFoundError(
            f"{results} is not a folder of reports. Write some with `modernsearch eval beir ... --out-dir {results}`."
        )
    rows, problems = load_reports(results)
    if not rows:
        raise FileNotFoundError(f"No eval beir / eval mteb reports under {results}.")
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered = RenderedReport(markdown=out_dir / "report.md", problems=problems)
    plots = [p for p in (_plot_ndcg(rows, out_dir / "ndcg.png"), _plot_tradeoff(rows, out_dir / "tradeoff.png")) if p]
    rendered.plots = plots
    images = "\n".join(f"![{p.stem}]({p.name})" for p in plots)
    rendered.markdown.write_text(
        f"# Evaluation report\n\n{len(rows)} configurations from `{results}`.\n\n{markdown_table(rows)}\n\n{images}\n",
        encoding="utf-8",
    )
    return rendered


def _by_dataset(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        grouped.setdefault(r["dataset"], []).append(r)
    return grouped


def _plot_ndcg(rows: list[dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grouped = _by_dataset(rows)
    heights = [max(1.6, 0.38 * len(g) + 0.9) for g in grouped.values()]
    fig, axes = plt.subplots(
        len(grouped), 1, figsize=(10, sum(heights)), gridspec_kw={"height_ratios": heights}, squeeze=False
    )
    for ax, (dataset, group) in zip(axes[:, 0], grouped.items()):
        group = sorted(group, key=lambda r: r["ndcg@10"] or 0.0)
        labels = [f"{r['configuration']} ({r['evaluator']})" for r in group]
        values = [r["ndcg@10"] or 0.0 for r in group]
        bars = ax.barh(labels, values, color=["#4f46e5" if r["evaluator"] == "beir" else "#0d9488" for r in group])
        ax.bar_label(bars, fmt="%.4f", padding=3, fontsize=8)
        ax.set_xlim(0, min(1.0, max(values) * 1.18 + 0.02))
        ax.set_title(dataset, loc="left", fontsize=11, fontweight="bold")
        ax.tick_params(axis="y", labelsize=8)
        ax.set_xlabel("nDCG@10")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _plot_tradeoff(rows: list[dict[str, Any]], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grouped = {d: [r for r in g if r["ms/query"]] for d, g in _by_dataset(rows).items()}
    grouped = {d: g for d, g in grouped.items() if g}
    if not grouped:
        return None
    longest = max(len(g) for g in grouped.values())
    fig, axes = plt.subplots(1, len(grouped), figsize=(7 * len(grouped), 4.5 + 0.22 * longest), squeeze=False)
    colors = plt.get_cmap("tab20").colors
    for ax, (dataset, group) in zip(axes[0], grouped.items()):
        for i, r in enumerate(group):
            ax.scatter(
                r["ms/query"],
                r["ndcg@10"],
                s=max(30.0, 12.0 * (r["index MiB"] or 0.0)),
                alpha=0.7,
                color=colors[i % len(colors)],
                marker="o" if r["evaluator"] == "beir" else "s",
                label=f"{r['configuration']} ({r['evaluator']})",
            )
        ax.set_xscale("log")
        ax.set_xlabel("query latency, ms per query (batched, log scale)")
        ax.set_ylabel("nDCG@10")
        ax.set_title(f"{dataset}: quality vs latency (area = index size)", loc="left", fontsize=10)
        ax.grid(alpha=0.3)
        legend = ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.14), fontsize=7, frameon=False, markerscale=0.5)
        for handle in legend.legend_handles:
            handle.set_sizes([30])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
