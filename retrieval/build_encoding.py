"""The build's encoding pass: every stored document, once per encoder, appended to scratch files with a
committed checkpoint after each unit of work, so a killed build resumes where it stopped.

Documents are taken in steps of ``8 x batch_size``. A step is one unit of work, except that a document
with more chunks than a step's worth (``8 x batch_size`` chunks) is encoded on its own, in groups of that
many chunks, with a checkpoint after each group: a resumed build continues inside such a document, and
memory stays bounded by a group whatever the document's length. Unit boundaries depend only on the
documents of the step, so an interrupted and resumed build encodes exactly the batches an uninterrupted
one does (and writes the same bytes).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Sequence

import numpy as np

from index.chunks import pack_ids
from index.docstore import DocumentStore
from retrieval.build_progress import (
    SCRATCH_EMBEDDINGS,
    SCRATCH_LENGTHS,
    SCRATCH_SPANS,
    SCRATCH_TOKENS,
    SCRATCH_VECTOR_IDS,
    BuildProgress,
    reopened_scratch,
)
from retrieval.chunking import Chunk, ChunkPolicy
from retrieval.config import BuildConfig
from retrieval.document_encoding import (
    chunk_policy,
    chunk_spans,
    encode_dense,
    encode_multivector,
    long_document_counts,
    plan_chunks,
)


@dataclass(frozen=True)
class Unit:
    """Documents ``[start, end)`` of a step encoded and committed together; ``long`` is one document
    encoded in checkpointed groups of chunks."""

    start: int
    end: int
    long: bool = False


def plan_units(chunk_counts: Sequence[int], group: int) -> list[Unit]:
    """Split a step into units: runs of ordinary documents, and each document of more than ``group`` chunks alone.

    >>> plan_units([1, 1, 40, 2, 1], group=16)
    [Unit(start=0, end=2, long=False), Unit(start=2, end=3, long=True), Unit(start=3, end=5, long=False)]
    >>> plan_units([1, 3], group=16)
    [Unit(start=0, end=2, long=False)]
    """
    units: list[Unit] = []
    start = 0
    for i, count in enumerate(chunk_counts):
        if count > group:
            if start < i:
                units.append(Unit(start, i))
            units.append(Unit(i, i + 1, long=True))
            start = i + 1
    if start < len(chunk_counts):
        units.append(Unit(start, len(chunk_counts)))
    return units


class ScratchWriter:
    """The append-only scratch files of one build, committed together with the progress record."""

    def __init__(self, staging: Path, encoders: dict[str, Any], work: BuildProgress) -> None:
        names = [SCRATCH_EMBEDDINGS, SCRATCH_VECTOR_IDS, SCRATCH_SPANS] if "dense" in encoders else []
        names += [SCRATCH_TOKENS, SCRATCH_LENGTHS] if "multivector" in encoders else []
        self.staging, self.work = staging, work
        self.files: dict[str, BinaryIO] = {name: reopened_scratch(staging / name, work.scratch_bytes.get(name, 0)) for name in names}

    def write(self, name: str, array: np.ndarray) -> None:
        self.files[name].write(np.ascontiguousarray(array).tobytes())

    def commit(self) -> None:
        """Flush and fsync every scratch file, then record their sizes and the progress atomically."""
        for handle in self.files.values():
            handle.flush()
            os.fsync(handle.fileno())
        self.work.scratch_bytes = {name: handle.tell() for name, handle in self.files.items()}
        self.work.save(self.staging)

    def close(self) -> None:
        for handle in self.files.values():
            handle.close()


class EncodingPass:
    """Encodes the stored documents into the scratch files, resuming from ``work``'s last checkpoint."""

    def __init__(self, encoders: dict[str, Any], config: BuildConfig, work: BuildProgress, scratch: ScratchWriter) -> None:
        self.encoders, self.config, self.work, self.scratch = encoders, config, work, scratch
        self.policies: dict[str, ChunkPolicy] = {kind: chunk_policy(config, e) for kind, e in encoders.items()}
        self.step = config.batch_size * 8  # documents per step; also chunks per group of a long document
        self.counts = {kind: dict(work.long_documents.get(kind, {"chunked": 0, "truncated": 0, "chunks": 0})) for kind in encoders}
        self.bar: Any = None

    def run(self, store: DocumentStore, progress: bool) -> None:
        """Encode every document not yet committed, step by step."""
        from tqdm.auto import tqdm

        row_ids = store.row_ids()
        step_start = (self.work.encoded // self.step) * self.step  # steps are aligned, so a resume re-forms the same units
        after = int(row_ids[step_start - 1]) if step_start else 0
        with tqdm(total=self.work.documents, initial=self.work.encoded, desc="Encoding", unit=" doc",
                  disable=not progress, smoothing=0.1) as self.bar:
            position = step_start
            for ids, texts in store.iter_texts(self.step, after_row_id=after):
                self._encode_step(np.asarray(ids, dtype=np.int64), texts, position)
                position += len(ids)

    def _encode_step(self, rows: np.ndarray, texts: list[str], position: int) -> None:
        plans = {kind: plan_chunks(texts, encoder, self.policies[kind]) for kind, encoder in self.encoders.items()}
        chunk_counts = [max(len(plans[kind][i]) for kind in plans) for i in range(len(texts))]
        for unit in plan_units(chunk_counts, self.step):
            if position + unit.end <= self.work.encoded:
                continue  # committed before an interruption
            started = time.perf_counter()
            part = {kind: plan[unit.start : unit.end] for kind, plan in plans.items()}
            if unit.long:
                self._encode_long(int(rows[unit.start]), texts[unit.start], {k: p[0] for k, p in part.items()})
            else:
                self._encode_unit(rows[unit.start : unit.end], texts[unit.start : unit.end], part)
            self.work.encode_seconds += time.perf_counter() - started
            self.work.encoded += unit.end - unit.start
            self.work.long_documents = self.counts
            self.work.partial = {}
            self.scratch.commit()
            self.bar.update(unit.end - unit.start)

    def _encode_unit(self, rows: np.ndarray, texts: list[str], plans: dict[str, list[list[Chunk]]]) -> None:
        config = self.config
        if "dense" in self.encoders:
            encoded = encode_dense(self.encoders["dense"], texts, self.policies["dense"], config.batch_size, config.token_budget,
                                   plans=plans["dense"])
            numbers = np.array([c.number for c in encoded.chunks], dtype=np.int64)
            self.scratch.write(SCRATCH_EMBEDDINGS, np.asarray(encoded.vectors, dtype=np.float32))
            self.scratch.write(SCRATCH_VECTOR_IDS, pack_ids(rows[encoded.documents], numbers))
            self.scratch.write(SCRATCH_SPANS, chunk_spans(rows, encoded))
            self._count("dense", texts, plans["dense"])
        if "multivector" in self.encoders:
            encoded = encode_multivector(self.encoders["multivector"], texts, self.policies["multivector"], config.batch_size,
                                         config.token_budget, plans=plans["multivector"])
            for doc_tokens in encoded.vectors:
                self.scratch.write(SCRATCH_TOKENS, np.asarray(doc_tokens, dtype=np.float32))
            self.scratch.write(SCRATCH_LENGTHS, np.array([len(t) for t in encoded.vectors], dtype=np.int64))
            self._count("multivector", texts, plans["multivector"])

    def _encode_long(self, row: int, text: str, plans: dict[str, list[Chunk]]) -> None:
        """One long document, ``self.step`` chunks at a time per encoder, with a checkpoint after each group."""
        resumed = self.work.partial if self.work.partial.get("row") == row else {}
        kinds = list(self.encoders)
        tokens_written = int(resumed.get("tokens", 0))
        for kind in kinds:
            chunks = plans[kind]
            done = 0
            if resumed:
                order, resumed_order = kinds.index(kind), kinds.index(resumed["kind"])
                done = len(chunks) if order < resumed_order else int(resumed["chunks"]) if order == resumed_order else 0
            for first in range(done, len(chunks), self.step):
                group = chunks[first : first + self.step]
                pieces = [text[c.start : c.end] for c in group]
                vectors = self.encoders[kind].encode_documents(pieces, batch_size=self.config.batch_size,
                                                               token_budget=self.config.token_budget, lengths=[c.tokens for c in group])
                if kind == "dense":
                    numbers = np.array([c.number for c in group], dtype=np.int64)
                    self.scratch.write(SCRATCH_EMBEDDINGS, np.asarray(vectors, dtype=np.float32))
                    self.scratch.write(SCRATCH_VECTOR_IDS, pack_ids(np.full(len(group), row, dtype=np.int64), numbers))
                    self.scratch.write(SCRATCH_SPANS, np.array([[row, c.number, c.start, c.end] for c in group], dtype=np.int64))
                else:
                    for piece_tokens in vectors:
                        self.scratch.write(SCRATCH_TOKENS, np.asarray(piece_tokens, dtype=np.float32))
                        tokens_written += len(piece_tokens)
                self.work.partial = {"row": row, "kind": kind, "chunks": first + len(group), "tokens": tokens_written}
                self.scratch.commit()
                self.bar.set_postfix_str(f"long document: {kind} chunk {first + len(group):,}/{len(chunks):,}", refresh=True)
            self._count(kind, [text], [chunks])
        if "multivector" in self.encoders:
            self.scratch.write(SCRATCH_LENGTHS, np.array([tokens_written], dtype=np.int64))
        self.bar.set_postfix_str("")

    def _count(self, kind: str, texts: Sequence[str], plans: Sequence[Sequence[Chunk]]) -> None:
        chunked, truncated = long_document_counts(texts, plans)
        self.counts[kind]["chunked"] += chunked
        self.counts[kind]["truncated"] += truncated
        self.counts[kind]["chunks"] += sum(len(plan) for plan in plans)


def encode_into_scratch(
    store: DocumentStore, encoders: dict[str, Any], config: BuildConfig, work: BuildProgress, staging: Path, progress: bool
) -> None:
    """Encode every stored document not yet committed in ``work`` into the staging folder's scratch files."""
    work.resumed_from = work.encoded
    scratch = ScratchWriter(staging, encoders, work)
    try:
        EncodingPass(encoders, config, work, scratch).run(store, progress)
    finally:
        scratch.close()
