"""MkDocs hooks: the evaluation plots under eval/results/ are published with the site (as results/NAME.png), so the
pages show the files `modernsearch eval report` wrote instead of copies that could go stale."""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

RESULTS = Path(__file__).resolve().parent.parent / "eval" / "results"


def on_files(files: Files, config) -> Files:
    for plot in sorted(RESULTS.glob("*.png")):
        files.append(File.generated(config, f"results/{plot.name}", abs_src_path=str(plot)))
    return files
