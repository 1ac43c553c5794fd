"""Encoders that remember the documents they encoded, keyed by content, for tests that index the same texts several
times on purpose (the MTEB agreement runs, the drift fixture and its compaction, the one-folder and sharded builds
that the sharding tests update alike): each text is encoded once.

The model is the real one and a remembered vector is the one it gave for that exact text the first time; only the
work of encoding it again is saved. Queries are always encoded afresh. A model's output for a text moves in the last
digits with the batch it was encoded in, so the session's shared encoders do not remember: the indexes every module
shares (and the golden answers recorded over them) must not depend on which test encoded a text first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from retrieval.encode.dense import DenseEncoder
from retrieval.encode.multivector import MultiVectorEncoder


class _Remembering:
    _remembered: dict[str, Any]

    def encode_documents(
        self,
        texts: Sequence[str],
        batch_size: int = 16,
        *,
        token_budget: int | None = None,
        lengths: Sequence[int] | None = None,
    ) -> Any:
        texts = list(texts)
        known = dict(zip(texts, lengths)) if lengths is not None else {}
        new = [t for t in dict.fromkeys(texts) if t not in self._remembered]
        if new:
            encoded = super().encode_documents(  # type: ignore[misc]
                new, batch_size, token_budget=token_budget, lengths=[known[t] for t in new] if known else None
            )
            self._remembered.update(zip(new, encoded))
        return self._shaped([self._remembered[t] for t in texts])

    def _shaped(self, vectors: list[Any]) -> Any:
        return vectors


class RememberingDenseEncoder(_Remembering, DenseEncoder):
    def _shaped(self, vectors: list[Any]) -> np.ndarray:
        return np.stack(vectors) if vectors else np.zeros((0, self.dimension), dtype=np.float32)


class RememberingMultiVectorEncoder(_Remembering, MultiVectorEncoder):
    pass


def remembering(encoder: Any) -> Any:
    """``encoder`` (a loaded dense or multi-vector encoder) remembering the documents it encodes."""
    kind = RememberingDenseEncoder if isinstance(encoder, DenseEncoder) else RememberingMultiVectorEncoder
    remembered = kind.__new__(kind)
    remembered.__dict__.update(encoder.__dict__)
    remembered._remembered = {}
    return remembered
