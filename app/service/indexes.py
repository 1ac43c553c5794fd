"""The indexes a service serves: names mapped to folders, each open at its newest committed version.

A request takes a lease on the searcher of the version that is committed when it starts and keeps it to the
end, however many commits land meanwhile; the next request sees the new version. A replaced version's
searcher is closed once its last lease ends. Query encoders are loaded once per model and shared by every
index and version that names that model.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.format import read_manifest, version_stamp
from retrieval.components import recipe_for
from retrieval.search.searcher import Searcher

logger = logging.getLogger(__name__)


class UnknownIndexError(KeyError):
    """A request named an index the service does not serve; ``name`` and the ``available`` names."""

    def __init__(self, name: str, available: list[str]) -> None:
        self.name, self.available = name, available
        super().__init__(name)


def parse_index_args(specs: list[str]) -> dict[str, Path]:
    """``DIR`` or ``NAME=DIR`` arguments as names -> folders (a folder's name by default); names must be unique.

    >>> parse_index_args(["data/dbpedia", "docs=/srv/python-docs"])
    {'dbpedia': PosixPath('data/dbpedia'), 'docs': PosixPath('/srv/python-docs')}
    """
    served: dict[str, Path] = {}
    for spec in specs:
        name, _, folder = spec.rpartition("=") if "=" in spec else ("", "", spec)
        path = Path(folder)
        name = name or path.resolve().name
        if not name or "/" in name:
            raise ValueError(f"{spec!r}: an index name must be a non-empty word without '/' (NAME=DIR)")
        if name in served:
            raise ValueError(f"two indexes are named {name!r}; name them with NAME=DIR")
        served[name] = path
    return served


def encoder_key(component: str, model: dict[str, Any], queries_only: bool) -> str:
    """Which loaded encoder serves a component's model record (query encoders and document encoders apart)."""
    return f"{'queries' if queries_only else 'documents'}:{component}:{json.dumps(model, sort_keys=True)}"


@dataclass
class _Version:
    stamp: Any
    searcher: Searcher
    leases: int = 0
    retired: bool = False


@dataclass
class ServedIndexes:
    """Searchers for named index folders, reopened when a new version is committed (see the module docstring)."""

    folders: dict[str, Path]
    opener: Callable[[Path, dict[str, Any]], Searcher] = field(
        default=lambda folder, encoders: Searcher.load(folder, encoders=encoders)
    )
    """How a committed version is opened, given its folder and query encoders (the Ray router opens sharded indexes
    whose shards are served by other deployments)."""
    _current: dict[str, _Version] = field(default_factory=dict)
    _encoders: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def names(self) -> list[str]:
        return list(self.folders)

    def folder(self, name: str) -> Path:
        """The folder served as ``name`` (:class:`UnknownIndexError` otherwise)."""
        if name not in self.folders:
            raise UnknownIndexError(name, self.names)
        return self.folders[name]

    @contextmanager
    def lease(self, name: str) -> Iterator[tuple[Searcher, Any]]:
        """``(searcher, version)`` of the committed version of index ``name``, held until the block ends."""
        version = self._acquire(name)
        try:
            yield version.searcher, version.stamp
        finally:
            with self._lock:
                version.leases -= 1
                closing = version.retired and version.leases == 0
            if closing:
                version.searcher.close()

    def _acquire(self, name: str) -> _Version:
        folder = self.folder(name)
        stamp = version_stamp(folder)
        with self._lock:
            current = self._current.get(name)
            if current is not None and current.stamp == stamp:
                current.leases += 1
                return current
        opened = _Version(version_stamp(folder), self.opener(folder, self._encoders_for(folder)))
        with self._lock:
            current = self._current.get(name)
            if current is not None and current.stamp == opened.stamp:  # another request opened it meanwhile
                opened.searcher.close()
                current.leases += 1
                return current
            if current is not None:
                current.retired = True
                if current.leases == 0:
                    current.searcher.close()
            self._current[name] = opened
            opened.leases += 1
            logger.info("Serving %s at version %s", name, opened.stamp)
            return opened

    def _encoders_for(self, folder: Path) -> dict[str, Any]:
        """The query encoders of an index's components, shared with every other index naming the same model."""
        return self._shared_encoders(read_manifest(folder), queries_only=True)

    def document_encoders(self, name: str) -> dict[str, Any]:
        """The document encoders an update of index ``name`` needs (loaded once per model, then shared)."""
        return self._shared_encoders(read_manifest(self.folder(name)), queries_only=False)

    def _shared_encoders(self, manifest: Any, *, queries_only: bool) -> dict[str, Any]:
        """Each component's encoder as its manifest names it (``None`` without a model), loaded once per model."""
        encoders = {}
        for component, section in manifest.components.items():
            model = getattr(section, "model", None)
            if not model:
                encoders[component] = None
                continue
            key = encoder_key(component, model, queries_only)
            with self._lock:
                known = self._encoders.get(key)
            if known is None:
                known = recipe_for(component).stored_encoder(model, None, queries_only=queries_only)
                with self._lock:
                    known = self._encoders.setdefault(key, known)
            encoders[component] = known
        return encoders

    def open_all(self) -> None:
        """Open every index at its committed version and load its models (what ``/ready`` waits for)."""
        for name in self.names:
            with self.lease(name) as (searcher, _):
                for component in searcher.manifest.components:
                    searcher.encoder_for(component)

    def close(self) -> None:
        with self._lock:
            versions, self._current = list(self._current.values()), {}
        for version in versions:
            version.retired = True
            if version.leases == 0:
                version.searcher.close()
