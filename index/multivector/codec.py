"""The multi-vector index's residual codec: which FAISS quantizer stores a token's residual (token minus its centroid),
how it is trained, decoded, named and kept on disk.

=========  ====================================  ===========================  =================
codec      quantizer                             bytes per token (with id)    file
=========  ====================================  ===========================  =================
``pq``     ``faiss.ProductQuantizer`` 32 x 8 bit  36                           ``mv_pq.faiss``
``pq64``   ``faiss.ProductQuantizer`` 64 x 8 bit  68                           ``mv_pq.faiss``
``sq8``    ``faiss.ScalarQuantizer`` 8 bit         4 + dimension                ``mv_sq.npy`` (ranges)
``none``   as ``pq``, exact vectors kept beside    36 (+ 4 x dimension)         ``mv_pq.faiss``
=========  ====================================  ===========================  =================
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

CODECS = ("pq", "pq64", "sq8", "none")
PQ_FILE = "mv_pq.faiss"
SQ_FILE = "mv_sq.npy"
# Training effort: the fewest PQ iterations that keep nDCG@10 at exact MaxSim's level (docs/index-format.md,
# "Design choices"); the larger codec's finer code words need more data and iterations to pay off (measured in
# ``bench multivector``).
PQ_ITERATIONS = 10
PQ_TRAINING_TOKENS = 256 * 64  # 64 residuals per PQ code word
PQ64_ITERATIONS = 25
PQ64_TRAINING_TOKENS = 256 * 256


def untrained(codec: str, dim: int) -> tuple[Any, int, int]:
    """An untrained quantizer for ``codec`` with its training iterations (0: no k-means) and sample size in tokens."""
    import faiss

    if codec not in CODECS:
        raise ValueError(f"codec must be one of {', '.join(CODECS)}, got {codec!r}")
    if codec == "sq8":
        return faiss.ScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit), 0, PQ_TRAINING_TOKENS
    if codec == "pq64":
        return faiss.ProductQuantizer(dim, 64, 8), PQ64_ITERATIONS, PQ64_TRAINING_TOKENS
    return faiss.ProductQuantizer(dim, 32, 8), PQ_ITERATIONS, PQ_TRAINING_TOKENS


def train(quantizer: Any, iterations: int, residuals: np.ndarray) -> None:
    """Train ``quantizer`` on a sample of residuals (a tiny collection's are repeated so each PQ code book can
    train)."""
    if iterations:
        quantizer.cp.niter = iterations
        if len(residuals) < quantizer.ksub:
            residuals = np.tile(residuals, (-(-quantizer.ksub // len(residuals)), 1))
    quantizer.train(np.ascontiguousarray(residuals, dtype=np.float32))


def decode(quantizer: Any, codes: np.ndarray) -> np.ndarray:
    """Residuals from their codes (``(n, dim)`` float32), written straight into a new array by FAISS."""
    import faiss

    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    out = np.empty((len(codes), quantizer.d), dtype=np.float32)
    if len(codes):
        quantizer.decode_c(faiss.swig_ptr(codes), faiss.swig_ptr(out), len(codes))
    return out


def name_of(quantizer: Any, exact: bool) -> str:
    """The codec name of a trained quantizer (``none`` when exact vectors are kept beside it)."""
    import faiss

    if exact:
        return "none"
    if isinstance(quantizer, faiss.ScalarQuantizer):
        return "sq8"
    return "pq64" if quantizer.M == 64 else "pq"


def describe(quantizer: Any) -> str:
    """The quantizer in a few words, for the manifest."""
    import faiss

    if isinstance(quantizer, faiss.ScalarQuantizer):
        return "SQ8 on residuals"
    return f"PQ{quantizer.M}x{quantizer.nbits} on residuals"


def save(quantizer: Any, folder: Path) -> str:
    """Write the trained quantizer into ``folder``; returns the file's name."""
    import faiss

    if isinstance(quantizer, faiss.ScalarQuantizer):
        np.save(Path(folder) / SQ_FILE, faiss.vector_to_array(quantizer.trained).reshape(2, -1))
        return SQ_FILE
    faiss.write_ProductQuantizer(quantizer, str(Path(folder) / PQ_FILE))
    return PQ_FILE


def load(folder: Path) -> Any:
    """The trained quantizer saved in ``folder``."""
    import faiss

    ranges_path = Path(folder) / SQ_FILE
    if ranges_path.exists():
        ranges = np.load(ranges_path)
        quantizer = faiss.ScalarQuantizer(ranges.shape[1], faiss.ScalarQuantizer.QT_8bit)
        faiss.copy_array_to_vector(np.ascontiguousarray(ranges.ravel(), dtype=np.float32), quantizer.trained)
        return quantizer
    return faiss.read_ProductQuantizer(str(Path(folder) / PQ_FILE))
