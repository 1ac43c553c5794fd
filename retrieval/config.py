"""Build settings, declared once: name, type, default and help text feed the CLI, validation and docs."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from index.chunks import AGGREGATES as CHUNK_AGGREGATES
from index.errors import SettingError
from retrieval import registry

OnDuplicate = Literal["error", "first", "last"]
EncodingErrors = Literal["strict", "replace"]
Codec = Literal["pq", "pq64", "sq8", "none"]
LongDocs = Literal["chunk", "truncate"]
Backend = Literal["auto", "torch", "torch-bf16", "onnx", "onnx-int8"]
Fusion = Literal["linear", "rrf"]
Normalisation = Literal["minmax", "zscore", "bounds"]
Bm25Analyzer = Literal["auto", "text", "code"]
ChunkAggregate = Literal[CHUNK_AGGREGATES]
OnTypeError = Literal["fail", "null", "skip"]
Engine = Literal["local", "ray"]

MAX_DEPTH = 10_000  # most candidates a stage may pass on
FUSIONS = get_args(Fusion)
NORMALISATIONS = get_args(Normalisation)
LONG_DOCS = get_args(LongDocs)
BACKENDS = get_args(Backend)


def check_choices(settings: Any) -> None:
    """Raise :class:`SettingError` for the first field whose choices (its ``Literal`` type's values, or those its
    metadata computes from the component registry) do not include its value."""
    for name, choices in _choices(type(settings)):
        value = getattr(settings, name)
        allowed = choices() if callable(choices) else choices
        if value not in allowed:
            raise SettingError(name, value, f"must be one of {', '.join(allowed)}")


def choices_of(settings_field: Any, annotation: Any = None) -> tuple[Any, ...]:
    """The values a settings field allows (empty for a field of free value): computed now for a field whose choices
    come from the registered components, else its ``Literal`` type's (``annotation``, optional or not)."""
    computed = settings_field.metadata.get("choices")
    if computed is not None:
        return tuple(computed())
    if get_origin(annotation) is Union:
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    return get_args(annotation) if get_origin(annotation) is Literal else ()


@functools.cache
def _choices(settings_type: type) -> tuple[tuple[str, Any], ...]:
    """The fields of a settings class that have choices: a ``Literal``'s values, or the registry's function (hints
    are resolved once per class: it is slow)."""
    hints = get_type_hints(settings_type)
    found = []
    for f in fields(settings_type):
        if "choices" in f.metadata:
            found.append((f.name, f.metadata["choices"]))
        elif getattr(hints[f.name], "__origin__", None) is Literal:
            found.append((f.name, get_args(hints[f.name])))
    return tuple(found)


def _setting(default: Any, help: str, choices: Callable[[], tuple[str, ...]] | None = None) -> Any:
    return field(default=default, metadata={"help": help, **({"choices": choices} if choices else {})})


def _component_settings(kind: str) -> Any:
    return field(
        default_factory=dict,
        hash=False,
        metadata={
            "help": f"The {kind} settings registered components declare beyond the built-in ones, by name.",
            "declared": kind,
        },
    )


def check_component_settings(settings: Any) -> None:
    """Raise :class:`SettingError` for a component setting no registered component declares, or a value outside
    its declared choices."""
    kind = _declared_kind(type(settings))
    declared = registry.declared_settings(kind)
    for name, value in settings.component_settings.items():
        found = declared.get(name)
        if found is None:
            known = ", ".join(declared) or "none"
            raise SettingError(name, value, f"is not a {kind} setting of a registered component (declared: {known})")
        if found.choices and value not in found.choices:
            raise SettingError(name, value, f"must be one of {', '.join(map(str, found.choices))}")


def component_setting(settings: Any, name: str) -> Any:
    """A component setting's value in ``settings``: the one given, else its declared default."""
    if name in settings.component_settings:
        return settings.component_settings[name]
    return registry.declared_settings(_declared_kind(type(settings)))[name].default


