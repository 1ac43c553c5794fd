"""Run an evaluation end to end: open (or build) an index, search every judged query, score the run."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eval.beir import BeirDataset, EvalReport, check_judged_documents, corpus_ids, evaluate_searcher, load_beir
from retrieval.build.builder import build_index
from retrieval.config import BuildConfig, SearchConfig
from retrieval.registry import (
    DEFAULT_BUILD_MODE,
    MULTIVECTOR,
    build_modes,
    mode_components,
    rerankers,
    search_modes,
)
from retrieval.search.pipeline import stage_components
from retrieval.search.searcher import Filter, Searcher


def parse_configuration(spec: str, base: SearchConfig = SearchConfig()) -> tuple[str, SearchConfig]:
    """``"hybrid+rerank"`` -> ``("hybrid", base with rerank=multivector)``: a search mode, optionally reranked (by the
    first component that can rescore);
    ``@default`` at the end puts the library's default settings in place of ``base`` (an index's tuned settings).

    >>> parse_configuration("bm25+rerank")[1].rerank, parse_configuration("dense")[1].rerank
    ('multivector', 'none')
    >>> parse_configuration("hybrid@default", SearchConfig(fusion="linear", alpha=1.0))[1] == SearchConfig()
    True
    """
    spec, at, default = spec.partition("@")
    mode, plus, suffix = spec.partition("+")
    if mode not in search_modes() or (plus and suffix != "rerank") or (at and default != "default"):
        raise ValueError(
            f"Unknown configuration {spec + at + default!r}: use one of {', '.join(search_modes())}, optionally "
            f"with +rerank, and @default for the default settings instead of the index's tuned ones."
        )
    base = SearchConfig() if at else base
    return mode, base.with_changes(rerank=rerankers()[0]) if plus else base


def build_mode_for(modes: Sequence[str]) -> str:
    """The smallest build mode whose index can answer every one of these search modes (and rerankers).

    >>> build_mode_for(["dense"]), build_mode_for(["dense", "multivector"]), build_mode_for(["bm25"])
    ('dense', 'both', 'hybrid')
    """
    needs = set()
    for spec in modes:
        mode, plus, _ = spec.partition("+")
        needs.update(stage_components(mode), rerankers()[:1] if plus else ())
    fitting = [mode for mode in build_modes() if needs <= set(mode_components(mode))]
    if not fitting:
        raise ValueError(f"no build mode gives an index with {', '.join(sorted(needs))}")
    return min(fitting, key=lambda mode: len(mode_components(mode)))


def run_beir(
    dataset_dir: Path | str,
    *,
    index: Path | str | None = None,
    build: BuildConfig | None = None,
    configurations: Sequence[str] = (),
    search_settings: Mapping[str, Any] | None = None,
    split: str = "test",
    depth: int = 100,
    progress: bool = True,
    filter: Filter = None,
) -> list[EvalReport]:
    """Evaluate each configuration (``dense``, ``hybrid+rerank``, ...; default: the index's default mode) on one
    index: an existing one, or a temporary one built from the dataset's corpus with the ``build`` settings (their
    mode is chosen to serve the configurations). ``search_settings`` (SearchConfig fields) override the settings
    tuned for the index and the defaults. A metadata ``filter`` restricts every search (judged documents it excludes
    count as misses)."""
    if (index is None) == (build is None):
        raise ValueError(
            "Evaluate either an existing index or a temporary one built with the given settings, not both."
        )
    for spec in configurations:
        parse_configuration(spec)  # a typo fails now, not after a long build
    dataset = load_beir(dataset_dir, split=split)
    check_judged_documents(dataset, corpus_ids(dataset.corpus_path), split)
    if index is not None:
        searcher = Searcher.load(index)
        try:
            return _evaluate_all(
                searcher,
                dataset,
                configurations,
                searcher.search_config(**(search_settings or {})),
                depth,
                progress,
                filter,
            )
        finally:
            searcher.close()
    with tempfile.TemporaryDirectory(prefix="modernsearch-eval-") as scratch:
        folder = Path(scratch) / "index"
        mode = build_mode_for(configurations or [DEFAULT_BUILD_MODE])
        model = build.model if mode != MULTIVECTOR else (build.multivector_model or build.model)
        config = build.with_changes(mode=mode, model=model)
        build_index(dataset.corpus_path, folder, config, progress=progress)
        searcher = Searcher.load(folder)
        try:
            reports = _evaluate_all(
                searcher,
                dataset,
                configurations or [DEFAULT_BUILD_MODE],
                SearchConfig(**(search_settings or {})),
                depth,
                progress,
                filter,
            )
        finally:
            searcher.close()
        for report in reports:
            report.index = f"temporary ({config.index_type}, built from {dataset.corpus_path})"
        return reports


def _evaluate_all(
    searcher: Searcher,
    dataset: BeirDataset,
    configurations: Sequence[str],
    base: SearchConfig,
    depth: int,
    progress: bool,
    filter: Filter = None,
) -> list[EvalReport]:
    from tqdm.auto import tqdm

    reports = []
    for spec in configurations or [searcher.modes[0]]:
        mode, config = parse_configuration(spec, base)
        with tqdm(
            total=len(dataset.judged_queries), desc=f"Searching ({spec})", unit=" query", disable=not progress
        ) as bar:
            reports.append(
                evaluate_searcher(
                    searcher, dataset, mode=mode, config=config, depth=depth, on_batch=bar.update, filter=filter
                )
            )
    return reports
