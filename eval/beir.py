"""BEIR-style evaluation: read queries and qrels, run an index, score with pytrec_eval.

Runs and qrels are ``{query_id: {doc_id: score}}`` end to end; nothing is keyed by text.
"""

from __future__ import annotations

import csv
import json
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.component import component_type
from index.manifest import Manifest
from index.where import where_text
from retrieval.registry import HYBRID
from retrieval.search.pipeline import stage_components

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]

METRICS = ("ndcg@10", "recall@100", "mrr@10")


class DatasetError(ValueError):
    """A BEIR dataset folder is missing a file or has a malformed line."""


@dataclass(frozen=True)
class BeirDataset:
    """A BEIR folder: where the corpus is, the queries, and the relevance judgments."""

    root: Path
    queries: dict[str, str]
    qrels: Qrels

    @property
    def corpus_path(self) -> Path:
        return self.root / "corpus.jsonl"

    @property
    def judged_queries(self) -> dict[str, str]:
        """Queries that have at least one judgment, the ones metrics are averaged over."""
        return {qid: text for qid, text in self.queries.items() if qid in self.qrels}


def load_beir(root: Path | str, split: str = "test") -> BeirDataset:
    """Read ``queries.jsonl`` and ``qrels/<split>.tsv`` of a BEIR folder, with errors naming file and line."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder. Point at a BEIR folder with corpus.jsonl, queries.jsonl, qrels/.")
    for needed in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (root / needed).exists():
            raise DatasetError(
                f"{root / needed} is missing; a BEIR folder needs corpus.jsonl, queries.jsonl and qrels/{split}.tsv."
            )
    queries = read_queries_file(root / "queries.jsonl")
    qrels = _read_qrels(root / "qrels" / f"{split}.tsv")
    unknown = [qid for qid in qrels if qid not in queries]
    if unknown:
        raise DatasetError(
            f"{root / 'qrels' / f'{split}.tsv'} judges {len(unknown)} queries missing from queries.jsonl "
            f"(for example {unknown[:3]})."
        )
    return BeirDataset(root, queries, qrels)


def check_judged_documents(dataset: BeirDataset, corpus_ids: set[str], split: str = "test") -> None:
    """Fail when the qrels judge documents the corpus does not have: metrics would silently count them as misses."""
    unknown = sorted({doc for docs in dataset.qrels.values() for doc in docs} - corpus_ids)
    if unknown:
        raise DatasetError(
            f"{dataset.root / 'qrels' / f'{split}.tsv'} judges {len(unknown)} documents missing from "
            f"{dataset.corpus_path.name} (for example {unknown[:3]}). Fix the ids or use the matching corpus."
        )


def _records(path: Path) -> Iterator[tuple[int, str, Any, dict[str, Any]]]:
    """``(line number, _id, text, record)`` of every non-blank line of a BEIR JSONL file, with errors naming file and
    line."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                yield number, str(record["_id"]), record["text"], record
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise DatasetError(f"{path}: line {number}: expected a JSON object with _id and text ({err}).") from err


def read_corpus_records(path: Path) -> Iterator[dict[str, str]]:
    """``{"id", "title", "text"}`` for every document of a BEIR ``corpus.jsonl``."""
    for _, doc_id, text, record in _records(path):
        yield {"id": doc_id, "title": str(record.get("title") or ""), "text": str(text)}


def corpus_ids(path: Path) -> set[str]:
    """The id of every document of a BEIR ``corpus.jsonl``."""
    return {record["id"] for record in read_corpus_records(path)}


def read_queries_file(path: Path) -> dict[str, str]:
    """Query id -> text of a BEIR ``queries.jsonl``, in file order."""
    queries: dict[str, str] = {}
    for number, qid, text, _ in _records(path):
        if not isinstance(text, str) or not text.strip():
            raise DatasetError(f"{path}: line {number}: query {qid!r} has empty text.")
        queries[qid] = text
    if not queries:
        raise DatasetError(f"{path} has no queries.")
    return queries


