"""Commands that write or check an index: build, info, add, delete, compact, verify."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from app.commands.console import after_commit, error_line, friendly_errors, out, snippet, warning_line
from app.commands.settings_options import settings_options
from index.format import human_bytes
from retrieval.config import BuildConfig


@friendly_errors
@settings_options(BuildConfig)
def build(
    corpus: Path | None = typer.Argument(
        None, help="BEIR folder, .jsonl/.csv/.tsv/.parquet file, or folder of .txt/.md files."
    ),
    index: Path = typer.Option(
        ..., "--index", help="Index folder to write (replaced atomically when the build succeeds)."
    ),
    hf_dataset: str | None = typer.Option(
        None, "--hf-dataset", help="Hugging Face dataset name, or a folder saved with save_to_disk."
    ),
    resume: bool = typer.Option(
        True,
        "--resume/--no-resume",
        help="Continue an interrupted build of the same corpus and settings from its last encoded batch "
        "(--no-resume starts over).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the build summary as JSON."),
    *,
    settings: BuildConfig,
) -> None:
    """Encode a corpus and write an index folder."""
    from retrieval.build.builder import build_index

    if (corpus is None) == (hf_dataset is None):
        raise ValueError("Give either a CORPUS path or --hf-dataset NAME (not both).")
    summary = build_index(hf_dataset or corpus, index, settings, hf_dataset=hf_dataset is not None, resume=resume)
    after_commit(print_build, summary, as_json)


def print_build(summary: Any, as_json: bool) -> None:
    """The build summary as a table, or JSON."""
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
    table.add_row(
        "skipped",
        f"{summary.skipped_empty:,} empty, {summary.skipped_invalid:,} invalid, {summary.duplicates:,} duplicate ids",
    )
    if summary.replaced_encoding:
        table.add_row("encoding", f"{summary.replaced_encoding:,} lines with invalid UTF-8 replaced")
    table.add_row(
        "time",
        f"{summary.seconds:.1f} s total, {summary.encode_seconds:.1f} s encoding "
        f"({summary.docs_per_second:.1f} docs/s)",
    )
    table.add_row("index size", human_bytes(summary.index_bytes))
    for kind, counts in summary.long_documents.items():
        if counts.get("chunked") or counts.get("truncated"):
            table.add_row(
                f"long documents ({kind})",
                f"{counts['chunked']:,} chunked into {counts['chunks']:,} chunks in all, "
                f"{counts['truncated']:,} truncated",
            )
    if summary.resumed_from:
        table.add_row("resumed", f"from an interrupted build with {summary.resumed_from:,} documents already encoded")
    out.print(table)
    for problem in summary.problems:
        warning_line(problem, "skipped: ")


@friendly_errors
def shard(
    index: Path = typer.Argument(..., help="Index folder to split (it stays as it is)."),
    out_dir: Path = typer.Option(
        ..., "--out", help="Folder for the sharded index (a new one, or an index to replace with --replace)."
    ),
    shards: int = typer.Option(..., help="Number of shards (2 to the index's documents)."),
    replace: bool = typer.Option(False, "--replace", help="Replace the index already at --out."),
) -> None:
    """Write a sharded copy of an index, encoding nothing again: the shards answer every search as the index does."""
    from index.shard_folders import shard_index

    manifest = shard_index(index, out_dir, shards, replace=replace)
    for name, entry in manifest.shards.items():
        out.print(f"{out_dir / name}: {entry.documents:,} documents (rows {entry.first_row} to {entry.last_row})")


@friendly_errors
def info(
    index: Path = typer.Argument(..., help="Index folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole manifest as JSON."),
) -> None:
    """Print an index's manifest: model, dimensions, mode, FAISS factory, counts, sizes, version, time."""
    from index.format import manifest_summary
    from retrieval.search.opening import open_committed

    opened = open_committed(index, verify=False)  # a sharded index's stores are read as one
    try:
        manifest, fields = opened.manifest, opened.store.metadata_stats()
    finally:
        opened.close()
    if as_json:
        print(json.dumps({**manifest.to_json(), "metadata_fields": fields}, indent=2, ensure_ascii=False, default=str))
        return
    table = Table(title=str(index), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for row in manifest_summary(manifest):
        table.add_row(*row)
    out.print(table)
    if fields:
        out.print(metadata_table(fields))


def metadata_table(fields: dict[str, dict[str, Any]]) -> Table:
    """The metadata fields of an index: type, documents holding each, distinct values and range."""
    table = Table(title="metadata fields (filter with --where or --filter)", title_justify="left")
    for column, justify in (
        ("field", "left"),
        ("type", "left"),
        ("documents", "right"),
        ("distinct values", "right"),
        ("range", "left"),
    ):
        table.add_column(column, justify=justify, overflow="fold")
    for name, stats in fields.items():
        shown = (
            "" if stats["min"] is None or stats["type"] in ("json", "boolean") else f"{stats['min']} .. {stats['max']}"
        )
        table.add_row(name, stats["type"], f"{stats['documents']:,}", f"{stats['distinct']:,}", snippet(shown, 60))
    return table


ADD_SETTINGS = {"upsert"}  # what `add` takes; other remedies name build settings the index records


@friendly_errors
def add(
    index: Path = typer.Argument(..., help="Index folder to update."),
    corpus: Path = typer.Argument(
        ..., help="Documents to add, in any format `build` reads (read with the index's field settings)."
    ),
    upsert: bool = typer.Option(
        False, "--upsert", help="Replace documents whose ids the index already holds (else that is an error)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the update summary as JSON."),
) -> None:
    """Add documents to an index (dense, multi-vector and BM25 parts) without rebuilding it."""
    from retrieval.build.updater import add_documents
    from retrieval.corpus.readers import CorpusError

    try:
        summary = add_documents(index, corpus, upsert=upsert)
    except CorpusError as error:
        if set(error.settings) <= ADD_SETTINGS:
            raise
        raise CorpusError(
            error.problem,
            "Fix these documents: the index reads them with the field and encoding "
            "settings it was built with (modernsearch info shows them).",
        ) from None
    after_commit(print_update, summary, as_json)


@friendly_errors
def delete(
    index: Path = typer.Argument(..., help="Index folder to update."),
    ids: str | None = typer.Option(
        None, "--ids", help="Comma-separated document ids, exactly as stored (never read as a file name)."
    ),
    ids_file: Path | None = typer.Option(
        None, "--ids-file", help="A file of document ids, one per line, exactly as stored."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the update summary as JSON."),
) -> None:
    """Delete documents by id from every part of an index; they never appear in results again."""
    from retrieval.build.updater import delete_documents
    from retrieval.corpus.readers import read_lines

    if (ids is None) == (ids_file is None):
        raise ValueError("Give the ids to delete with either --ids ID,ID,... or --ids-file PATH (not both).")
    wanted = ids.split(",") if ids is not None else read_lines(ids_file)
    wanted = [i for i in wanted if i]
    if not wanted:
        raise ValueError("No document ids given: --ids or --ids-file names no documents.")
    summary = delete_documents(index, wanted)
    after_commit(print_update, summary, as_json)


@friendly_errors
def compact(
    index: Path = typer.Argument(..., help="Index folder to compact."),
    retrain: str = typer.Option(
        "auto", help="Retrain centroids: auto (when drift exceeds --drift-threshold), always, or never."
    ),
    drift_threshold: float = typer.Option(
        1.2, help="Drift ratio (now / right after training) above which auto retrains."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the compaction summary as JSON."),
) -> None:
    """Rewrite an index as a new version: reclaim the space updates left, retrain centroids if the data drifted."""
    from retrieval.build.compaction import compact_index

    summary = compact_index(index, retrain=retrain, threshold=drift_threshold)
    after_commit(print_compaction, summary, as_json)


def print_compaction(summary: Any, as_json: bool) -> None:
    """One line (or JSON) saying what compaction did."""
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


def print_update(summary: Any, as_json: bool) -> None:
    """One line (or JSON) saying what an update changed."""
    if as_json:
        print(json.dumps(summary.to_dict(), indent=2))
        return
    if summary.added or summary.replaced or summary.deleted:
        out.print(
            f"Updated {summary.index_dir}: {summary.added:,} added, {summary.replaced:,} replaced, {summary.deleted:,} "
            f"deleted; {summary.documents:,} documents now ({summary.seconds:.1f} s)."
        )
    else:
        out.print(f"{summary.index_dir} is unchanged ({summary.documents:,} documents).")
    if summary.not_found:
        shown = ", ".join(repr(i) for i in summary.not_found[:10]) + (" …" if len(summary.not_found) > 10 else "")
        warning_line(shown, "Not in the index: ")


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
        table.add_row(
            check.name, Text("ok", style="green") if check.ok else Text("FAILED", style="bold red"), check.detail
        )
    out.print(table)
    failed = [c.name for c in checks if not c.ok]
    if failed:
        error_line(f"{len(failed)} check(s) failed ({', '.join(failed)}). Rebuild the index from its corpus.")
        raise typer.Exit(1)
