"""A light query encoder for searches from the command line: the dense model's ONNX export run by ONNX
Runtime, tokenised by the ``tokenizers`` library alone, so a search does not import PyTorch,
transformers or sentence-transformers (most of a cold start).

It is used only where it was checked against the model itself: when a build has the model loaded it
exports it once (cached per model and revision under ``$MODERNSEARCH_HOME/onnx``), embeds a fixed set of
queries both ways and records the largest difference. A searcher opens the light encoder only when that
record says the embeddings agree within :data:`TOLERANCE`; anything else loads the full model.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.config import home_dir

logger = logging.getLogger(__name__)

RECORD_NAME = "query-runtime.json"
TOKENIZER_NAME = "tokenizer.json"
TOLERANCE = 1e-5
CHECK_QUERIES = (
    "what is the capital of france",
    "Airlines that currently use Boeing 747 planes.",
    "python check if a string is a valid number",
    "Москва 東京 القاهرة e\u0301 🚀",
    "x",
    "long query " * 200,  # past the model's input limit: truncation must agree too
)


def runtime_folder(model_info: dict[str, Any]) -> Path | None:
    """Where the export of the manifest's model lives; ``None`` for a model without a known revision."""
    from retrieval.encode.onnx_backend import cache_key

    if not model_info.get("revision") or not model_info.get("name"):
        return None
    return home_dir() / "onnx" / cache_key(model_info["name"], model_info["revision"])


def query_backend(model_info: dict[str, Any]) -> str:
    """The runtime that embeds queries for an index (manifests before ``query_backend`` used the documents' one)."""
    return model_info.get("query_backend") or model_info.get("backend", "torch")


class LightQueryEncoder:
    """Query embeddings from the exported transformer: unit vectors ``(n_queries, dim)``, as the model gives them."""

    # ONNX Runtime releases the GIL for a whole run and keeps its own thread pool, so two batches encoded at once
    # overlap instead of queueing (PyTorch encoders hold the GIL between operators: one batch at a time suits them).
    concurrent_batches = 2

    def __init__(self, folder: Path, record: dict[str, Any], model_info: dict[str, Any] | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.record = record
        self.model_info = dict(model_info or {})
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_NAME))
        self.tokenizer.enable_truncation(int(record["max_length"]))
        self.tokenizer.enable_padding(pad_id=int(record["pad_id"]), pad_token=record["pad_token"])
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Idle pool threads sleep instead of spinning: a spinning pool takes the cores that a server's event loop
        # and concurrent searches need, for a fraction of a millisecond saved on a lone query.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self.session.get_inputs()}

    @classmethod
    def open(cls, model_info: dict[str, Any]) -> LightQueryEncoder | None:
        """The checked light encoder of a manifest's model, or ``None`` where there is none to trust."""
        if query_backend(model_info) != "torch":
            return None  # bfloat16 and int8 backends embed queries differently from the float32 export
        folder = runtime_folder(model_info)
        if folder is None or not (folder / RECORD_NAME).exists():
            return None
        try:
            record = json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
            if not record.get("verified") or record.get("dimension") != model_info.get("dimension"):
                return None
            return cls(folder, record, model_info)
        except Exception:  # noqa: BLE001 - any problem with the cache means: load the full model
            logger.warning(
                "The cached query encoder in %s cannot be used; loading the full model.", folder, exc_info=True
            )
            return None

    def describe(self) -> dict[str, Any]:
        """The manifest's facts of the model this export stands for (as :meth:`DenseEncoder.describe` gives them)."""
        return dict(self.model_info)

    @property
    def dimension(self) -> int:
        return int(self.record["dimension"])

    @property
    def max_query_tokens(self) -> int:
        return int(self.record["max_length"])

    def query_token_count(self, query: str) -> int:
        """How many tokens the model sees for ``query`` (special tokens included), before truncation."""
        self.tokenizer.no_truncation()
        try:
            return len(self.tokenizer.encode(query).ids)
        finally:
            self.tokenizer.enable_truncation(int(self.record["max_length"]))

    def encode_queries(self, queries: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embed queries: ``(n_queries, dim)`` float32, unit norm."""
        from retrieval.encode.onnx_backend import pooled_unit_vectors

        prompt = self.record.get("prompt") or ""
        parts = []
        for start in range(0, len(queries), batch_size):
            encodings = self.tokenizer.encode_batch([prompt + q for q in queries[start : start + batch_size]])
            arrays = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            hidden = self.session.run(None, {name: value for name, value in arrays.items() if name in self._inputs})[0]
            parts.append(pooled_unit_vectors(hidden, arrays["attention_mask"], self.record["pooling"]))
        return np.ascontiguousarray(np.vstack(parts), dtype=np.float32)


def prepare_light_encoder(encoder: Any) -> bool:
    """Export ``encoder``'s model for light query encoding and check it (once per model); whether it may be used.

    Called by builds, which have the model loaded anyway; a failure is logged and only means searches
    load the full model.
    """
    info = encoder.describe()
    folder = runtime_folder(info)
    if folder is None or query_backend(info) != "torch":
        return False
    record_path = folder / RECORD_NAME
    if record_path.exists():
        return bool(json.loads(record_path.read_text(encoding="utf-8")).get("verified"))
    from index.format import write_json_atomic
    from retrieval.encode.onnx_backend import OnnxTransformer, exported

    model = encoder.model
    pooling = OnnxTransformer.pooling_of(model)
    exported(model, folder.name, quantized=False)
    fast = model.tokenizer
    scratch = folder / f".{TOKENIZER_NAME}.{os.getpid()}.tmp"
    fast.backend_tokenizer.save(str(scratch))
    os.replace(scratch, folder / TOKENIZER_NAME)
    record = {
        "model": info["name"],
        "revision": info["revision"],
        "dimension": info["dimension"],
        "pooling": pooling,
        "max_length": int(model.max_seq_length),
        "prompt": (model.prompts or {}).get("query") or "",
        "pad_id": int(fast.pad_token_id if fast.pad_token_id is not None else 0),
        "pad_token": fast.pad_token or "[PAD]",
        "tolerance": TOLERANCE,
    }
    light = LightQueryEncoder(folder, record)
    difference = float(
        np.abs(light.encode_queries(list(CHECK_QUERIES)) - encoder.encode_queries(list(CHECK_QUERIES))).max()
    )
    record.update(max_abs_difference=difference, verified=difference <= TOLERANCE)
    write_json_atomic(record_path, record)
    if not record["verified"]:
        logger.info(
            "The ONNX query encoder differs from %s by %.2e (> %.0e); searches load the full model.",
            info["name"],
            difference,
            TOLERANCE,
        )
    return bool(record["verified"])