def _read_qrels(path: Path) -> Qrels:
    qrels: Qrels = {}
    with open(path, encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        for number, row in enumerate(rows, start=1):
            if not row or (number == 1 and row[0] in ("query-id", "query_id", "qid")):
                continue
            if len(row) < 3:
                raise DatasetError(f"{path}: line {number}: expected 'query-id<TAB>corpus-id<TAB>score', got {row!r}.")
            try:
                qrels.setdefault(row[0], {})[row[1]] = int(float(row[2]))
            except ValueError as err:
                raise DatasetError(f"{path}: line {number}: score {row[2]!r} is not a number.") from err
    if not qrels:
        raise DatasetError(f"{path} has no judgments.")
    return qrels


def evaluate_run(run: Run, qrels: Qrels) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Mean and per-query nDCG@10, Recall@100 and MRR@10 of a run, computed by pytrec_eval.

    Queries in the qrels that the run misses count as zero, as in BEIR. MRR@10 is
    trec_eval's reciprocal rank over each run cut to its top 10.

    >>> qrels = {"q1": {"d1": 1}, "q2": {"d3": 1}}
    >>> run = {"q1": {"d1": 0.9, "d2": 0.5}, "q2": {"d2": 0.9, "d3": 0.5}}
    >>> mean, _ = evaluate_run(run, qrels)
    >>> round(mean["mrr@10"], 3), round(mean["recall@100"], 3)
    (0.75, 1.0)
    """
    import pytrec_eval

    judged = {qid: docs for qid, docs in qrels.items() if docs}
    full = {qid: run.get(qid, {}) for qid in judged}
    cut10 = {qid: dict(sorted(docs.items(), key=lambda kv: (-kv[1], kv[0]))[:10]) for qid, docs in full.items()}
    main = pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut.10", "recall.100"}).evaluate(full)
    rr = pytrec_eval.RelevanceEvaluator(judged, {"recip_rank"}).evaluate(cut10)
    per_query = {
        qid: {
            "ndcg@10": main.get(qid, {}).get("ndcg_cut_10", 0.0),
            "recall@100": main.get(qid, {}).get("recall_100", 0.0),
            "mrr@10": rr.get(qid, {}).get("recip_rank", 0.0),
        }
        for qid in judged
    }
    mean = {m: statistics.fmean(v[m] for v in per_query.values()) for m in METRICS}
    return mean, per_query


@dataclass
class EvalReport:
    """Metrics of one configuration on one dataset, with per-query values and latency."""

    dataset: str
    index: str
    model: str
    mode: str
    factory: str
    n_queries: int
    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]]
    latency_ms: dict[str, float] = field(default_factory=dict)
    index_bytes: int = 0
    filter: str | None = None
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, the format other tools (the UI's evaluation page, reports) read."""
        return {
            "kind": "beir",
            "dataset": self.dataset,
            "index": self.index,
            "model": self.model,
            "mode": self.mode,
            "factory": self.factory,
            "n_queries": self.n_queries,
            "metrics": self.metrics,
            "latency_ms": self.latency_ms,
            "index_bytes": self.index_bytes,
            **({"filter": self.filter} if self.filter else {}),
            "created_at": self.created_at,
            "per_query": self.per_query,
        }

    def write(self, path: Path | str) -> None:
        """Write the report as JSON."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def evaluate_searcher(
    searcher: Any,
    dataset: BeirDataset,
    *,
    mode: str | None = None,
    config: Any = None,
    depth: int = 100,
    batch_size: int = 32,
    on_batch: Callable[[int], None] | None = None,
    filter: Any = None,
) -> EvalReport:
    """Retrieve the top ``depth`` documents for every judged query and score the run.

    ``config`` (a ``SearchConfig``) sets hybrid fusion and reranking; ``filter`` (a metadata filter document or
    its text) restricts every search.
    """
    queries = dataset.judged_queries
    ids: Sequence[str] = list(queries)
    run: Run = {}
    mode = mode or searcher.modes[0]
    config = config or searcher.search_config()  # what the searches use, so the report names it
    searcher.search_batch(
        [queries[ids[0]]], k=1, mode=mode, config=config, filter=filter
    )  # warm-up: model loading is not query latency
    started = time.perf_counter()
    for start in range(0, len(ids), batch_size):
        part = ids[start : start + batch_size]
        for qid, result in zip(
            part, searcher.search_batch([queries[q] for q in part], k=depth, mode=mode, config=config, filter=filter)
        ):
            run[qid] = {hit.id: hit.score for hit in result.hits}
        if on_batch:
            on_batch(len(part))
    elapsed = time.perf_counter() - started
    mean, per_query = evaluate_run(run, dataset.qrels)
    manifest = searcher.manifest
    label, model, structure = describe_configuration(manifest, mode, config)
    return EvalReport(
        dataset=str(dataset.root),
        index=str(searcher.index_dir),
        model=model,
        mode=label,
        factory=structure,
        n_queries=len(ids),
        metrics=mean,
        per_query=per_query,
        latency_ms={"mean_per_query_batched": round(elapsed * 1000 / max(1, len(ids)), 2)},
        index_bytes=manifest.payload_bytes,
        filter=(filter if isinstance(filter, str) else where_text(filter)) if filter else None,
    )


def describe_configuration(manifest: Manifest, mode: str, config: Any = None) -> tuple[str, str, str]:
    """``(mode label, model specs, index structure)`` of one search configuration, for reports: the parts of the
    components its first stage uses, then ``> reranker``.

    >>> from types import SimpleNamespace
    >>> from index.components.bm25 import BM25Section
    >>> from index.components.dense import DenseSection
    >>> from index.components.multivector import MultiVectorSection
    >>> manifest = SimpleNamespace(components={
    ...     "dense": DenseSection({"spec": "minilm"}, "IDMap2,Flat", 384, 10),
    ...     "multivector": MultiVectorSection({"spec": "minilm-colbert"}, "pq", 512, 128, 10, 900),
    ...     "bm25": BM25Section(1.5, 0.75, "lucene", 10, 99)})
    >>> describe_configuration(manifest, "hybrid", SimpleNamespace(fusion="rrf", rerank="multivector"))
    ('hybrid-rrf+rerank', 'minilm + BM25 > minilm-colbert', 'IDMap2,Flat + BM25(k1=1.5,b=0.75) > MV512,PQ')
    """

    def part(name: str) -> tuple[str, str]:
        section = manifest.components[name]
        model = getattr(section, "model", None)
        return (model.get("spec") if model else name.upper()), component_type(name).label(section)

    stage = stage_components(mode, manifest.components)
    used = [part(name) for name in stage]
    label = f"hybrid-{config.fusion if config else 'rrf'}" if mode == HYBRID else mode
    tuned = getattr(manifest, "tuned_search", None)
    if mode == HYBRID and config is not None and tuned is not None:
        label += " (tuned)" if all(getattr(config, k) == v for k, v in tuned.settings.items()) else " (not tuned)"
    model = " + ".join(u[0] for u in used)
    structure = " + ".join(u[1] for u in used)
    if (
        config is not None
        and config.rerank != "none"
        and config.rerank not in stage_components(mode, manifest.components)
    ):
        reranker = part(config.rerank)
        label, model, structure = f"{label}+rerank", f"{model} > {reranker[0]}", f"{structure} > {reranker[1]}"
    return label, model, structure
