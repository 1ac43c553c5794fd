"""Encoders that remember the documents they encoded, for tests that index the same texts several times on purpose
(the MTEB agreement runs, the drift fixture and its compaction, the one-folder and sharded builds that the sharding
tests update alike): each model input is encoded once.

The model is the real one and a remembered vector is the one it gave for that input the first time; only the work of
encoding it again is saved. An input is the token ids the model embeds for a text, cut where the model cuts: a
document and the same document truncated by a build at the model's limit are one input. Queries are always encoded
afresh. A model's output for an input moves in the last digits with the batch it was encoded in, so the session's
shared encoders do not remember: the indexes every module shares (and the golden answers recorded over them) must
not depend on which test encoded a text first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from retrieval.encode.dense import DenseEncoder
from retrieval.encode.multivector import MultiVectorEncoder


class _Remembering:
    _remembered: dict[tuple[int, ...], Any]

    def encode_documents(
        self,
        texts: Sequence[str],
        batch_size: int = 16,
        *,
        token_budget: int | None = None,
        lengths: Sequence[int] | None = None,
    ) -> Any:
        texts = list(texts)
        keys = self._inputs(texts)
        new: dict[tuple[int, ...], int] = {}  # an input not remembered yet: the first text that gives it
        for position, key in enumerate(keys):
            if key not in self._remembered:
                new.setdefault(key, position)
        if new:
            chosen = list(new.values())
            encoded = super().encode_documents(  # type: ignore[misc]
                [texts[i] for i in chosen],
                batch_size,
                token_budget=token_budget,
                lengths=[lengths[i] for i in chosen] if lengths is not None else None,
            )
            self._remembered.update(zip(new, encoded))
        return self._shaped([self._remembered[key] for key in keys])

    def _inputs(self, texts: list[str]) -> list[tuple[int, ...]]:
        """The token ids the model embeds for each text (cut where the model cuts it): a document and the same
        document truncated by a build at the model's limit are one input, encoded once."""
        if not texts:
            return []
        limit = self.chunk_limit  # type: ignore[attr-defined]
        ids = self.tokenizer(texts, add_special_tokens=False, truncation=True, max_length=limit, verbose=False)  # type: ignore[attr-defined]
        return [tuple(row) for row in ids["input_ids"]]

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
