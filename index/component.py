"""The contract every retrieval component of an index folder follows, and the one registry of components.

A component is one searchable structure over the documents of an index (a FAISS vector index, a
multi-vector token index, a BM25 matrix ...). It receives rows already encoded by the caller (it
knows nothing of models), is keyed by document row ids (``documents.sqlite``), and describes itself
in its own typed section of the manifest. Builders, updaters, compaction, verification and search
loop over the components an index has; only a component's own module knows what it stores.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np

from index.errors import IndexFormatError
from index.sections import Section


@dataclass(frozen=True)
class Ranking:
    """One query's answer from one component: document row ids, best first, with their scores.

    ``chunks`` is the best-matching chunk of each document where the component stores documents in
    chunks (``-1`` where unknown), else ``None``.
    """

    rows: np.ndarray
    scores: np.ndarray
    chunks: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def empty(cls) -> Ranking:
        """No documents."""
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


C = TypeVar("C", bound="IndexComponent")


@runtime_checkable
class IndexComponent(Protocol):
    """What the builder, updater, compaction, verification and search need from a component.

    ``rows`` is the component's own encoded form of some documents (vectors with ids, token matrices
    with offsets, term lists ...), produced by the retrieval layer's encoding for this component.
    Every method that changes the component returns the changed component (possibly a new object).
    """

    name: ClassVar[str]
    section_type: ClassVar[type[Section]]
    incremental: ClassVar[bool]
    """``add``/``remove`` change it in place of a rebuild; a non-incremental component is rebuilt from every document's
    rows on each change (BM25, whose statistics depend on every document)."""

    @classmethod
    def build(cls: type[C], rows: Any, settings: Mapping[str, Any]) -> C:
        """A new component over ``rows`` (trained on them where it needs training)."""

    @classmethod
    def load(cls: type[C], folder: Path, section: Any, *, writable: bool = False) -> C:
        """Open the component saved in ``folder`` as its manifest ``section`` describes it."""

    def save(self, folder: Path) -> list[str]:
        """Write the component's files into ``folder`` (replacing its own earlier files there); returns their
        paths relative to ``folder``."""

    def add(self: C, rows: Any) -> C:
        """The component with these documents' rows added (trained structures kept as they are)."""

    def remove(self: C, row_ids: np.ndarray) -> C:
        """The component without any row of these documents."""

    def part(self: C, row_ids: np.ndarray) -> C:
        """The component holding only these documents, with the trained structures and collection statistics of the
        whole, so that the parts of a split (shards) search together exactly as the whole does; ``self`` is
        unchanged."""

    def row_ids(self) -> np.ndarray:
        """The distinct document row ids the component holds, sorted."""

    def search(
        self,
        queries: Sequence[Any],
        k: int,
        *,
        allowed: np.ndarray | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> list[Ranking]:
        """Top-``k`` documents per encoded query; with ``allowed`` (sorted row ids), only those documents.
        ``options`` are search settings by name; a component reads those it knows."""

    def describe(self) -> dict[str, Any]:
        """Facts about the component as it is now, for its manifest section (counts, structure, parameters)."""

    def training_fit(self) -> dict[str, Any] | None:
        """Facts recorded right after training (the manifest section's ``trained``), ``None`` if nothing is trained."""

    def drift(self, section: Any) -> float | None:
        """How much worse its trained structures fit the data now than right after training (1.0: as well),
        or ``None`` when it has nothing trained."""

    @classmethod
    def summary(cls, section: Any) -> list[tuple[str, str]]:
        """``(label, value)`` rows about the component for people (``info``, the UI's index page)."""

    @classmethod
    def label(cls, section: Any) -> str:
        """The structure in a few words, for build summaries and report tables."""

    @classmethod
    def verify(cls, folder: Path, section: Any, row_ids: np.ndarray) -> str:
        """Check the saved files against the stored document row ids; raise :class:`IndexFormatError` on a
        mismatch, else return a one-line description of what was checked."""


_REGISTRY: dict[str, type[IndexComponent]] = {}
_BUILTIN_MODULES = ("index.components.dense", "index.components.multivector", "index.components.bm25")


def register(component: type[C]) -> type[C]:
    """Add a component class to the registry under its ``name`` (usable as a class decorator)."""
    existing = _REGISTRY.get(component.name)
    if existing is not None and existing is not component:
        raise ValueError(f"a different component is already registered as {component.name!r}: {existing.__qualname__}")
    _REGISTRY[component.name] = component
    return component


def unregister(name: str) -> None:
    """Remove a component from the registry (tests that register their own)."""
    _REGISTRY.pop(name, None)


def registered() -> dict[str, type[IndexComponent]]:
    """Every registered component by name, built-in ones first, in registration order."""
    _load_builtin()
    order = {module: position for position, module in enumerate(_BUILTIN_MODULES)}
    # built-ins first in a fixed order, whatever imported them first; others follow as registered
    return dict(sorted(_REGISTRY.items(), key=lambda item: order.get(item[1].__module__, len(order))))


def component_type(name: str) -> type[IndexComponent]:
    """The registered component called ``name``."""
    found = registered().get(name)
    if found is None:
        raise IndexFormatError(f"unknown index component {name!r}; this modernsearch knows {', '.join(registered())}")
    return found


def _load_builtin() -> None:
    import importlib

    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def sorted_ids(ids: Any) -> np.ndarray:
    """Distinct row ids as a sorted int64 array (the form ``allowed`` and ``row_ids`` use)."""
    return np.unique(np.asarray(ids, dtype=np.int64))


def same_ids(what: str, found: np.ndarray, rows: np.ndarray) -> None:
    """Raise :class:`IndexFormatError` unless ``found`` holds exactly the document row ids ``rows``."""
    found = np.sort(np.asarray(found, dtype=np.int64))
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    if len(found) != len(rows) or not np.array_equal(found, rows):
        missing = np.setdiff1d(rows, found)[:5].tolist()
        extra = np.setdiff1d(found, rows)[:5].tolist()
        raise IndexFormatError(
            f"{what} holds {len(found)} ids for {len(rows)} documents "
            f"(documents without an entry: {missing}, entries without a document: {extra})"
        )


def section_with(section: Section, facts: Mapping[str, Any]) -> Section:
    """``section`` with the fields ``facts`` names replaced (facts it has no field for are ignored)."""
    known = {f.name for f in dataclasses.fields(section)}
    return dataclasses.replace(section, **{k: v for k, v in facts.items() if k in known})


def encoding_row(model: Mapping[str, Any], label: str = "encoding") -> tuple[str, str]:
    """The summary row saying which runtime embedded the documents and which embeds queries (as the build recorded)."""
    documents = model.get("backend") or "torch"
    queries = model.get("query_backend") or documents
    return label, f"documents {documents}, queries {queries}" if queries != documents else documents
