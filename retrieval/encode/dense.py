"""Dense encoders: a sentence-transformers model that turns queries and documents into unit vectors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.encode.model_specs import ModelUnavailableError, ResolvedModel, resolve_model
from retrieval.encode.precision import AUTO, BFLOAT16, FLOAT32, autocast, resolve_backend, unit_rows


class DenseEncoder:
    """One embedding per text, L2-normalised so inner product equals cosine similarity.

    Queries and documents go through ``encode_query`` / ``encode_document`` so a
    model with prompts (``query: ``, ``document: ``) gets the right one for each.
    """

    def __init__(
        self, model: Any, resolved: ResolvedModel, backend: str = "torch", query_backend: str | None = None
    ) -> None:
        if query_backend not in (None, backend) and (backend, query_backend) != (BFLOAT16, FLOAT32):
            raise ValueError(
                f"queries can be encoded apart from documents only in float32 ({FLOAT32}) next to {BFLOAT16}, "
                f"got documents {backend!r} and queries {query_backend!r}"
            )
        self.model = model
        self.resolved = resolved
        self.backend = backend
        self.query_backend = query_backend or backend
        self._onnx: Any = None
        if backend.startswith("onnx"):
            from retrieval.encode.onnx_backend import OnnxTransformer, cache_key

            key = cache_key(_model_name(resolved), _revision(resolved))
            self._onnx = OnnxTransformer.load(model, key, quantized=backend == "onnx-int8")

    @classmethod
    def load(
        cls,
        spec: str | None = None,
        *,
        device: str | None = None,
        backend: str = "torch",
        query_backend: str | None = None,
    ) -> DenseEncoder:
        """Load the model a spec names (alias, folder or hub id); ``None`` means the default with fallback."""
        resolved = resolve_model(spec)
        return cls.from_resolved(resolved, device=device, backend=backend, query_backend=query_backend)

    @classmethod
    def from_resolved(
        cls,
        resolved: ResolvedModel,
        *,
        device: str | None = None,
        backend: str = "torch",
        query_backend: str | None = None,
    ) -> DenseEncoder:
        """Load an already resolved model; ``backend`` onnx or onnx-int8 runs it with ONNX Runtime on the CPU,
        torch-bf16 runs PyTorch under bfloat16 autocast, auto picks as
        :func:`retrieval.encode.precision.resolve_backend`
        does; ``query_backend`` (default: the documents') may be float32 torch next to torch-bf16 documents."""
        from sentence_transformers import SentenceTransformer

        from retrieval.config import BACKENDS

        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        quiet_transformers()
        device = device or _default_device()
        if backend == AUTO:
            backend, query_backend = resolve_backend(backend, device)
        try:
            model = SentenceTransformer(resolved.name_or_path, device=device, model_kwargs=accelerated_kwargs(device))
        except OSError as err:
            raise ModelUnavailableError(
                f"Could not load model {resolved.spec!r} from {resolved.name_or_path}: {err}"
            ) from err
        model.eval()
        return cls(model, resolved, backend, query_backend)

    @property
    def dimension(self) -> int:
        """Embedding size."""
        return int(self.model.get_sentence_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        """Longest input in tokens; longer texts are truncated by the model."""
        return int(self.model.max_seq_length)

    @property
    def max_query_tokens(self) -> int:
        """Longest query in tokens (the model's input limit)."""
        return self.max_tokens

    def query_token_count(self, query: str) -> int:
        """How many tokens the model sees for ``query`` (special tokens included), before truncation."""
        return len(self.tokenizer(query, add_special_tokens=True)["input_ids"])

    def describe(self) -> dict[str, Any]:
        """Model facts for the index manifest."""
        return {
            "spec": self.resolved.spec,
            "name": _model_name(self.resolved),
            "path_or_id": self.resolved.name_or_path if not self.resolved.is_local else None,
            "revision": _revision(self.resolved),
            "dimension": self.dimension,
            "max_tokens": self.max_tokens,
            "similarity": "cosine",
            "normalized": True,
            "prompts": {k: v for k, v in (self.model.prompts or {}).items() if v},
            "backend": self.backend,
            "query_backend": self.query_backend,
        }

    def encode_queries(self, queries: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embed queries: ``(n_queries, dim)`` float32, unit norm."""
        if self._onnx is not None:
            return self._onnx.embed(self._prompted(queries, "query"), batch_size)
        with autocast(self.query_backend, self.model.device.type):
            vectors = self.model.encode_query(
                list(queries), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True
            )
        return unit_rows(vectors) if self.query_backend == BFLOAT16 else np.ascontiguousarray(vectors, dtype=np.float32)

    def _prompted(self, texts: Sequence[str], kind: str) -> list[str]:
        prompt = (self.model.prompts or {}).get(kind) or ""
        return [prompt + t for t in texts]

    @property
    def tokenizer(self) -> Any:
        """The model's (fast) tokenizer, for chunking by tokens."""
        return self.model.tokenizer

    @property
    def chunk_limit(self) -> int:
        """Longest document text in tokens the model embeds whole (its input limit less special and prompt tokens)."""
        prompt = (self.model.prompts or {}).get("document") or ""
        prompt_tokens = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"]) if prompt else 0
        return self.max_tokens - 2 - prompt_tokens

    def encode_documents(
        self,
        texts: Sequence[str],
        batch_size: int = 16,
        *,
        token_budget: int | None = None,
        lengths: Sequence[int] | None = None,
    ) -> np.ndarray:
        """Embed documents: ``(n_docs, dim)`` float32, unit norm. With a ``token_budget``, batches are filled by
        tokens (``lengths`` if known, else counted) instead of ``batch_size`` texts each."""
        texts = list(texts)

        def encode(part: list[str], size: int) -> np.ndarray:
            if self._onnx is not None:
                return self._onnx.embed(self._prompted(part, "document"), size)
            with autocast(self.backend, self.model.device.type):
                vectors = self.model.encode_document(
                    part, batch_size=size, convert_to_numpy=True, normalize_embeddings=True
                )
            vectors = (
                unit_rows(vectors) if self.backend == BFLOAT16 else np.ascontiguousarray(vectors, dtype=np.float32)
            )
            return vectors.reshape(len(part), self.dimension)

        if token_budget is None or len(texts) <= 1:
            return encode(texts, batch_size)
        return np.stack(encode_by_budget(texts, encode, self.tokenizer, token_budget, batch_size, lengths))


def encode_by_budget(
    texts: list[str], encode: Any, tokenizer: Any, token_budget: int, batch_size: int, lengths: Sequence[int] | None
) -> list[Any]:
    """Run ``encode(batch_texts, batch_size)`` over token-budget batches; one output per text, in input order."""
    from retrieval.encode.token_batches import token_budget_batches

    if lengths is None:
        lengths = [
            len(ids) for ids in tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        ]
    outputs: list[Any] = [None] * len(texts)
    for batch in token_budget_batches([n + 2 for n in lengths], token_budget, batch_size):
        for i, output in zip(batch, encode([texts[i] for i in batch], len(batch))):
            outputs[i] = output
    return outputs


def quiet_transformers() -> None:
    """Silence transformers' load reports and weight-loading bars, which bury the build's own progress."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def accelerated_kwargs(device: str) -> dict[str, Any]:
    """Model loading options for the hardware: on a GPU, bfloat16 weights and flash attention (which also
    unpads ModernBERT's batches) when the flash-attn package is installed; on a CPU, transformers' default (sdpa)."""
    if not device.startswith("cuda"):
        return {}
    import importlib.util

    import torch

    options: dict[str, Any] = {"dtype": torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16}
    if importlib.util.find_spec("flash_attn") is not None:
        options["attn_implementation"] = "flash_attention_2"
    return options


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _model_name(resolved: ResolvedModel) -> str:
    """A readable model name: the hub id, or the name a bundled folder's README declares."""
    if not resolved.is_local:
        return resolved.name_or_path
    if resolved.spec == "minilm":
        return "sentence-transformers/all-MiniLM-L6-v2"
    return Path(resolved.name_or_path).name


def _revision(resolved: ResolvedModel) -> str | None:
    """Commit hash of a cached hub model, or a hash of a local folder's weights config."""
    if resolved.is_local:
        folder = Path(resolved.name_or_path)
        weights = next(
            (folder / n for n in ("model.safetensors", "pytorch_model.bin", "config.json") if (folder / n).exists()),
            None,
        )
        if weights is None:
            return None
        from index.format import file_sha256

        return f"sha256:{file_sha256(weights)[:16]}"
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(resolved.name_or_path, "config.json")
        if isinstance(hit, str):
            return Path(hit).parent.name
    except Exception:  # noqa: BLE001 - a missing revision is not an error
        return None
    return None


def load_manifest_encoder(model_info: dict[str, Any], *, device: str | None = None) -> DenseEncoder:
    """Load exactly the model an index manifest names (never the default)."""
    spec = model_info.get("spec") or model_info.get("name")
    resolved = resolve_model(spec)
    return DenseEncoder.from_resolved(
        resolved,
        device=device,
        backend=model_info.get("backend", FLOAT32),
        query_backend=model_info.get("query_backend"),
    )


__all__ = ["DenseEncoder", "load_manifest_encoder"]
