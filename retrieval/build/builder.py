"""The builder: read a corpus, store its documents, encode them and write one index folder atomically."""

from __future__ import annotations

import dataclasses
import logging
import platform
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.component import IndexComponent
from index.docstore import DocumentStore
from index.documents import Document, Duplicate
from index.format import DOCUMENTS_NAME, describe_files, discard_partial, folder_bytes, staged_folder, write_manifest
from index.lock import writer_lock
from index.manifest import FORMAT_VERSION, BuildRecord, DocumentsSection, Manifest, TunedSearch
from index.metadata import MetadataSchema
from index.ownership import check_build_target, resolve_index_path
from index.shard_folders import write_shards
from retrieval.build.encoding import encode_into_scratch
from retrieval.build.progress import PROGRESS_NAME, BuildProgress, resume_key
from retrieval.components import given_encoders, recipe_for, recipes, section_for
from retrieval.config import BuildConfig
from retrieval.corpus.readers import CorpusError, ReadStats, read_corpus
from retrieval.corpus.typed import schema_for, typed_batch
from retrieval.encode.dense import DenseEncoder
from retrieval.encode.multivector import MultiVectorEncoder

logger = logging.getLogger(__name__)


@dataclass
class BuildSummary:
    """What a build did: counts, time, size; printed at the end and stored in the manifest."""

    index_dir: str
    model: str
    factory: str
    documents: int
    read: int
    skipped_empty: int
    skipped_invalid: int
    duplicates: int
    replaced_encoding: int
    seconds: float
    encode_seconds: float
    index_bytes: int
    fell_back_from: str | None = None
    problems: list[str] = field(default_factory=list)
    resumed_from: int = 0
    long_documents: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def docs_per_second(self) -> float:
        """Encoding throughput."""
        return self.documents / self.encode_seconds if self.encode_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form for the manifest and ``--json`` output."""
        return {**dataclasses.asdict(self), "docs_per_second": round(self.docs_per_second, 2)}


def build_index(
    corpus: Path | str | Iterable[Document],
    index_dir: Path | str,
    config: BuildConfig = BuildConfig(),
    *,
    hf_dataset: bool = False,
    encoder: DenseEncoder | None = None,
    multivector_encoder: MultiVectorEncoder | None = None,
    progress: bool = True,
    resume: bool = True,
) -> BuildSummary:
    """Build an index folder from a corpus path (or an iterable of documents).

    The folder is written beside ``index_dir`` and renamed into place only when
    complete, so a failed or interrupted build leaves any earlier index intact.
    A build from a path keeps its progress (``resume``): run again after a crash or
    kill with the same corpus and settings, it continues from its last encoded batch.
    ``encoder`` and ``multivector_encoder`` are already loaded dense and multi-vector encoders to use;
    the encoders not given are loaded as the settings say.
    """
    index_dir = resolve_index_path(index_dir)
    from_path = isinstance(corpus, (str, Path))
    if from_path and not hf_dataset and not Path(corpus).exists():
        raise CorpusError(f"Corpus {corpus} does not exist.")  # before the model loads: fail in a second
    sources = [Path(corpus)] if from_path and Path(corpus).exists() else []
    check_build_target(index_dir, sources)  # before any lock or staging folder exists beside it
    with writer_lock(index_dir):  # before the model loads: a second writer fails at once
        check_build_target(index_dir, sources)  # what another writer committed meanwhile is checked too
        given = given_encoders(encoder=encoder, multivector_encoder=multivector_encoder)
        return build_index_locked(
            corpus, index_dir, config, hf_dataset=hf_dataset, encoders=given, progress=progress, resume=resume
        )


def build_index_locked(
    corpus: Path | str | Iterable[Document],
    index_dir: Path,
    config: BuildConfig,
    *,
    hf_dataset: bool = False,
    encoders: Mapping[str, Any] | None = None,
    progress: bool = True,
    resume: bool = True,
    rebuild_of: Manifest | None = None,
    metadata_types: Mapping[str, str] | None = None,
) -> BuildSummary:
    """:func:`build_index` for a caller that already holds the index's writer lock (compaction rebuilds).

    ``encoders`` are already loaded encoders by component name. A rebuild passes the manifest it replaces as
    ``rebuild_of``: the new one keeps its corpus label, update history and tuned search settings; and the metadata
    field types the replaced store records as ``metadata_types``, so the fields keep their types.
    """
    started = time.perf_counter()  # model loading counts in the build's time
    from_path = isinstance(corpus, (str, Path))
    label = rebuild_of.build.corpus if rebuild_of else str(corpus) if from_path else "<documents>"
    history = list(rebuild_of.updates) if rebuild_of else []
    job = _Job(
        index_dir,
        config,
        _load_encoders(config, encoders or {}),
        label,
        history,
        started,
        rebuild_of.tuned_search if rebuild_of else None,
    )
    key = resume_key(corpus, config, job.encoders, hf_dataset) if resume and from_path else None
    if from_path and not resume:
        discard_partial(index_dir)  # starting over: drop an interrupted build's work
    with staged_folder(index_dir, resume_key=key) as staging:
        work = BuildProgress.load(staging)
        if work.phase == "reading":
            stats = ReadStats()
            documents = (
                read_corpus(corpus, config, stats, hf_dataset=hf_dataset) if from_path else _counted(corpus, stats)
            )
            work = _read_into_store(staging, documents, stats, config, label, progress, metadata_types)
        elif work.phase == "encoding":
            within = f", and {work.partial['chunks']:,} chunks of the next, long one" if work.partial else ""
            logger.info(
                "Resuming the interrupted build in %s: %s of %s documents already encoded%s.",
                staging,
                f"{work.encoded:,}",
                f"{work.documents:,}",
                within,
            )
        if work.phase == "encoding":
            store = DocumentStore.open(staging / DOCUMENTS_NAME, readonly=False)
            try:
                built = _build_components(store, job, work, staging, progress)
            finally:
                store.close()
            summary = _finish(staging, job, built, work)
            work.phase, work.summary = "complete", summary.to_dict()
            work.save(staging)
        whole_store = (DOCUMENTS_NAME,) if config.shards > 1 else ()  # the shards hold the documents now
        for scratch in (
            *(name for recipe in recipes().values() for name in recipe.scratch_files),
            *whole_store,
            PROGRESS_NAME,
        ):
            (staging / scratch).unlink(missing_ok=True)
    for name, encoder in job.encoders.items():
        recipe_for(name).prepare_queries(encoder)
    return BuildSummary(**{k: v for k, v in work.summary.items() if k != "docs_per_second"})


def _read_into_store(
    staging: Path,
    documents: Iterable[Document],
    stats: ReadStats,
    config: BuildConfig,
    corpus_label: str,
    progress: bool,
    metadata_types: Mapping[str, str] | None = None,
) -> BuildProgress:
    """Read every document into a new store (reading is quick: an interrupted or failed read leaves nothing to
    resume)."""
    (staging / DOCUMENTS_NAME).unlink(missing_ok=True)
    try:
        store = DocumentStore.create(staging / DOCUMENTS_NAME)
        try:
            duplicates = _store_documents(
                store, documents, config, stats, progress, schema_for(config, dict(metadata_types or {}))
            )
            count = len(store)
        finally:
            store.close()
        if count == 0:
            raise CorpusError(
                f"{corpus_label} has no documents with text ({stats.read} records read, "
                f"{stats.skipped_empty} empty, {stats.skipped_invalid} invalid). Nothing to index."
            )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    work = BuildProgress(phase="encoding", documents=count, duplicates=len(duplicates), stats=dataclasses.asdict(stats))
    work.save(staging)
    return work


def _fell_back_from(encoders: dict[str, Any]) -> str | None:
    """The model a build asked for but could not load (it used the offline fallback instead), if any."""
    return next(
        (e.resolved.fell_back_from for e in encoders.values() if e is not None and e.resolved.fell_back_from), None
    )


@dataclass
class _Job:
    """One build: where it goes, its settings and encoders (by component), and what a rebuild carries over."""

    index_dir: Path
    config: BuildConfig
    encoders: dict[str, Any]
    corpus_label: str
    history: list[dict[str, Any]]
    started: float
    tuned_search: TunedSearch | None = None


def _finish(staging: Path, job: _Job, built: dict[str, IndexComponent], work: BuildProgress) -> BuildSummary:
    """Save every component (into shard folders for a sharded build), then the manifest that describes and
    checksums them."""
    encoders, config = job.encoders, job.config
    sections = {}
    for name, component in built.items():
        recipe = recipe_for(name)
        encoding = recipe.describe_encoding(encoders[name], config, work.long_documents.get(name, {}))
        sections[name] = section_for(recipe, {**encoding, **component.describe(), "trained": component.training_fit()})
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        mode=config.mode,
        documents=DocumentsSection(DOCUMENTS_NAME, work.documents),
        components=sections,
        files={},
        build=BuildRecord(job.corpus_label, dataclasses.asdict(config), {}),
        versions=_versions(),
        updates=job.history,
        tuned_search=job.tuned_search,
    )
    if config.shards > 1:
        store = DocumentStore.open(staging / DOCUMENTS_NAME)
        try:
            manifest = write_shards(staging, manifest, store, built, config.shards)
        finally:
            store.close()
        index_bytes = sum(folder_bytes(staging / name) for name in manifest.shards)
    else:
        payload = [DOCUMENTS_NAME, *(path for component in built.values() for path in component.save(staging))]
        manifest = dataclasses.replace(manifest, files=describe_files(staging, payload))
        index_bytes = sum((staging / name).stat().st_size for name in payload)
    stats = work.stats
    summary = BuildSummary(
        index_dir=str(job.index_dir),
        model=" + ".join(e.describe()["name"] for e in encoders.values() if e is not None),
        factory=" + ".join(type(built[name]).label(section) for name, section in sections.items()),
        documents=work.documents,
        read=stats["read"],
        skipped_empty=stats["skipped_empty"],
        skipped_invalid=stats["skipped_invalid"],
        duplicates=work.duplicates,
        replaced_encoding=stats["replaced_encoding"],
        seconds=round(time.perf_counter() - job.started, 3),
        encode_seconds=round(work.encode_seconds, 3),
        index_bytes=index_bytes,
        fell_back_from=_fell_back_from(encoders),
        problems=stats["examples"],
        resumed_from=work.resumed_from,
        long_documents=work.long_documents,
    )
    write_manifest(
        staging, dataclasses.replace(manifest, build=dataclasses.replace(manifest.build, summary=summary.to_dict()))
    )
    return summary


def _counted(documents: Iterable[Document], stats: ReadStats) -> Iterator[Document]:
    for doc in documents:
        stats.read += 1
        if not doc.text.strip():
            stats.skipped_empty += 1
            continue
        yield doc


def _store_documents(
    store: DocumentStore,
    documents: Iterable[Document],
    config: BuildConfig,
    stats: ReadStats,
    progress: bool,
    schema: MetadataSchema,
) -> list[Duplicate]:
    """Write documents to SQLite batch by batch, their metadata typed by ``schema`` (learned from each batch,
    recorded in the store); fail on duplicate ids unless told what to keep."""
    from tqdm.auto import tqdm

    duplicates: list[Duplicate] = []
    batch: list[Document] = []
    bar = tqdm(desc="Reading", unit=" doc", disable=not progress, mininterval=0.5)

    def flush() -> None:
        typed = typed_batch(batch, schema, config, stats)
        store.set_metadata_types(schema.types)
        found = store.add(typed, on_duplicate="last" if config.on_duplicate == "last" else "first")
        duplicates.extend(found)
        if found and config.on_duplicate == "error":
            listed = "; ".join(f"{d.doc_id!r} ({d.first_source} and {d.again_source})" for d in duplicates[:5])
            raise CorpusError(
                f"Duplicate document ids: {listed}",
                "Make ids unique, or pass {on_duplicate=first} or {on_duplicate=last} to keep one copy.",
                ("on_duplicate",),
            )
        bar.update(len(batch))
        batch.clear()

    try:
        for doc in documents:
            batch.append(doc)
            if len(batch) >= config.read_batch_size:
                flush()
        if batch:
            flush()
    finally:
        bar.close()
    return duplicates


def _load_encoders(config: BuildConfig, given: Mapping[str, Any]) -> dict[str, Any]:
    """The encoder of every component the build writes (``None`` where it needs no model), loaded before
    anything touches the disk; ``given`` ones are used as they are."""
    return {
        name: given[name] if name in given else recipe.load_encoder(config, None)
        for name, recipe in recipes().items()
        if recipe.wanted(config)
    }


def _build_components(
    store: DocumentStore, job: _Job, work: BuildProgress, staging: Path, progress: bool
) -> dict[str, IndexComponent]:
    """Encode every stored document once per encoder into append-only scratch files (checkpointed, see
    :mod:`retrieval.build.encoding`), then build each component from its rows."""
    config = job.config
    encode = encode_into_scratch
    if config.engine == "ray":
        from retrieval.build.ray_encoding import encode_on_ray as encode
    encode(store, {name: e for name, e in job.encoders.items() if e is not None}, config, work, staging, progress)
    built = {}
    for name, encoder in job.encoders.items():
        recipe = recipe_for(name)
        rows = recipe.rows_for_build(staging, store, encoder, config)
        built[name] = recipe.component.build(rows, recipe.build_settings(config))
        del rows  # memory-mapped scratch files are released before the next component is built
    return built


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("modernsearch", "faiss-cpu", "sentence-transformers", "pylate", "transformers", "torch", "bm25s"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found
