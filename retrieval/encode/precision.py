"""Numeric precision of the torch encoders: which runtime a build's ``--backend auto`` becomes on this hardware,
and the bfloat16 autocast that the ``torch-bf16`` runtime encodes under.

bfloat16 only pays where the hardware multiplies it natively (a GPU, or a CPU with AMX or AVX512-BF16
units): there oneDNN runs the matrix products in bf16 at about twice float32's speed for the same
rankings; elsewhere it is emulated and slower. Queries stay float32 under ``auto``: a single short query
is no faster in bf16, and float32 queries keep the light ONNX query encoder (checked against float32).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

AUTO = "auto"
FLOAT32 = "torch"
BFLOAT16 = "torch-bf16"


def native_bfloat16(device: str) -> bool:
    """Whether ``device`` multiplies bfloat16 natively: a CUDA GPU that supports it, or a CPU with AMX or
    AVX512-BF16."""
    import torch

    if device.startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device != "cpu":
        return False
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # torch's own CPU feature checks
    return any(bool(getattr(torch.cpu, probe, lambda: False)()) for probe in probes)


def resolve_backend(backend: str, device: str) -> tuple[str, str]:
    """The runtimes ``(documents, queries)`` for a build's backend setting on ``device``.

    ``auto`` encodes documents in bfloat16 where the device does so natively and in float32 elsewhere, and
    queries in float32; any other setting is used for both.
    """
    if backend != AUTO:
        return backend, backend
    documents = BFLOAT16 if native_bfloat16(device) else FLOAT32
    logger.debug("Backend auto on %s: documents %s, queries %s", device, documents, FLOAT32)
    return documents, FLOAT32


def autocast(backend: str, device_type: str) -> Any:
    """bfloat16 autocast for the torch-bf16 runtime (matrix products in bf16; norms and softmax stay float32)."""
    if backend != BFLOAT16:
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type, dtype=torch.bfloat16)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` as float32 rows of length one: a model's normalisation run in bf16 leaves norms off by ~1e-3."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, np.finfo(np.float32).tiny))


__all__ = ["AUTO", "BFLOAT16", "FLOAT32", "autocast", "native_bfloat16", "resolve_backend", "unit_rows"]
