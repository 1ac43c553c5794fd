"""`modernsearch bench` for retrieval quality and encoding: the multi-vector engine against exact MaxSim and PLAID,
residual codecs, long documents, encoding backends, fusion rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from app.commands.console import friendly_errors, out, write_report
from app.commands.settings_options import whole_numbers
from retrieval.config import BACKENDS, results_dir


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
        dataset, model=model, codecs=chosen, centroid_multipliers=whole_numbers("--centroids", centroids, "1,2")
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
        out.print(_engine_table(report["engine"]))
    out.print(f"Results written to {target}")


def _engine_table(rows: list[dict[str, Any]]) -> Table:
    """``bench long``'s second table: the multi-vector engine against exact MaxSim on the chunked documents."""
    engine = Table(
        title="Multi-vector engine on the chunked documents' token vectors, against exact MaxSim over them",
        title_justify="left",
        caption_justify="left",
        caption="vs exact: nDCG@10 / exact MaxSim's with its 95% paired-bootstrap interval; top-10 = exact: share "
        "of exact MaxSim's top 10 returned in the top 10; p50 includes encoding the query.",
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
    for r in rows:
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
    return engine


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
