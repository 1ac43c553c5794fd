"""Multi-vector (ColBERT) encoders through PyLate: one unit vector per token, queries and documents marked apart."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.config import home_dir
from retrieval.encode.dense import encode_by_budget, quiet_transformers
from retrieval.encode.model_specs import ModelUnavailableError, ResolvedModel, bundled_minilm_path, resolve_model
from retrieval.encode.precision import AUTO, BFLOAT16, FLOAT32, autocast, resolve_backend, unit_rows

DEFAULT_MULTIVECTOR_MODEL = "modernbert-colbert"
OFFLINE_MULTIVECTOR_MODEL = "minilm-colbert"
TORCH_BACKENDS = (FLOAT32, BFLOAT16)
LONG_CONTEXT_TOKENS = 1024  # a transformer that reads at least this many tokens reads documents whole up to its limit

logger = logging.getLogger(__name__)


def minilm_colbert_path() -> Path:
    """Folder of the offline ColBERT model: bundled MiniLM with a seeded 384->128 projection, built once and cached."""
    folder = home_dir() / "models" / "minilm-colbert"
    if (folder / "modules.json").exists():
        return folder
    import torch
    from pylate import models

    torch.manual_seed(0)
    model = models.ColBERT(model_name_or_path=str(bundled_minilm_path()), do_query_expansion=False, device="cpu")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".minilm-colbert-"))
    try:
        model.save(str(staging))
        os.replace(staging, folder) if not folder.exists() else shutil.rmtree(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def resolve_multivector_model(spec: str | None) -> ResolvedModel:
    """Resolve a ColBERT model spec; with none named, fall back to ``minilm-colbert`` when the hub is out of reach."""
    resolved = resolve_model(spec, default=DEFAULT_MULTIVECTOR_MODEL, fallback=OFFLINE_MULTIVECTOR_MODEL)
    if resolved.spec == OFFLINE_MULTIVECTOR_MODEL:
        return ResolvedModel(resolved.spec, str(minilm_colbert_path()), resolved.fell_back_from)
    return resolved


def whole_document_length(model: Any) -> int:
    """The document length a ColBERT model is used with: its own, or for a long-context model the transformer's
    input limit, so a document up to that limit is encoded whole instead of in chunks.

    Long-context ColBERT models ship with the short ``document_length`` they were trained at (GTE-ModernColBERT:
    300 tokens) yet read up to their transformer's limit (8,192); MaxSim over one pass keeps each token's context.
    Models whose transformer stops below :data:`LONG_CONTEXT_TOKENS` (BERT's 512 positions) keep their own length.
    """
    own = int(model.document_length)
    transformer = model[0]
    positions = int(getattr(transformer.auto_model.config, "max_position_embeddings", 0) or 0)
    tokenizer_limit = int(getattr(transformer.tokenizer, "model_max_length", 0) or 0)
    limit = min((n for n in (positions, tokenizer_limit) if n > 0), default=0)
    if limit < LONG_CONTEXT_TOKENS or limit <= own:
        return own
    logger.debug(
        "Long-context ColBERT model: documents up to %d tokens are encoded whole (the model's own length is %d)",
        limit,
        own,
    )
    return limit


class MultiVectorEncoder:
    """Token embeddings from a PyLate ColBERT model (prefixes, query length, skiplist as the model defines them)."""

    def __init__(
        self, model: Any, resolved: ResolvedModel, backend: str = FLOAT32, query_backend: str | None = None
    ) -> None:
        for name, value in (("backend", backend), ("query_backend", query_backend or backend)):
            if value not in TORCH_BACKENDS:
                raise ValueError(
                    f"{name} of a multi-vector encoder must be one of {', '.join(TORCH_BACKENDS)}, got {value!r}"
                )
        self.model = model
        self.resolved = resolved
        self.backend = backend
        self.query_backend = query_backend or backend

    @classmethod
    def load(
        cls,
        spec: str | None = None,
        *,
        device: str | None = None,
        backend: str = FLOAT32,
        query_backend: str | None = None,
        document_length: int | None = None,
    ) -> MultiVectorEncoder:
        """Load a ColBERT model by alias, folder or hub id; ``backend`` torch (float32), torch-bf16 (bfloat16
        autocast) or auto (:func:`retrieval.encode.precision.resolve_backend`); ``query_backend`` as for dense encoders.

        ``document_length`` (tokens a document is read in at once, markers included) defaults to the model's own,
        raised to the transformer's input limit for a long-context model (see :func:`whole_document_length`).
        """
        resolved = resolve_multivector_model(spec)
        from pylate import models

        quiet_transformers()
        device = device or "cpu"
        if backend == AUTO:
            backend, query_backend = resolve_backend(backend, device)
        kwargs: dict[str, Any] = {"do_query_expansion": False} if resolved.spec == OFFLINE_MULTIVECTOR_MODEL else {}
        try:
            model = models.ColBERT(model_name_or_path=resolved.name_or_path, device=device, **kwargs)
        except OSError as err:
            raise ModelUnavailableError(f"Could not load ColBERT model {resolved.spec!r}: {err}") from err
        model.eval()
        model.document_length = document_length or whole_document_length(model)
        return cls(model, resolved, backend, query_backend)

    @property
    def dimension(self) -> int:
        """Size of each token vector."""
        return int(self.model.get_sentence_embedding_dimension() or self.model[-1].get_sentence_embedding_dimension())

    @property
    def max_query_tokens(self) -> int:
        """Longest query in tokens; longer queries are truncated as the model defines."""
        return int(self.model.query_length)

    def query_token_count(self, query: str) -> int:
        """How many tokens the model sees for ``query`` (special tokens included), before truncation."""
        return len(self.tokenizer(query, add_special_tokens=True)["input_ids"])

    def describe(self) -> dict[str, Any]:
        """Model facts for the index manifest."""
        name = {OFFLINE_MULTIVECTOR_MODEL: "all-MiniLM-L6-v2 + seeded ColBERT projection (seed 0)"}.get(
            self.resolved.spec, self.resolved.name_or_path
        )
        return {
            "spec": self.resolved.spec,
            "name": name,
            "dimension": self.dimension,
            "query_length": self.model.query_length,
            "document_length": self.model.document_length,
            "query_prefix": self.model.query_prefix,
            "document_prefix": self.model.document_prefix,
            "do_query_expansion": bool(self.model.do_query_expansion),
            "similarity": "maxsim",
            "backend": self.backend,
            "query_backend": self.query_backend,
        }

    def encode_queries(self, queries: Sequence[str], batch_size: int = 32) -> list[np.ndarray]:
        """One ``(n_tokens, dim)`` float32 array per query."""
        return self._encode(queries, is_query=True, batch_size=batch_size, backend=self.query_backend)

    @property
    def tokenizer(self) -> Any:
        """The model's (fast) tokenizer, for chunking by tokens."""
        return self.model.tokenizer

    @property
    def chunk_limit(self) -> int:
        """Longest document text in tokens the model embeds whole ([CLS], the [D] marker and [SEP] take three)."""
        return int(self.model.document_length) - 3

    def encode_documents(
        self,
        texts: Sequence[str],
        batch_size: int = 16,
        *,
        token_budget: int | None = None,
        lengths: Sequence[int] | None = None,
    ) -> list[np.ndarray]:
        """One ``(n_tokens, dim)`` float32 array per document (skiplist tokens removed by PyLate); with a
        ``token_budget``, batches are filled by tokens instead of ``batch_size`` texts each."""
        texts = list(texts)
        if token_budget is None or len(texts) <= 1:
            return self._encode(texts, is_query=False, batch_size=batch_size, backend=self.backend)
        encode = lambda part, size: self._encode(part, is_query=False, batch_size=size, backend=self.backend)  # noqa: E731
        return encode_by_budget(texts, encode, self.tokenizer, token_budget, batch_size, lengths)

    def _encode(self, texts: Sequence[str], *, is_query: bool, batch_size: int, backend: str) -> list[np.ndarray]:
        with autocast(backend, self.model.device.type):
            vectors = self.model.encode(
                list(texts), is_query=is_query, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
            )
        if backend == BFLOAT16:
            return [unit_rows(v) for v in vectors]
        return [np.ascontiguousarray(v, dtype=np.float32) for v in vectors]

    def document_tokens(self, text: str) -> list[tuple[str, tuple[int, int] | None]]:
        """The document's tokens as the model embeds them, with character spans (``None`` for markers)."""
        tokenizer = self.model.tokenizer
        limit = self.model.document_length - 1
        encoded = tokenizer(text, truncation=True, max_length=limit, return_offsets_mapping=True)
        ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
        tokens: list[tuple[str, tuple[int, int] | None]] = []
        skip = set(self.model.skiplist)
        for position, (token_id, (start, end)) in enumerate(zip(ids, offsets)):
            if position == 1:
                tokens.append((self.model.document_prefix, None))
            if token_id in skip:
                continue
            special = token_id in tokenizer.all_special_ids
            tokens.append((tokenizer.convert_ids_to_tokens(token_id), None if special else (start, end)))
        return tokens

    def query_tokens(self, query: str) -> list[str]:
        """The query's tokens as the model embeds them (marker after [CLS], truncated to the query length)."""
        tokenizer = self.model.tokenizer
        ids = tokenizer(query, truncation=True, max_length=self.model.query_length - 1)["input_ids"]
        tokens = tokenizer.convert_ids_to_tokens(ids)
        return tokens[:1] + [self.model.query_prefix.strip()] + tokens[1:]
