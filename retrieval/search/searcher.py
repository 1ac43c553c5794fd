"""The searcher: one committed version of an index folder and the models its manifest names, answering queries."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from index.component import IndexComponent
from index.sharding import tolerating_missing_shards
from index.where import parse_where
from retrieval.components import recipe_for
from retrieval.config import SearchConfig
from retrieval.registry import HYBRID, NO_RERANK, encoder_arguments, explainers, fused_components, rerankers
from retrieval.search.explanations import passage, token_matches
from retrieval.search.opening import OpenIndex, open_committed
from retrieval.search.pipeline import first_stage, rerank, stage_components
from retrieval.search.query_text import check_query
from retrieval.search.results import AnswerTooLargeError, Candidate, Hit, SearchResult, TokenMatch

__all__ = ["Filter", "Hit", "SearchResult", "Searcher", "TokenMatch"]
Filter = Mapping[str, Any] | str | None  # a filter document (index.filters) or its text (index.where)


class Searcher:
    """Search one index folder. ``Searcher.load(DIR).search("query", k=10)``."""

    def __init__(self, opened: OpenIndex, encoders: dict[str, Any] | None = None, device: str | None = None) -> None:
        self._opened = opened
        self.index_dir: Path = opened.index_dir
        self.manifest = opened.manifest
        self._encoders = {name: e for name, e in (encoders or {}).items() if e is not None}
        self._device = device

    @classmethod
    def load(
        cls,
        index_dir: Path | str,
        *,
        verify: bool = True,
        encoder: Any = None,
        multivector_encoder: Any = None,
        encoders: dict[str, Any] | None = None,
        device: str | None = None,
    ) -> Searcher:
        """Open an index folder; checksums are verified unless ``verify=False``.

        The models are the ones the manifest names (loaded on first search unless given, by component name in
        ``encoders`` or as ``encoder``/``multivector_encoder``), never the defaults. The searcher holds one committed
        version (see :mod:`retrieval.search.opening`) until it is closed.
        """
        from retrieval.components import given_encoders

        return cls(
            open_committed(index_dir, verify=verify),
            given_encoders(encoders, encoder=encoder, multivector_encoder=multivector_encoder),
            device,
        )

    def component(self, name: str) -> IndexComponent:
        """The open component called ``name`` (``KeyError`` if the index has none)."""
        return self._opened.components[name]

    @property
    def modes(self) -> list[str]:
        """Search modes this index supports, the default first (hybrid, for an index with two fused components)."""
        available = [name for name in self._opened.components if recipe_for(name).role.searched_alone]
        if len(fused_components(self._opened.components)) >= 2:
            available.insert(0, HYBRID)
        return available

    def stage(self, mode: str) -> tuple[str, ...]:
        """The components a first stage in ``mode`` searches in this index."""
        return stage_components(mode, self._opened.components)

    def rerankers(self, mode: str) -> list[str]:
        """Components that can rerank the results of ``mode`` (they rescore candidates, and ``mode`` is not theirs).
        Their registered classes are asked, not the open objects (a sharded or remote proxy of any kind)."""
        return [name for name in rerankers() if name in self._opened.components and name not in self.stage(mode)]

    def explainer(self) -> str | None:
        """The component whose stored token vectors explain matches (:meth:`explain_hits`), if the index has one."""
        return next((name for name in explainers() if name in self._opened.components), None)

    def explains(self, mode: str, config: SearchConfig) -> bool:
        """Whether results of ``mode`` under ``config`` come with token explanations (:meth:`explain_hits`)."""
        explainer = self.explainer()
        return explainer is not None and explainer in (*self.stage(mode), config.rerank)

    def encoder_for(self, name: str) -> Any:
        """The query encoder of component ``name``, loaded on first use as its manifest section names it (for the dense
        model, its checked ONNX export where a build left one: no PyTorch import); ``None`` for one without a model."""
        if name not in self._encoders:
            model = getattr(self.manifest.components[name], "model", None)
            self._encoders[name] = recipe_for(name).stored_encoder(model, self._device, queries_only=True)
        return self._encoders[name]

    @property
    def encoder(self) -> Any:
        """The query encoder of the component the API's ``encoder=`` feeds (the dense model)."""
        return self.encoder_for(encoder_arguments()["encoder"])

    @property
    def multivector_encoder(self) -> Any:
        """The query encoder of the component the API's ``multivector_encoder=`` feeds (the ColBERT model)."""
        return self.encoder_for(encoder_arguments()["multivector_encoder"])

    def query_encoder(self, mode: str | None = None) -> Any:
        """The model a mode's queries go through first (``None`` for a mode without one, like BM25)."""
        return next(
            (e for e in (self.encoder_for(n) for n in self.stage(mode or self.modes[0])) if e is not None), None
        )

    def search_config(self, **given: Any) -> SearchConfig:
        """The settings a search uses: ``given`` ones, else those tuned for this index (``modernsearch tune --apply``),
        else the defaults."""
        tuned = self.manifest.tuned_search
        known = {f.name for f in dataclasses.fields(SearchConfig)}
        settings = {k: v for k, v in (tuned.settings if tuned else {}).items() if k in known}
        return SearchConfig(**{**settings, **given})

    def query_encoders(self, mode: str, config: SearchConfig) -> dict[str, Any]:
        """The query encoder of every component that a search in ``mode`` with ``config`` uses, the reranker's
        included (``None`` for BM25), loaded now if they were not."""
        reranker = self._reranker(mode, config)
        return {name: self.encoder_for(name) for name in (*self.stage(mode), *([reranker] if reranker else []))}

    def _reranker(self, mode: str, config: SearchConfig) -> str | None:
        """The component that rescores the first stage's results, unless the first stage already is that component."""
        return config.rerank if config.rerank != NO_RERANK and config.rerank not in self.stage(mode) else None

    def __len__(self) -> int:
        return int(self.manifest.documents.count)

    @overload
    def search(
        self,
        queries: str,
        k: int = 10,
        mode: str | None = None,
        config: SearchConfig | None = None,
        filter: Filter = None,
    ) -> SearchResult: ...
    @overload
    def search(
        self,
        queries: Sequence[str],
        k: int = 10,
        mode: str | None = None,
        config: SearchConfig | None = None,
        filter: Filter = None,
    ) -> list[SearchResult]: ...

    def search(
        self,
        queries: str | Sequence[str],
        k: int = 10,
        mode: str | None = None,
        config: SearchConfig | None = None,
        filter: Filter = None,
    ) -> SearchResult | list[SearchResult]:
        """Top-``k`` documents per query; a single string gives one result, a list gives a list of results.

        ``config`` sets hybrid fusion and reranking (see :class:`SearchConfig`). ``filter`` restricts the search to
        documents whose metadata it admits: a filter document (``{"year": {"$gte": 2020}}``, see
        :mod:`index.filters`) or its text spelling (``"year >= 2020"``, see :mod:`index.where`). Every component
        searches among the admitted documents, so ``k`` results come back whenever ``k`` documents match.
        """
        single = isinstance(queries, str)
        results = self.search_batch(
            [queries] if single else list(queries), k=k, mode=mode, config=config, filter=filter
        )
        return results[0] if single else results

    def search_batch(
        self,
        queries: Sequence[str],
        k: int = 10,
        mode: str | None = None,
        config: SearchConfig | None = None,
        filter: Filter = None,
        max_text_bytes: int | None = None,
    ) -> list[SearchResult]:
        """Search a batch of queries; timings are those of the whole batch divided per query. A sharded index served
        elsewhere may answer without shards that did not answer in time, if it was opened to: the results say which.

        ``max_text_bytes`` bounds what one query's hits may carry of stored documents (:meth:`Hit.stored_bytes`):
        beyond it the search stops with :class:`AnswerTooLargeError` before the next query's documents are read."""
        with tolerating_missing_shards() as missing:
            results = self._search_batch(queries, k, mode, config, filter, max_text_bytes)
        return [dataclasses.replace(r, missing_shards=tuple(sorted(missing))) for r in results] if missing else results

    def _search_batch(
        self,
        queries: Sequence[str],
        k: int,
        mode: str | None,
        config: SearchConfig | None,
        filter: Filter,
        max_text_bytes: int | None,
    ) -> list[SearchResult]:
        config = config or self.search_config()
        mode = mode or self.modes[0]
        self._check_request(queries, k, mode, config)
        started_filter = time.perf_counter()
        allowed = self.allowed(filter)
        filter_ms = (time.perf_counter() - started_filter) * 1000
        if not queries:
            return []
        if allowed is not None and len(allowed) == 0:  # nothing matches the filter
            return [SearchResult(q, [], mode, {"filter": round(filter_ms / len(queries), 2)}) for q in queries]
        reranker = self._reranker(mode, config)
        depth = max(k, config.rerank_depth) if reranker else k
        encoders = self.query_encoders(mode, config)  # models load before the clock starts

        started = time.perf_counter()
        sections = self.manifest.components
        encoded = {
            name: recipe_for(name).encode_queries(encoder, queries, sections[name])
            for name, encoder in encoders.items()
        }
        after_encoding = time.perf_counter()
        ranked = first_stage(self._opened.components, mode, encoded, depth, config, allowed)
        after_search = time.perf_counter()
        if reranker:
            label = recipe_for(reranker).score_name
            ranked = [rerank(self.component(reranker), label, c[:depth], q) for c, q in zip(ranked, encoded[reranker])]
        after_rerank = time.perf_counter()
        hits = (
            [self._hits(r[:k]) for r in ranked]
            if max_text_bytes is None
            else self._bounded_hits(ranked, k, max_text_bytes)
        )
        finished = time.perf_counter()
        n = len(queries)
        timings = {
            **({"filter": round(filter_ms / n, 2)} if allowed is not None else {}),
            "encode": round((after_encoding - started) * 1000 / n, 2),
            "search": round((after_search - after_encoding) * 1000 / n, 2),
            **({"rerank": round((after_rerank - after_search) * 1000 / n, 2)} if reranker else {}),
            "total": round(((finished - started) * 1000 + filter_ms) / n, 2),
        }
        return [SearchResult(q, h, mode, dict(timings)) for q, h in zip(queries, hits)]

    def allowed(self, filter: Filter) -> np.ndarray | None:
        """Row ids (sorted) of the documents ``filter`` admits; ``None`` for no filter."""
        if (
            filter is None
            or (isinstance(filter, str) and not filter.strip())
            or (isinstance(filter, Mapping) and not filter)
        ):
            return None
        return self._opened.store.matching(parse_where(filter) if isinstance(filter, str) else filter)

    def metadata_fields(self) -> dict[str, dict[str, Any]]:
        """Per metadata field: type, documents holding it, distinct values, smallest and largest value."""
        return self._opened.store.metadata_stats()

    def metadata_values(self, field: str, limit: int = 50) -> list[tuple[Any, int]]:
        """A field's most frequent values with their document counts."""
        return self._opened.store.metadata_values(field, limit)

    def _check_request(self, queries: Sequence[str], k: int, mode: str, config: SearchConfig) -> None:
        if mode not in self.modes:
            raise ValueError(f"This index supports modes {self.modes}, not {mode!r}.")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if config.rerank != NO_RERANK and config.rerank not in self._opened.components:
            raise ValueError(
                f"rerank={config.rerank!r} needs a {config.rerank} component in the index (build with a mode that "
                "includes it)."
            )
        for q in queries:
            check_query(q)

    def _hits(self, ranked: list[Candidate]) -> list[Hit]:
        store = self._opened.store
        docs = store.get([c.row_id for c in ranked])
        found = [(c, d) for c, d in zip(ranked, docs) if d is not None]
        chunked = [(c.row_id, c.chunk) for c, _ in found if c.chunk >= 0]
        spans = store.chunk_spans(chunked) if chunked else {}
        return [
            Hit(
                rank,
                doc.id,
                c.score,
                doc.title,
                doc.text,
                doc.metadata,
                c.components,
                passage(spans.get((c.row_id, c.chunk)), doc),
            )
            for rank, (c, doc) in enumerate(found, start=1)
        ]

    def _bounded_hits(self, ranked: list[list[Candidate]], k: int, max_text_bytes: int) -> list[list[Hit]]:
        """:meth:`_hits` of each query in turn, stopping at the first whose documents hold over ``max_text_bytes``."""
        answers = []
        for number, candidates in enumerate(ranked):
            hits = self._hits(candidates[:k])
            size = sum(h.stored_bytes() for h in hits)
            if size > max_text_bytes:
                raise AnswerTooLargeError(size, max_text_bytes, number)
            answers.append(hits)
        return answers

    def explain(self, query: str, doc_id: str) -> list[TokenMatch]:
        """For each query token, the document token it matches best under MaxSim, with the similarity."""
        return self.explain_hits(query, [doc_id])[doc_id]

    def explain_hits(self, query: str, doc_ids: Sequence[str]) -> dict[str, list[TokenMatch]]:
        """:meth:`explain` for several documents, encoding the query once (see
        :func:`retrieval.search.explanations.token_matches`)."""
        explainer = self.explainer()
        if explainer is None:
            raise ValueError(
                "Token explanations need a multi-vector index (build with mode multivector, both or hybrid)."
            )
        return token_matches(
            self.component(explainer),
            self.manifest.components[explainer].chunking,
            self.encoder_for(explainer),
            self._opened.store,
            query,
            doc_ids,
            self.index_dir,
        )

    def document(self, doc_id: str) -> Any:
        """The stored document with id ``doc_id`` (:class:`index.documents.Document`), or ``None``."""
        row = self._opened.store.row_id(doc_id)
        return None if row is None else self._opened.store.get([row])[0]

    def row_of(self, doc_id: str) -> int | None:
        """The index's row id of a document (the order fusion and rerank break score ties by), or ``None``."""
        return self._opened.store.row_id(doc_id)

    def documents_sample(self, n: int = 20) -> list[Any]:
        """The first ``n`` documents, for index previews."""
        return self._opened.store.sample(n)

    def close(self) -> None:
        """Release the document store."""
        self._opened.close()
