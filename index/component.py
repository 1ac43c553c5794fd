"""The contract every retrieval component of an index folder follows, and the one registry of components.

A component is one searchable structure over the documents of an index (a FAISS vector index, a
multi-vector token index, a BM25 matrix ...). It receives rows already encoded by the caller (it
knows nothing of models), is keyed by document row ids (``documents.sqlite``), and describes itself
in its own typed section of the manifest. Builders, updaters, compaction, verification and search
loop over the components an index has; only a component's own module knows what it stores.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
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


@runtime_checkable
class Rescoring(Protocol):
    """An optional ability: scoring given documents against one query, so the component can rerank what another
    stage found (exact MaxSim for the multi-vector component)."""

    def rescore(self, query: Any, row_ids: Sequence[int]) -> np.ndarray:
        """Scores of ``row_ids`` for ``query``, in their order."""


@runtime_checkable
class Explaining(Protocol):
    """An optional ability: a document's stored token vectors, from which a match is explained token by token."""

    def document_vectors(self, row_id: int) -> np.ndarray:
        """The stored vectors of one document (decoded where compressed)."""


@runtime_checkable
class SearchingInParts(Protocol):
    """An optional ability: searching the parts of a split component (shards) together with stages of its own, as
    the whole would answer, where merging each part's top k would not. Each part exposes those stages as its
    ``index``; a part served elsewhere answers ``stage_calls`` there and keeps ``stage_facts`` here."""

    stage_calls: ClassVar[frozenset[str]]
    """The methods of a part's ``index`` that the stages call."""

    @classmethod
    def search_parts(
        cls, parts: Sequence[Any], queries: Sequence[Any], k: int, *, allowed: Any, options: Any, run: Any
    ) -> list[Ranking]:
        """:meth:`IndexComponent.search` over several parts at once."""

    def stage_facts(self) -> dict[str, Any]:
        """What the stages read of a part's ``index`` without calling it (attributes), kept by a remote proxy."""


ABILITIES: tuple[type, ...] = (Rescoring, Explaining, SearchingInParts)
BASE_CALLS = frozenset({"search", "row_ids"})  # what any searched component answers


@functools.cache
def abilities(kind: type) -> tuple[type, ...]:
    """The optional abilities a component class has, asked of the class itself (never of a proxy); a class's
    abilities never change, so each is worked out once (searches ask on every query)."""
    return tuple(ability for ability in ABILITIES if _has(kind, ability))


def has_ability(kind: type, ability: type) -> bool:
    """Whether component class ``kind`` has ``ability`` (one of :data:`ABILITIES`)."""
    return ability in abilities(kind)


def forwarded_calls(kind: type) -> frozenset[str]:
    """The methods a remote proxy for a component of class ``kind`` answers: searching, and the per-part methods of
    its abilities (``search_parts`` and ``stage_facts`` run on this side)."""
    own = {name for ability in abilities(kind) for name in _members(ability)} - set(_members(SearchingInParts))
    return BASE_CALLS | own


def _has(kind: type, ability: type) -> bool:
    return all(hasattr(kind, name) for name in _members(ability))


@functools.cache
def _members(ability: type) -> tuple[str, ...]:
    """What a protocol declares: its methods and annotated attributes."""
    declared = [*vars(ability), *getattr(ability, "__annotations__", {})]
    return tuple(dict.fromkeys(name for name in declared if not name.startswith("_")))


_REGISTRY: dict[str, type[IndexComponent]] = {}
_BUILTIN_MODULES = ("index.components.dense", "index.components.multivector", "index.components.bm25")
PLUGINS_VARIABLE = "MODERNSEARCH_COMPONENTS"
ENTRY_POINTS = "modernsearch.components"
_plugins_loaded = False


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
    """Import the built-in components and, once, the modules other packages name: the environment variable
    ``MODERNSEARCH_COMPONENTS`` (comma-separated module names) and the ``modernsearch.components`` entry points.
    Such a module registers its component when imported (:func:`retrieval.registry.register`)."""
    global _plugins_loaded
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_VARIABLE, "").split(","))):
        importlib.import_module(module)
    for point in entry_points(group=ENTRY_POINTS):
        point.load()


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
