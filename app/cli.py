"""The ``modernsearch`` command line: each command parses its flags and calls one library function."""

from __future__ import annotations

import json
import sys
import warnings
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from index.format import human_bytes
from retrieval.config import BuildConfig, SearchConfig, help_for

app = typer.Typer(
    name="modernsearch",
    help="Build, search and evaluate long-context dense retrieval indexes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(help="Evaluate retrieval quality.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
bench_app = typer.Typer(help="Benchmarks: speed, size and quality against baselines, in one run.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

# Search settings shared by `search` and `eval beir`, each mapping onto one SearchConfig field.
FusionOption = Annotated[str, typer.Option(help=help_for("fusion"))]
RrfKOption = Annotated[int, typer.Option(help=help_for("rrf_k"))]
AlphaOption = Annotated[float, typer.Option(help=help_for("alpha"))]
CandidatesOption = Annotated[int, typer.Option(help=help_for("candidates"))]
RerankOption = Annotated[str, typer.Option(help=help_for("rerank"))]
RerankDepthOption = Annotated[int, typer.Option(help=help_for("rerank_depth"))]
ChunkAggregateOption = Annotated[str, typer.Option(help=help_for("chunk_aggregate"))]

out = Console()
err = Console(stderr=True)


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors a user can cause into one clear line on stderr and exit code 1."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from eval.beir import DatasetError
        from index.errors import IndexFormatError
        from retrieval.corpus.readers import CorpusError
        from retrieval.models import FallbackWarning, ModelUnavailableError

        def show_warning(message, category, *rest, **kw):  # noqa: ANN001 - warnings API
            if issubclass(category, FallbackWarning):
                err.print(Panel(str(message), title="Using the offline model", border_style="yellow"))
            else:
                err.print(f"[yellow]Warning:[/] {message}")

        warnings.showwarning = show_warning
        try:
            return command(*args, **kwargs)
        except (CorpusError, IndexFormatError, ModelUnavailableError, DatasetError, ValueError, FileNotFoundError) as error:
            err.print(f"[bold red]Error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("[yellow]Interrupted.[/] Any earlier index is unchanged.")
            raise typer.Exit(130) from None

    return wrapper


def _snippet(text: str, width: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


@app.command()
@friendly_errors
def build(
    corpus: Optional[Path] = typer.Argument(None, help="BEIR folder, .jsonl/.csv/.tsv/.parquet file, or folder of .txt/.md files."),
    index: Path = typer.Option(..., "--index", help="Index folder to write (replaced atomically when the build succeeds)."),
    hf_dataset: Optional[str] = typer.Option(None, "--hf-dataset", help="Hugging Face dataset name, or a folder saved with save_to_disk."),
    model: Optional[str] = typer.Option(None, help=help_for("model")),
    mode: str = typer.Option("dense", help=help_for("mode")),
    multivector_model: Optional[str] = typer.Option(None, help=help_for("multivector_model")),
    multivector_codec: str = typer.Option("pq", help=help_for("multivector_codec")),
    index_type: str = typer.Option("flat", help=help_for("index_type")),
    bm25_k1: float = typer.Option(1.5, help=help_for("bm25_k1")),
    bm25_b: float = typer.Option(0.75, help=help_for("bm25_b")),
    id_field: Optional[str] = typer.Option(None, help=help_for("id_field")),
    text_field: str = typer.Option("text", help=help_for("text_field")),
    title_field: str = typer.Option("title", help=help_for("title_field")),
    split: str = typer.Option("train", help=help_for("split")),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help=help_for("skip_invalid")),
    on_duplicate: str = typer.Option("error", help=help_for("on_duplicate")),
    encoding_errors: str = typer.Option("strict", help=help_for("encoding_errors")),
    long_docs: str = typer.Option("chunk", help=help_for("long_docs")),
    chunk_tokens: Optional[int] = typer.Option(None, help=help_for("chunk_tokens")),
    chunk_overlap: Optional[int] = typer.Option(None, help=help_for("chunk_overlap")),
    max_tokens: Optional[int] = typer.Option(None, help=help_for("max_tokens")),
    token_budget: int = typer.Option(16384, help=help_for("token_budget")),
    batch_size: int = typer.Option(16, help=help_for("batch_size")),
    read_batch_size: int = typer.Option(1024, help=help_for("read_batch_size")),
    device: Optional[str] = typer.Option(None, help=help_for("device")),
    backend: str = typer.Option("torch", help=help_for("backend")),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue an interrupted build of the same corpus and settings from its last encoded batch (--no-resume starts over)."),
    as_json: bool = typer.Option(False, "--json", help="Print the build summary as JSON."),
) -> None:
    """Encode a corpus and write an index folder."""
    from retrieval.builder import build_index

    if (corpus is None) == (hf_dataset is None):
        raise ValueError("Give either a CORPUS path or --hf-dataset NAME (not both).")
    config = BuildConfig(
        model=model, mode=mode, multivector_model=multivector_model, multivector_codec=multivector_codec,
        index_type=index_type, bm25_k1=bm25_k1, bm25_b=bm25_b, id_field=id_field, text_field=text_field,
        title_field=title_field, split=split, skip_invalid=skip_invalid, on_duplicate=on_duplicate,
        encoding_errors=encoding_errors, long_docs=long_docs, chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap,
        max_tokens=max_tokens, token_budget=token_budget, batch_size=batch_size, read_batch_size=read_batch_size, device=device,
        backend=backend,
    )
    summary = build_index(hf_dataset or corpus, index, config, hf_dataset=hf_dataset is not None, resume=resume)
    if as_json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        print_build_summary(summary)


def print_build_summary(summary: Any) -> None:
    """The table printed at the end of every build."""
    table = Table(title=f"Built {summary.index_dir}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("model", summary.model)
    table.add_row("FAISS factory", summary.factory)
    table.add_row("documents indexed", f"{summary.documents:,}")
    table.add_row("skipped", f"{summary.skipped_empty:,} empty, {summary.skipped_invalid:,} invalid, {summary.duplicates:,} duplicate ids")
    if summary.replaced_encoding:
        table.add_row("encoding", f"{summary.replaced_encoding:,} lines with invalid UTF-8 replaced")
    table.add_row("time", f"{summary.seconds:.1f} s total, {summary.encode_seconds:.1f} s encoding ({summary.docs_per_second:.1f} docs/s)")
    table.add_row("index size", human_bytes(summary.index_bytes))
    for kind, counts in summary.long_documents.items():
        if counts.get("chunked") or counts.get("truncated"):
            table.add_row(f"long documents ({kind})", f"{counts['chunked']:,} chunked into {counts['chunks']:,} chunks in all, "
                          f"{counts['truncated']:,} truncated")
    if summary.resumed_from:
        table.add_row("resumed", f"from an interrupted build with {summary.resumed_from:,} documents already encoded")
    out.print(table)
    for problem in summary.problems:
        err.print(f"[yellow]skipped:[/] {problem}", highlight=False)


@app.command()
@friendly_errors
def search(
    index: Path = typer.Argument(..., help="Index folder."),
    query: str = typer.Argument(..., help="What to search for."),
    k: int = typer.Option(10, "-k", "--k", help="Number of results."),
    mode: Optional[str] = typer.Option(None, help="Search mode: dense, multivector, bm25 or hybrid (default: hybrid if built, else the first the index holds)."),
    fusion: FusionOption = "rrf",
    rrf_k: RrfKOption = 60,
    alpha: AlphaOption = 0.5,
    candidates: CandidatesOption = 100,
    rerank: RerankOption = "none",
    rerank_depth: RerankDepthOption = 100,
    chunk_aggregate: ChunkAggregateOption = "max",
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
) -> None:
    """Search an index and print the top documents."""
    from retrieval.searcher import Searcher

    config = SearchConfig(fusion=fusion, rrf_k=rrf_k, alpha=alpha, candidates=candidates, rerank=rerank,
                          rerank_depth=rerank_depth, chunk_aggregate=chunk_aggregate)
    result = Searcher.load(index).search(query, k=k, mode=mode, config=config)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return
    print_results(result)


def print_results(result: Any) -> None:
    """A readable results table: rank, id, score (and each stage's score when several ran), title, snippet."""
    timings = ", ".join(f"{stage} {ms:.0f}" for stage, ms in result.timings_ms.items())
    table = Table(title=f"{result.query!r}  ({result.mode}; ms: {timings})", title_justify="left")
    stages = sorted({name for hit in result.hits for name in hit.components}, key=["bm25", "dense", "fused", "maxsim"].index)
    stages = stages if len(stages) > 1 else []
    table.add_column("#", justify="right")
    table.add_column("id", overflow="fold", max_width=28)
    table.add_column("score", justify="right")
    for stage in stages:
        table.add_column(stage, justify="right", style="dim")
    table.add_column("title", overflow="fold", max_width=32)
    table.add_column("snippet", overflow="fold")
    for hit in result.hits:
        parts = [f"{hit.components[s]:.3f}" if s in hit.components else "-" for s in stages]
        table.add_row(str(hit.rank), hit.id, f"{hit.score:.3f}", *parts, hit.title, _snippet(hit.text))
    if not result.hits:
        err.print("[yellow]No results.[/] In bm25 mode a query of stopwords only matches nothing; try hybrid or dense.")
    out.print(table)


@app.command()
@friendly_errors
def info(
    index: Path = typer.Argument(..., help="Index folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole manifest as JSON."),
) -> None:
    """Print an index's manifest: model, dimensions, mode, FAISS factory, counts, sizes, version, time."""
    from index.format import manifest_summary, read_manifest

    manifest = read_manifest(index)
    if as_json:
        print(json.dumps(manifest, indent=2, ensure_ascii=False))
        return
    table = Table(title=str(index), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for row in manifest_summary(manifest):
        table.add_row(*row)
    out.print(table)


@app.command()
@friendly_errors
def add(
    index: Path = typer.Argument(..., help="Index folder to update."),
    corpus: Path = typer.Argument(..., help="Documents to add, in any format `build` reads (read with the index's field settings)."),
    upsert: bool = typer.Option(False, "--upsert", help="Replace documents whose ids the index already holds (else that is an error)."),
    as_json: bool = typer.Option(False, "--json", help="Print the update summary as JSON."),
) -> None:
    """Add documents to an index (dense, multi-vector and BM25 parts) without rebuilding it."""
    from retrieval.updater import add_documents

    print_update(add_documents(index, corpus, upsert=upsert), as_json)


@app.command()
@friendly_errors
def delete(
    index: Path = typer.Argument(..., help="Index folder to update."),
    ids: str = typer.Option(..., "--ids", help="Document ids: a file with one id per line, or a comma-separated list (for ids without commas)."),
    as_json: bool = typer.Option(False, "--json", help="Print the update summary as JSON."),
) -> None:
    """Delete documents by id from every part of an index; they never appear in results again."""
    from retrieval.updater import delete_documents

    id_file = _id_file(ids)
    listed = id_file.read_text(encoding="utf-8").splitlines() if id_file else ids.split(",")
    wanted = [i.strip() for i in listed if i.strip()]
    if not wanted:
        raise ValueError("--ids names no documents.")
    print_update(delete_documents(index, wanted), as_json)


@app.command()
@friendly_errors
def compact(
    index: Path = typer.Argument(..., help="Index folder to compact."),
    retrain: str = typer.Option("auto", help="Retrain centroids: auto (when drift exceeds --drift-threshold), always, or never."),
    drift_threshold: float = typer.Option(1.2, help="Drift ratio (now / right after training) above which auto retrains."),
    as_json: bool = typer.Option(False, "--json", help="Print the compaction summary as JSON."),
) -> None:
    """Rewrite an index as a new version: reclaim the space updates left, retrain centroids if the data drifted."""
    from retrieval.compaction import compact_index

    summary = compact_index(index, retrain=retrain, threshold=drift_threshold)
    if as_json:
        print(json.dumps(summary.to_dict(), indent=2))
        return
    drift = ", ".join(f"{kind} {value:.2f}" for kind, value in summary.drift.items()) or "nothing trained to drift"
    action = "retrained from the stored documents" if summary.retrained else "rewritten (no retraining needed)"
    out.print(
        f"Compacted {summary.index_dir}: {action}; drift {drift} (threshold {summary.threshold}); "
        f"{human_bytes(summary.bytes_before)} -> {human_bytes(summary.bytes_after)}, "
        f"{summary.documents:,} documents ({summary.seconds:.1f} s)."
    )


def _id_file(value: str) -> Path | None:
    try:
        return Path(value) if Path(value).is_file() else None
    except OSError:  # a long id list is not a file name
        return None


def print_update(summary: Any, as_json: bool) -> None:
    """One line (or JSON) saying what an update changed."""
    if as_json:
        print(json.dumps(summary.to_dict(), indent=2))
        return
    out.print(
        f"Updated {summary.index_dir}: {summary.added:,} added, {summary.replaced:,} replaced, {summary.deleted:,} deleted; "
        f"{summary.documents:,} documents now ({summary.seconds:.1f} s)."
    )
    if summary.not_found:
        err.print(f"[yellow]Not in the index:[/] {', '.join(summary.not_found[:10])}" + (" …" if len(summary.not_found) > 10 else ""))


@app.command()
@friendly_errors
def verify(index: Path = typer.Argument(..., help="Index folder.")) -> None:
    """Check an index: manifest, every file's size and SHA-256, SQLite integrity, and that every part
    (FAISS ids, token offsets, BM25 rows) refers to exactly the stored documents."""
    from index.verify import verify_index

    checks = verify_index(index)
    table = Table(title=f"verify {index}", title_justify="left")
    for column in ("check", "", "detail"):
        table.add_column(column, overflow="fold")
    for check in checks:
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[bold red]FAILED[/]", check.detail)
    out.print(table)
    failed = [c.name for c in checks if not c.ok]
    if failed:
        err.print(f"[bold red]Error:[/] {len(failed)} check(s) failed ({', '.join(failed)}). Rebuild the index from its corpus.")
        raise typer.Exit(1)


@eval_app.command("beir")
@friendly_errors
def eval_beir(
    dataset: Path = typer.Argument(..., help="BEIR folder with corpus.jsonl, queries.jsonl, qrels/test.tsv."),
    index: Optional[Path] = typer.Option(None, "--index", help="Evaluate this existing index."),
    model: Optional[str] = typer.Option(None, help="Build a temporary index of the dataset with this model instead."),
    multivector_model: Optional[str] = typer.Option(None, help=help_for("multivector_model")),
    index_type: str = typer.Option("flat", help=help_for("index_type")),
    mode: list[str] = typer.Option(
        [], help="Configuration to evaluate, repeatable: dense, multivector, bm25, hybrid, each optionally +rerank "
        "(MaxSim). Default: the index's default mode (with --model, dense).",
    ),
    fusion: FusionOption = "rrf",
    rrf_k: RrfKOption = 60,
    alpha: AlphaOption = 0.5,
    candidates: CandidatesOption = 100,
    rerank_depth: RerankDepthOption = 100,
    chunk_aggregate: ChunkAggregateOption = "max",
    split: str = typer.Option("test", help="Qrels split (qrels/SPLIT.tsv)."),
    out_path: Optional[Path] = typer.Option(None, "--out", help="Write the JSON report here (one configuration)."),
    out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="Write one JSON report per configuration into this folder."),
) -> None:
    """nDCG@10, Recall@100 and MRR@10 of an index on a BEIR dataset (pytrec_eval), one row per configuration."""
    from eval.runner import run_beir

    if (index is None) == (model is None):
        raise ValueError("Give either --index DIR (an existing index) or --model SPEC (build a temporary one).")
    if out_path and len(mode) > 1:
        raise ValueError("--out takes one configuration; with several --mode values use --out-dir.")
    config = SearchConfig(fusion=fusion, rrf_k=rrf_k, alpha=alpha, candidates=candidates, rerank_depth=rerank_depth,
                          chunk_aggregate=chunk_aggregate)
    reports = run_beir(
        dataset, index=index, model=model, multivector_model=multivector_model, index_type=index_type,
        configurations=mode, search_config=config, split=split,
    )
    first = reports[0]
    table = Table(title=f"{Path(dataset).name}: {first.n_queries} queries", title_justify="left", caption_justify="left")
    table.add_column("configuration")
    for column in (*first.metrics, "ms/query"):
        table.add_column(column, justify="right")
    for report in reports:
        table.add_row(report.mode, *(f"{v:.4f}" for v in report.metrics.values()), f"{report.latency_ms['mean_per_query_batched']:.1f}")
    table.caption = "\n".join(f"{r.mode}: {r.model} on {r.factory}" for r in reports)
    out.print(table)
    if out_path:
        first.write(out_path)
        out.print(f"Report written to {out_path}")
    if out_dir:
        for report in reports:
            target = out_dir / f"{Path(dataset).name}-{report.mode}.json"
            report.write(target)
        out.print(f"{len(reports)} reports written to {out_dir}")


@eval_app.command("mteb")
@friendly_errors
def eval_mteb(
    model: str = typer.Option("minilm", help="Model: alias (minilm, minilm-colbert, modernbert, modernbert-colbert), folder or hub id."),
    tasks: Optional[str] = typer.Option(None, help="Comma-separated mteb retrieval tasks, e.g. SciFact,NFCorpus (data from the hub)."),
    local: Optional[Path] = typer.Option(None, help="A local BEIR folder to evaluate as an mteb task, fully offline."),
    name: Optional[str] = typer.Option(None, help="Task name for --local (default: the folder's name)."),
    mode: Optional[str] = typer.Option(None, help="dense or multivector (default: multivector for ColBERT models, else dense)."),
    use_index: bool = typer.Option(False, "--use-index", help="Search through this project's FAISS index instead of mteb's exact search."),
    index_type: str = typer.Option("flat", help=help_for("index_type") + " (with --use-index, dense)"),
    multivector_codec: str = typer.Option("pq", help=help_for("multivector_codec") + " (with --use-index, multivector)"),
    long_docs: str = typer.Option("chunk", help=help_for("long_docs") + " (with --use-index; mteb's exact search truncates)"),
    results: Path = typer.Option(Path("eval/results"), help="Results folder: mteb's JSON and this project's summaries."),
) -> None:
    """nDCG@10, Recall@100 and MRR@10 from mteb with the project's encoders (and, with --use-index, its indexes)."""
    from eval.mteb_runner import MtebSetup, default_mode, run_mteb

    task_names = [t.strip() for t in (tasks or "").split(",") if t.strip()]
    setup = MtebSetup(model=model, mode=mode or default_mode(model), use_index=use_index, index_type=index_type,
                      multivector_codec=multivector_codec, long_docs=long_docs)
    if setup.mode not in ("dense", "multivector"):
        raise ValueError(f"--mode must be dense or multivector, got {setup.mode!r}")
    summaries = run_mteb(setup, tasks=task_names, local=local, name=name, results_dir=results)
    table = Table(title=f"MTEB: {model} ({setup.mode}, {setup.configuration})", title_justify="left")
    for column in ("task", "ndcg@10", "recall@100", "mrr@10", "search ms/query", "seconds"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for summary in summaries:
        metrics, latency = summary["metrics"], summary["latency_ms"].get("mean_per_query_batched")
        table.add_row(summary["dataset"], *(f"{metrics[m]:.4f}" for m in ("ndcg@10", "recall@100", "mrr@10")),
                      f"{latency:.1f}" if latency is not None else "-", f"{summary['evaluation_seconds']:.0f}")
    out.print(table)
    for summary in summaries:
        out.print(f"Written: {summary['file']} and {summary['mteb_result']}")


@eval_app.command("report")
@friendly_errors
def eval_report(
    results: Path = typer.Argument(Path("eval/results"), help="Results folder with eval beir / eval mteb JSON reports."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Where to write report.md and the PNG plots (default: RESULTS)."),
) -> None:
    """A Markdown table and PNG plots (nDCG@10 per dataset and configuration; quality vs latency vs size)."""
    from eval.reports import render_report

    written = render_report(results, out_dir or results)
    out.print(written.markdown.read_text(encoding="utf-8"), markup=False, highlight=False)
    for path in (written.markdown, *written.plots):
        out.print(f"Written: {path}")
    for problem in written.problems:
        err.print(f"[yellow]Skipped:[/] {problem}", highlight=False)


@app.command()
@friendly_errors
def demo(
    model: str = typer.Option("minilm", help="Model for the demo index (the offline minilm by default)."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rebuild the demo index even if it exists."),
    serve_ui: bool = typer.Option(True, "--serve/--no-serve", help="Serve the Streamlit UI after the example searches."),
    port: int = typer.Option(8501, help="Port of the UI."),
) -> None:
    """Index the Python standard library's documentation (built once, then reused), search it, serve the UI."""
    from app.demo import EXAMPLE_QUERIES, ensure_demo_index
    from retrieval.searcher import Searcher

    index_dir, summary = ensure_demo_index(model=model, rebuild=rebuild)
    if summary is not None:
        print_build_summary(summary)
    else:
        out.print(f"Using the demo index at {index_dir} (pass --rebuild to build it again).")
    searcher = Searcher.load(index_dir)
    for query in EXAMPLE_QUERIES:
        print_results(searcher.search(query, k=5))
    out.print(f"Search it yourself: modernsearch search {index_dir} \"your question\"")
    if serve_ui:
        from app.serve import serve

        raise typer.Exit(serve([index_dir], port=port))


@app.command("app")
@friendly_errors
def app_command(
    index: list[Path] = typer.Option([], "--index", help="Index folder to serve (repeat for several). Default: the demo index."),
    port: int = typer.Option(8501, help="Port to listen on (localhost)."),
    results: Optional[Path] = typer.Option(None, help="Folder of evaluation reports for the Evaluation page (default: eval/results)."),
) -> None:
    """Start the Streamlit search UI on localhost."""
    from app.serve import serve

    for folder in index:
        if not (folder / "manifest.json").exists():
            err.print(f"[yellow]Warning:[/] {folder} has no manifest.json; the UI will explain how to build it.")
    raise typer.Exit(serve(list(index), port=port, results=results))


@bench_app.command("multivector")
@friendly_errors
def bench_multivector(
    dataset: Path = typer.Argument(..., help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv)."),
    model: str = typer.Option("minilm-colbert", help="ColBERT model whose token vectors every system shares."),
    scale: Optional[int] = typer.Option(None, help="Grow the collection to N documents with seeded distractors."),
    systems: str = typer.Option("exact,modernsearch,plaid,voyager", help="Comma-separated systems to run."),
    out_path: Optional[Path] = typer.Option(None, "--out", help="JSON results (default: eval/results/bench-multivector-DATASET-N.json)."),
) -> None:
    """Exact MaxSim vs this project's index vs PyLate PLAID and Voyager on the same token vectors."""
    from eval.bench_multivector import SYSTEMS, run_benchmark

    chosen = tuple(s.strip() for s in systems.split(",") if s.strip())
    unknown = [s for s in chosen if s not in SYSTEMS]
    if unknown:
        raise ValueError(f"Unknown systems {unknown}; choose from {', '.join(SYSTEMS)}.")
    report = run_benchmark(dataset, model=model, scale=scale, systems=chosen)
    target = out_path or Path("eval/results") / f"bench-multivector-{Path(dataset).name}-{report['documents']}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    exact = next((r for r in report["results"] if r["system"] == "exact"), None)
    table = Table(
        title=f"{Path(dataset).name}: {report['documents']:,} documents, {report['tokens']:,} tokens, {report['queries']} queries ({model})",
        title_justify="left",
    )
    for column in ("system", "nDCG@10", "vs exact", "Recall@100", "build s", "bytes/token", "p50 ms", "p95 ms", "peak RSS MiB"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for r in report["results"]:
        ratio = f"{r['metrics']['ndcg@10'] / exact['metrics']['ndcg@10']:.3f}" if exact and exact["metrics"]["ndcg@10"] else "-"
        table.add_row(r["system"], f"{r['metrics']['ndcg@10']:.4f}", ratio, f"{r['metrics']['recall@100']:.4f}",
                      f"{r['build_seconds']:.1f}", f"{r['bytes_per_token']:.1f}", f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}",
                      f"{r['peak_rss_mib']:.0f}")
    out.print(table)
    out.print(f"Results written to {target}")


@bench_app.command("encode")
@friendly_errors
def bench_encode(
    dataset: Path = typer.Argument(..., help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv)."),
    model: str = typer.Option("minilm", help="Dense model every variant runs."),
    variants: str = typer.Option("baseline,torch,onnx,onnx-int8", help="Comma-separated: baseline, torch, onnx, onnx-int8."),
    limit: Optional[int] = typer.Option(None, help="Encode only the first N documents."),
    out_path: Optional[Path] = typer.Option(None, "--out", help="JSON results (default: eval/results/bench-encode-DATASET.json)."),
) -> None:
    """Documents/s, tokens/s, peak memory and nDCG@10: plain SentenceTransformer.encode against this project's encoder per backend."""
    from eval.bench_encode import VARIANTS, run_encode_benchmark

    chosen = tuple(v.strip() for v in variants.split(",") if v.strip())
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown or not chosen or chosen[0] != "baseline":
        raise ValueError(f"--variants must start with baseline and name only {', '.join(VARIANTS)} (got {variants!r}).")
    report = run_encode_benchmark(dataset, model=model, variants=chosen, limit=limit)
    target = out_path or Path("eval/results") / f"bench-encode-{Path(dataset).name}.json"
    _write_report(target, report)
    base = report["results"][0]
    table = Table(title=f"{Path(dataset).name}: {report['documents']:,} documents ({model}, {report['machine']})", title_justify="left")
    for column in ("variant", "docs/s", "vs baseline", "tokens/s", "peak RSS MiB", "nDCG@10", "vs baseline "):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for r in report["results"]:
        table.add_row(r["variant"], f"{r['docs_per_second']:.1f}", f"{r['docs_per_second'] / base['docs_per_second']:.2f}x",
                      f"{r['tokens_per_second']:,.0f}", f"{r['peak_rss_mib']:.0f}", f"{r['metrics']['ndcg@10']:.4f}",
                      f"{r['metrics']['ndcg@10'] / base['metrics']['ndcg@10']:.3f}x")
    out.print(table)
    out.print(f"Results written to {target}")


@bench_app.command("long")
@friendly_errors
def bench_long(
    dataset: Path = typer.Argument(..., help="BEIR folder of long documents, e.g. ../shared/data/qmsum-long."),
    queries: int = typer.Option(200, help="Evaluate on this many judged queries (a seeded sample; 0 = all)."),
    out_path: Optional[Path] = typer.Option(None, "--out", help="JSON results (default: eval/results/bench-long-DATASET.json)."),
) -> None:
    """nDCG@10 and build time with long documents truncated to the model's input or chunked, for minilm and minilm-colbert."""
    from eval.bench_long import run_long_benchmark

    report = run_long_benchmark(dataset, queries=queries or None)
    target = out_path or Path("eval/results") / f"bench-long-{Path(dataset).name}.json"
    _write_report(target, report)
    table = Table(title=f"{Path(dataset).name}: {report['queries']:,} queries", title_justify="left")
    for column in ("model", "long docs", "chunks", "build s", "nDCG@10", "Recall@100", "chunk - truncate"):
        table.add_column(column, justify="left" if column in ("model", "long docs") else "right")
    truncated = {r["model"]: r["metrics"]["ndcg@10"] for r in report["results"] if r["long_docs"] == "truncate"}
    for r in report["results"]:
        gain = f"{r['metrics']['ndcg@10'] - truncated[r['model']]:+.4f}" if r["long_docs"] == "chunk" else ""
        table.add_row(r["model"], r["long_docs"], f"{r.get('chunks', 0):,}", f"{r['build_seconds']:.0f}",
                      f"{r['metrics']['ndcg@10']:.4f}", f"{r['metrics']['recall@100']:.4f}", gain)
    out.print(table)
    out.print(f"Results written to {target}")


def _write_report(target: Path, report: dict[str, Any]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    """Entry point of the ``modernsearch`` script."""
    app()


if __name__ == "__main__":
    sys.exit(main())
