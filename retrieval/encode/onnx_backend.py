"""ONNX Runtime for dense encoders on CPU: the model's transformer exported once with ``torch.onnx``, optionally
quantised to int8 weights with ONNX Runtime's dynamic quantisation (MatMul weights only, one scale per
output channel: per-tensor scales over every op moved MiniLM's embeddings to cosine 0.90-0.94 of float32,
these keep them above 0.99), cached under ``$MODERNSEARCH_HOME/onnx``.

sentence-transformers' own ``backend="onnx"`` needs ``optimum-onnx``, whose only release requires
transformers < 4.58, while PyLate 1.6 runs on transformers 5; so the export and session live here, and
pooling and normalisation (mean or CLS, as the model's Pooling module says) run in NumPy.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import SettingError
from retrieval.config import home_dir

OPSET = 17
INT8_FILE = "model-int8-matmul-per-channel.onnx"


class OnnxTransformer:
    """A sentence-transformers model's transformer + pooling, run by ONNX Runtime."""

    def __init__(self, session: Any, tokenizer: Any, pooling: str, max_length: int) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = max_length
        self._inputs = {i.name for i in session.get_inputs()}

    @classmethod
    def load(cls, model: Any, cache_key: str, *, quantized: bool) -> OnnxTransformer:
        """Open the cached export of ``model`` (exporting it first if this is the first use)."""
        import onnxruntime

        pooling = cls.pooling_of(model)
        path = exported(model, cache_key, quantized=quantized)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return cls(session, model.tokenizer, pooling, int(model.max_seq_length))

    @staticmethod
    def pooling_of(model: Any) -> str:
        """The model's pooling (mean or cls), as its Pooling module says; others are not supported here."""
        pooling = model[1].get_pooling_mode_str() if len(model) > 1 else "mean"
        if pooling not in ("mean", "cls"):
            raise SettingError(
                "backend",
                "onnx",
                f"must be torch for a model that pools with {pooling!r} (the ONNX backend supports mean or CLS "
                "pooling)",
            )
        return pooling

    def embed(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Unit-norm embeddings ``(len(texts), dim)``, ``batch_size`` texts per run, truncated to the model's length."""
        parts = []
        for start in range(0, len(texts), batch_size):
            encoded = self.tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="np",
            )
            feeds = {name: np.asarray(value, dtype=np.int64) for name, value in encoded.items() if name in self._inputs}
            parts.append(pooled_unit_vectors(self.session.run(None, feeds)[0], encoded["attention_mask"], self.pooling))
        return np.ascontiguousarray(np.vstack(parts), dtype=np.float32)


def pooled_unit_vectors(hidden: np.ndarray, attention_mask: np.ndarray, pooling: str) -> np.ndarray:
    """Sentence embeddings from token states ``(batch, tokens, dim)``: the mean over unmasked tokens (or the
    first token, ``cls``), L2-normalised to ``(batch, dim)``.

    >>> hidden = np.array([[[3.0, 0.0], [1.0, 4.0], [9.0, 9.0]]])
    >>> pooled_unit_vectors(hidden, np.array([[1, 1, 0]]), "mean")  # the padded third token is ignored
    array([[0.70710678, 0.70710678]])
    >>> pooled_unit_vectors(hidden, np.array([[1, 1, 0]]), "cls")
    array([[1., 0.]])
    """
    if pooling == "cls":
        pooled = hidden[:, 0]
    else:
        mask = attention_mask[..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


def cache_key(name: str, revision: str | None) -> str:
    """Folder name of a model's exports: its name and revision, safe as a path component."""
    return f"{name.replace('/', '--')}-{(revision or 'unknown').replace(':', '-')}"


def exported(model: Any, cache_key: str, *, quantized: bool) -> Path:
    """Path of the cached ONNX file for ``model``: exported (and quantised) once, written atomically."""
    folder = home_dir() / "onnx" / cache_key
    plain, int8 = folder / "model.onnx", folder / INT8_FILE
    if not plain.exists():
        _atomically(plain, lambda tmp: _export(model, tmp))
    if quantized and not int8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        _atomically(
            int8,
            lambda tmp: quantize_dynamic(
                str(plain), str(tmp), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]
            ),
        )
    return int8 if quantized else plain


def _atomically(target: Path, write: Any) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.stem}-"))
    try:
        write(scratch / target.name)
        os.replace(scratch / target.name, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _export(model: Any, path: Path) -> None:
    """Export the transformer (token ids in, last hidden state out) with dynamic batch and sequence axes."""
    import torch

    transformer = model[0].auto_model.eval()
    sample = model.tokenizer(["an example", "a slightly longer example text"], padding=True, return_tensors="pt")
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample]

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: Any) -> Any:
            return self.transformer(**dict(zip(names, inputs))).last_hidden_state

    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "last_hidden_state"]}
    # The TorchScript exporter warns that it is legacy, that tracing turns Python conditions into constants and
    # how it exports advanced indexing. What matters is the exported graph's output: the light query encoder is
    # compared with the model before it is used, and the ONNX backends with torch in tests/test_backends.py. To a
    # user these warnings would only be noise they can do nothing about.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings(
            "ignore", category=DeprecationWarning, message=r"You are using the legacy TorchScript-based ONNX export"
        )
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r"Exporting aten::index operator", category=UserWarning)
        torch.onnx.export(
            LastHiddenState(),
            tuple(sample[n] for n in names),
            str(path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
