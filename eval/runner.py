"""Run an evaluation end to end: open (or build) an index, search every judged query, score the run."""

from __future__ import annotations

import tempfile
from pathlib import Path

from eval.beir import BeirDataset, EvalReport, evaluate_searcher, load_beir
from retrieval.builder import build_index
from retrieval.config import BuildConfig
from retrieval.searcher import Searcher


def run_beir(
    dataset_dir: Path | str,
    *,
    index: Path | str | None = None,
    model: str | None = None,
    index_type: str = "flat",
    mode: str | None = None,
    split: str = "test",
    depth: int = 100,
    progress: bool = True,
) -> EvalReport:
    """Evaluate an existing index, or a temporary one built from the dataset's corpus with ``model``."""
    dataset = load_beir(dataset_dir, split=split)
    if index is not None:
        return _evaluate(Searcher.load(index), dataset, mode, depth, progress)
    with tempfile.TemporaryDirectory(prefix="modernsearch-eval-") as scratch:
        folder = Path(scratch) / "index"
        build_mode = "multivector" if mode == "multivector" else "dense"
        build_index(dataset.corpus_path, folder, BuildConfig(model=model, mode=build_mode, index_type=index_type), progress=progress)
        searcher = Searcher.load(folder)
        try:
            report = _evaluate(searcher, dataset, mode, depth, progress)
        finally:
            searcher.close()
        report.index = f"temporary ({index_type}, built from {dataset.corpus_path})"
        return report


def _evaluate(searcher: Searcher, dataset: BeirDataset, mode: str | None, depth: int, progress: bool) -> EvalReport:
    from tqdm.auto import tqdm

    with tqdm(total=len(dataset.judged_queries), desc="Searching", unit=" query", disable=not progress) as bar:
        return evaluate_searcher(searcher, dataset, mode=mode, depth=depth, on_batch=bar.update)