@functools.cache
def _declared_kind(settings_type: type) -> str:
    """``build`` or ``search``: which components' declared settings a settings class carries."""
    return next(f.metadata["declared"] for f in fields(settings_type) if "declared" in f.metadata)


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides how a corpus becomes an index; CLI flags map onto these fields one to one."""

    model: str | None = _setting(
        None,
        "Model: alias (minilm, modernbert), local sentence-transformers folder, or hub id. "
        "Default: modernbert, falling back to the offline minilm when the hub is out of reach.",
    )
    mode: str = _setting(
        registry.DEFAULT_BUILD_MODE,
        "What to index: dense (one vector per document), multivector (ColBERT token vectors), both, or hybrid "
        "(BM25 + dense + multivector: keyword and embedding search fused, MaxSim reranking).",
        registry.build_modes,
    )
    multivector_model: str | None = _setting(
        None,
        "ColBERT model for mode both or hybrid (with mode multivector, model names it): alias (minilm-colbert, "
        "modernbert-colbert), folder or hub id. Default: modernbert-colbert, falling back to the offline "
        "minilm-colbert.",
    )
    multivector_codec: Codec = _setting(
        "pq",
        "Token vector storage, a centroid id and its residual's code: pq (32 bytes of PQ code, 36 per token), "
        "pq64 (64 bytes, 68 per token: closer to exact MaxSim's ranking), sq8 (a byte per dimension, 132 per token "
        "at 128 dimensions: nearly exact), or none (exact float32 vectors kept beside the pq codes).",
    )
    index_type: str = _setting(
        "flat", "FAISS index: flat (exact), hnsw, ivfpq, or any FAISS factory string such as 'IVF256,SQ8'."
    )
    bm25_analyzer: Bm25Analyzer = _setting(
        "auto",
        "BM25 analyser: text (words, stopwords, stems), code (also splits snake_case, camelCase and dotted.names "
        "into their words, keeping them whole too) or auto (code when most documents look like source code).",
    )
    bm25_k1: float = _setting(1.5, "BM25 term-frequency saturation k1 (hybrid mode).")
    bm25_b: float = _setting(0.75, "BM25 length normalisation b (hybrid mode).")
    id_field: str | None = _setting(None, "Field holding the document id (default: _id, else id).")
    text_field: str = _setting("text", "Field holding the document text.")
    title_field: str = _setting("title", "Field holding the title (optional in the data).")
    split: str = _setting("train", "Split to read from a Hugging Face dataset.")
    metadata: bool = _setting(
        True, "Store the records' other fields as typed metadata for filtering (--no-metadata: store none)."
    )
    metadata_fields: str | None = _setting(None, "Comma-separated metadata fields to keep (default: every field).")
    on_type_error: OnTypeError = _setting(
        "fail",
        "A metadata value unlike its field's type (inferred from the first batch): fail, null (drop the value) "
        "or skip (drop the document).",
    )
    skip_invalid: bool = _setting(False, "Skip malformed records and report how many, instead of failing.")
    on_duplicate: OnDuplicate = _setting("error", "Repeated document ids: error, keep the first, or keep the last.")
    encoding_errors: EncodingErrors = _setting(
        "strict", "Invalid UTF-8: strict fails with the byte offset, replace substitutes U+FFFD and warns."
    )
    long_docs: LongDocs = _setting(
        "chunk",
        "Documents longer than the model reads at once: chunk (split into overlapping token chunks, each "
        "indexed; search scores a document by its chunks) or truncate (keep the first model input).",
    )
    chunk_tokens: int | None = _setting(None, "Tokens per chunk (default and maximum: what the model reads at once).")
    chunk_overlap: int | None = _setting(None, "Tokens shared by consecutive chunks (default: an eighth of a chunk).")
    max_tokens: int | None = _setting(None, "Cap every document at this many tokens before chunking (default: no cap).")
    token_budget: int = _setting(
        16384, "Tokens per encoder batch (texts x longest text, padding included); bounds memory while encoding."
    )
    batch_size: int = _setting(16, "Most texts per encoder forward pass (the token budget may allow fewer).")
    read_batch_size: int = _setting(1024, "Documents read and stored per step; bounds memory while reading.")
    max_doc_bytes: int = _setting(
        20_000_000, "Largest document accepted, in bytes of UTF-8 title + text; a larger record is an invalid record."
    )
    device: str | None = _setting(None, "Torch device for encoding (default: cuda if available, else cpu).")
    backend: Backend = _setting(
        "auto",
        "Encoder runtime: auto (documents in bfloat16 where the CPU has AMX or AVX512-BF16 units or on a GPU, "
        "float32 elsewhere; queries in float32), torch (float32), torch-bf16 (bfloat16 autocast, documents and "
        "queries), onnx (ONNX Runtime, exported once and cached) or onnx-int8 (int8 MatMul weights, per channel); "
        "the ONNX runtimes serve dense models, a multi-vector model runs float32 torch with them.",
    )

    shards: int = _setting(
        1,
        "Split the index into this many shard folders, each a complete index holding a run of the documents; they "
        "share one training and the BM25 statistics, so together they answer exactly as one index.",
    )
    engine: Engine = _setting(
        "local",
        "Where documents are encoded: local (this process) or ray (a pool of encoder actors on a Ray cluster: "
        "see --ray-address, --encode-workers, --gpus-per-worker).",
    )
    ray_address: str | None = _setting(
        None,
        "Ray cluster for --engine ray: auto (the running cluster), ray://HOST:10001, or none to start a local one.",
    )
    encode_workers: int = _setting(1, "Encoder actors with --engine ray; each loads the models once.")
    gpus_per_worker: float = _setting(0.0, "GPUs per encoder actor with --engine ray (0: the actors share the CPUs).")
    component_settings: dict[str, Any] = _component_settings("build")

    def __post_init__(self) -> None:
        check_choices(self)
        check_component_settings(self)
        for name in ("batch_size", "read_batch_size", "token_budget", "max_doc_bytes", "shards", "encode_workers"):
            if getattr(self, name) < 1:
                raise SettingError(name, getattr(self, name), "must be at least 1")
        if self.gpus_per_worker < 0:
            raise SettingError("gpus_per_worker", self.gpus_per_worker, "must be 0 or more")

    @property
    def metadata_field_names(self) -> tuple[str, ...] | None:
        """The metadata fields to keep (``None``: all)."""
        if self.metadata_fields is None:
            return None
        return tuple(name.strip() for name in self.metadata_fields.split(",") if name.strip())

    @property
    def components(self) -> tuple[str, ...]:
        """The index components a build with this mode writes."""
        return registry.mode_components(self.mode)

    def with_changes(self, **changes: Any) -> BuildConfig:
        """A copy with some settings changed (the original is never mutated)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class SearchConfig:
    """How a query is answered beyond mode and k: fusion of BM25 and dense candidates, and MaxSim reranking."""

    fusion: Fusion = _setting(
        "linear", "Hybrid fusion: linear (a weighted sum of normalised scores) or rrf (reciprocal rank fusion)."
    )
    rrf_k: int = _setting(60, "RRF constant k: each list adds weight/(k + rank).")
    alpha: float = _setting(0.85, "Linear fusion weight of the dense score (BM25 gets 1 - alpha).")
    rrf_alpha: float = _setting(0.5, "RRF weight of the dense list (BM25 gets 1 - rrf_alpha; 0.5 is plain RRF).")
    normalisation: Normalisation = _setting(
        "minmax",
        "How linear fusion puts scores on one scale: minmax (each list to [0, 1]), zscore (mean -/+ 3 standard "
        "deviations to [0, 1], as Qdrant's DBSF) or bounds (theoretical ranges: cosine from -1 to 1, BM25 from 0 "
        "to the list's best).",
    )
    candidates: int = _setting(100, "Candidates each component (BM25, dense) contributes before fusion.")
    rerank: str = _setting(
        "none",
        "Rerank the first-stage results: none, or multivector (exact MaxSim with the index's ColBERT model).",
        registry.rerank_choices,
    )
    rerank_depth: int = _setting(100, "How many first-stage results the reranker rescores (at least k).")
    chunk_aggregate: ChunkAggregate = _setting(
        "max", "How a chunked document's score comes from its retrieved chunks' scores: max, sum or mean."
    )
    multivector_nprobe: int | None = _setting(
        None, "Multi-vector search: centroids each query token probes (default: the index's recorded value)."
    )
    multivector_shortlist: int | None = _setting(
        None,
        "Multi-vector search: documents kept from the probed lists for centroid interaction (default: the "
        "index's recorded value, at least 4x the candidates).",
    )
    multivector_candidates: int | None = _setting(
        None,
        "Multi-vector search: documents decoded and ranked by MaxSim, at least k (default: the index's "
        "recorded value).",
    )
    multivector_prune: float | None = _setting(
        None,
        "Multi-vector search: skip tokens whose centroid scores below this for every query token, 0 to keep all "
        "(default: the index's recorded value).",
    )
    component_settings: dict[str, Any] = _component_settings("search")

    def __post_init__(self) -> None:
        check_choices(self)
        check_component_settings(self)
        for name in ("alpha", "rrf_alpha"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SettingError(name, getattr(self, name), "must be between 0 and 1")
        for name in ("multivector_nprobe", "multivector_shortlist", "multivector_candidates"):
            if getattr(self, name) is not None and not 1 <= getattr(self, name) <= MAX_DEPTH * 4:
                raise SettingError(name, getattr(self, name), f"must be between 1 and {MAX_DEPTH * 4:,}")
        if self.multivector_prune is not None and not 0.0 <= self.multivector_prune < 1.0:
            raise SettingError("multivector_prune", self.multivector_prune, "must be at least 0 and below 1")
        if self.rrf_k < 0:
            raise SettingError("rrf_k", self.rrf_k, "must be at least 0")
        for name in ("candidates", "rerank_depth"):
            if not 1 <= getattr(self, name) <= MAX_DEPTH:
                raise SettingError(name, getattr(self, name), f"must be between 1 and {MAX_DEPTH:,}")

    def with_changes(self, **changes: Any) -> SearchConfig:
        """A copy with some settings changed."""
        return replace(self, **changes)


def help_for(name: str) -> str:
    """Help text of a build or search setting, for the CLI and the docs."""
    for f in (*fields(BuildConfig), *fields(SearchConfig)):
        if f.name == name:
            return f.metadata["help"]
    raise KeyError(name)


def home_dir() -> Path:
    """Where modernsearch keeps its own files (demo index, cached models): $MODERNSEARCH_HOME, else
    ~/.cache/modernsearch."""
    return Path(os.environ.get("MODERNSEARCH_HOME") or Path.home() / ".cache" / "modernsearch")


def results_dir() -> Path:
    """Where evaluation reports and benchmark results go unless a folder is named: ``home_dir()/results``,
    never the current directory (the repository's committed results are written with an explicit folder)."""
    return home_dir() / "results"
