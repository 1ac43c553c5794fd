"""The BM25 component: lexical scores over analysed term lists (:mod:`index.bm25`)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from index.bm25 import BM25_FOLDER, DEFAULT_PARAMS, ROW_IDS_FILE, BM25Index
from index.component import Ranking, register, same_ids, sorted_ids
from index.errors import IndexFormatError
from index.sections import Section


@dataclass
class BM25Section(Section):
    """The BM25 component's manifest section."""

    k1: float
    b: float
    method: str
    documents: int
    vocabulary: int
    analyser: dict[str, Any] = field(default_factory=dict)
    folder: str = BM25_FOLDER
    library: str = "bm25s"


@dataclass(frozen=True)
class TermRows:
    """Analysed documents: one term list per document row id, and the record of the analyser that made them (kept
    in the manifest section, so that queries are analysed alike)."""

    terms: list[list[str]]
    row_ids: np.ndarray
    analyser: dict[str, Any] = field(default_factory=dict)


@register
class BM25Component:
    """BM25 over the whole collection. Its statistics (document frequencies, average length) depend on every
    document, so it is rebuilt from all stored documents on each change (``incremental`` is false)."""

    name: ClassVar[str] = "bm25"
    section_type: ClassVar[type[Section]] = BM25Section
    incremental: ClassVar[bool] = False

    def __init__(self, index: BM25Index, analyser: Mapping[str, Any] | None = None) -> None:
        self.index = index
        self.analyser = dict(analyser or {})

    @classmethod
    def build(cls, rows: TermRows, settings: Mapping[str, Any]) -> BM25Component:
        params = {key: settings.get(key, default) for key, default in DEFAULT_PARAMS.items()}
        return cls(BM25Index.build(rows.terms, np.asarray(rows.row_ids, dtype=np.int64), params), rows.analyser)

    @classmethod
    def load(cls, folder: Path, section: BM25Section, *, writable: bool = False) -> BM25Component:
        try:
            index = BM25Index.load(Path(folder), {"k1": section.k1, "b": section.b, "method": section.method})
        except (OSError, ValueError, KeyError) as err:
            raise IndexFormatError(f"{folder}: the BM25 files cannot be read ({err}). Rebuild the index.") from err
        if len(index) != section.documents:
            raise IndexFormatError(
                f"{folder}: the BM25 index holds {len(index)} documents but the manifest records {section.documents}. "
                "Rebuild the index."
            )
        return cls(index)

    def save(self, folder: Path) -> list[str]:
        shutil.rmtree(Path(folder) / BM25_FOLDER, ignore_errors=True)  # its own folder: the files of the last version
        return self.index.save(Path(folder))

    def add(self, rows: TermRows) -> BM25Component:
        raise NotImplementedError("BM25 is not incremental: build it again from every document's terms")

    def remove(self, row_ids: np.ndarray) -> BM25Component:
        raise NotImplementedError("BM25 is not incremental: build it again from every document's terms")

    def part(self, row_ids: np.ndarray) -> BM25Component:
        return BM25Component(
            self.index.part(np.flatnonzero(np.isin(self.index.row_ids, np.asarray(row_ids, dtype=np.int64)))),
            self.analyser,
        )

    def row_ids(self) -> np.ndarray:
        return sorted_ids(self.index.row_ids)

    def search(
        self,
        queries: Sequence[Any],
        k: int,
        *,
        allowed: np.ndarray | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> list[Ranking]:
        found = []
        for terms in queries:
            scores, rows = self.index.search(terms, k, allowed=allowed)
            found.append(Ranking(np.asarray(rows, dtype=np.int64), np.asarray(scores, dtype=np.float32)))
        return found

    def describe(self) -> dict[str, Any]:
        return {**self.index.describe(), **({"analyser": self.analyser} if self.analyser else {})}

    def training_fit(self) -> dict[str, Any] | None:
        return None

    def drift(self, section: BM25Section) -> float | None:
        return None

    @classmethod
    def summary(cls, section: BM25Section) -> list[tuple[str, str]]:
        """Rows for people (``info``, the UI's index page)."""
        return [
            ("BM25", f"bm25s {section.method}, k1={section.k1}, b={section.b}, {section.vocabulary:,} terms"),
            ("BM25 analyser", ", ".join(f"{k}={v}" for k, v in section.analyser.items() if k != "token_pattern")),
        ]

    @classmethod
    def label(cls, section: BM25Section) -> str:
        """The structure in a few words, for build summaries and result tables (``BM25-code`` with the code analyser).

        >>> BM25Component.label(BM25Section(1.5, 0.75, "lucene", 10, 99, {"name": "code"}))
        'BM25-code(k1=1.5,b=0.75)'
        """
        name = "BM25-code" if section.analyser.get("name") == "code" else "BM25"
        return f"{name}(k1={section.k1},b={section.b})"

    @classmethod
    def verify(cls, folder: Path, section: BM25Section, row_ids: np.ndarray) -> str:
        path = Path(folder) / BM25_FOLDER / ROW_IDS_FILE
        same_ids(str(path), np.load(path), row_ids)
        return f"{len(row_ids):,} documents scored"
