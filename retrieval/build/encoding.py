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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from index.docstore import DocumentStore
from retrieval.build.progress import BuildProgress, reopened_scratch
from retrieval.components import recipe_for
from retrieval.config import BuildConfig
from retrieval.encode.chunking import Chunk, ChunkPolicy
from retrieval.encode.documents import chunk_policy, long_document_counts, plan_chunks


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

    def __init__(self, staging: Path, names: Sequence[str], work: BuildProgress) -> None:
        self.staging, self.work = staging, work
        self.files: dict[str, BinaryIO] = {
            name: reopened_scratch(staging / name, work.scratch_bytes.get(name, 0)) for name in names
        }

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
    """Encodes the stored documents into the scratch files, resuming from ``work``'s last checkpoint.

    ``encoders`` holds the components that have one (by name); each component's recipe writes its encoder's
    outputs for a run of chunks (:meth:`ComponentRecipe.write_chunks`)."""

    def __init__(
        self, encoders: dict[str, Any], config: BuildConfig, work: BuildProgress, scratch: ScratchWriter
    ) -> None:
        self.encoders, self.config, self.work, self.scratch = encoders, config, work, scratch
        self.recipes = {name: recipe_for(name) for name in encoders}
        self.policies: dict[str, ChunkPolicy] = {name: chunk_policy(config, e) for name, e in encoders.items()}
        self.step = config.batch_size * 8  # documents per step; also chunks per group of a long document
        self.counts = {
            name: dict(work.long_documents.get(name, {"chunked": 0, "truncated": 0, "chunks": 0})) for name in encoders
        }
        self.bar: Any = None

    def run(self, store: DocumentStore, progress: bool) -> None:
        """Encode every document not yet committed, step by step."""
        from tqdm.auto import tqdm

        row_ids = store.row_ids()
        step_start = (
            self.work.encoded // self.step
        ) * self.step  # steps are aligned, so a resume re-forms the same units
        after = int(row_ids[step_start - 1]) if step_start else 0
        with tqdm(
            total=self.work.documents,
            initial=self.work.encoded,
            desc="Encoding",
            unit=" doc",
            disable=not progress,
            smoothing=0.1,
        ) as self.bar:
            position = step_start
            for ids, texts in store.iter_texts(self.step, after_row_id=after):
                self._encode_step(np.asarray(ids, dtype=np.int64), texts, position)
                position += len(ids)

    def _encode_step(self, rows: np.ndarray, texts: list[str], position: int) -> None:
        plans = {name: plan_chunks(texts, encoder, self.policies[name]) for name, encoder in self.encoders.items()}
        chunk_counts = [max((len(plans[name][i]) for name in plans), default=1) for i in range(len(texts))]
        for unit in plan_units(chunk_counts, self.step):
            if position + unit.end <= self.work.encoded:
                continue  # committed before an interruption
            started = time.perf_counter()
            part = {name: plan[unit.start : unit.end] for name, plan in plans.items()}
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
        for name in self.encoders:
            chunk_rows = np.array([row for row, plan in zip(rows, plans[name]) for _ in plan], dtype=np.int64)
            chunks = [chunk for plan in plans[name] for chunk in plan]
            self._encode_chunks(
                name, chunk_rows, texts, [i for i, plan in enumerate(plans[name]) for _ in plan], chunks
            )
            self._count(name, texts, plans[name])

    def _encode_chunks(
        self, name: str, rows: np.ndarray, texts: Sequence[str], text_of: Sequence[int], chunks: Sequence[Chunk]
    ) -> None:
        """Encode chunks (chunk ``i`` cut from ``texts[text_of[i]]``) and hand the outputs to the component's recipe."""
        pieces = [texts[t][c.start : c.end] for t, c in zip(text_of, chunks)]
        outputs = self.encoders[name].encode_documents(
            pieces,
            batch_size=self.config.batch_size,
            token_budget=self.config.token_budget,
            lengths=[c.tokens for c in chunks],
        )
        self.recipes[name].write_chunks(self.scratch, rows, chunks, outputs)

    def _encode_long(self, row: int, text: str, plans: dict[str, list[Chunk]]) -> None:
        """One long document, ``self.step`` chunks at a time per encoder, with a checkpoint after each group."""
        resumed = self.work.partial if self.work.partial.get("row") == row else {}
        names = list(self.encoders)
        for name in names:
            chunks = plans[name]
            done = 0
            if resumed:
                order, resumed_order = names.index(name), names.index(resumed["kind"])
                done = len(chunks) if order < resumed_order else int(resumed["chunks"]) if order == resumed_order else 0
            for first in range(done, len(chunks), self.step):
                group = chunks[first : first + self.step]
                self._encode_chunks(name, np.full(len(group), row, dtype=np.int64), [text], [0] * len(group), group)
                self.work.partial = {"row": row, "kind": name, "chunks": first + len(group)}
                self.scratch.commit()
                self.bar.set_postfix_str(
                    f"long document: {name} chunk {first + len(group):,}/{len(chunks):,}", refresh=True
                )
            self._count(name, [text], [chunks])
        self.bar.set_postfix_str("")

    def _count(self, name: str, texts: Sequence[str], plans: Sequence[Sequence[Chunk]]) -> None:
        chunked, truncated = long_document_counts(texts, plans)
        self.counts[name]["chunked"] += chunked
        self.counts[name]["truncated"] += truncated
        self.counts[name]["chunks"] += sum(len(plan) for plan in plans)


class StepScratch:
    """Scratch output of one step kept in memory: what a remote encoder worker returns for the build to append."""

    def __init__(self) -> None:
        self.written: dict[str, list[bytes]] = {}

    def write(self, name: str, array: np.ndarray) -> None:
        self.written.setdefault(name, []).append(np.ascontiguousarray(array).tobytes())

    def commit(self) -> None:
        """Nothing to do: the step is committed where its bytes are appended."""


@dataclass
class StepOutput:
    """One step encoded away from the build: the bytes of each scratch file, long-document counts, seconds."""

    files: dict[str, bytes]
    long_documents: dict[str, dict[str, int]]
    seconds: float


def encode_step(encoders: dict[str, Any], config: BuildConfig, rows: np.ndarray, texts: list[str]) -> StepOutput:
    """Encode one step's documents exactly as the local pass does (same units, batches and bytes), into memory."""
    scratch = StepScratch()
    encoding = EncodingPass(encoders, config, BuildProgress(phase="encoding", documents=len(rows)), scratch)  # type: ignore[arg-type]
    encoding.bar = _Quiet()
    started = time.perf_counter()
    encoding._encode_step(np.asarray(rows, dtype=np.int64), texts, 0)
    return StepOutput(
        {name: b"".join(parts) for name, parts in scratch.written.items()},
        encoding.counts,
        time.perf_counter() - started,
    )


class _Quiet:
    """A progress bar that shows nothing (a step encoded on a worker reports through the build's own bar)."""

    def update(self, n: int) -> None:
        pass

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        pass


def encode_into_scratch(
    store: DocumentStore,
    encoders: dict[str, Any],
    config: BuildConfig,
    work: BuildProgress,
    staging: Path,
    progress: bool,
) -> None:
    """Encode every stored document not yet committed in ``work`` into the staging folder's scratch files."""
    work.resumed_from = work.encoded
    scratch = ScratchWriter(staging, [name for kind in encoders for name in recipe_for(kind).scratch_files], work)
    try:
        EncodingPass(encoders, config, work, scratch).run(store, progress)
    finally:
        scratch.close()
