"""The typed manifest of an index folder (format version 3), and the upgrade of version-2 manifests.

Version 3 keeps one section per component under ``components`` (each typed by its component, see
:mod:`index.component`); version 2 kept the dense, multi-vector and BM25 sections at the top level and
the dense model beside them. A version-2 manifest is read as its version-3 equivalent, so the next write
of such an index (an update, a compaction) stores it in the current format; its payload files are the same.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from index.component import component_type, registered
from index.errors import IndexFormatError, UnknownComponentError
from index.sections import CorruptManifestError, Section

FORMAT_VERSION = 3
READABLE_VERSIONS = (2, 3)


@dataclass
class DocumentsSection(Section):
    """The document store: its file and how many documents it holds."""

    file: str
    count: int


@dataclass
class FileEntry(Section):
    """A payload file's size and SHA-256, checked before an index is searched or changed."""

    bytes: int
    sha256: str


@dataclass
class BuildRecord(Section):
    """Where the documents came from and the settings the index was built with."""

    corpus: str
    config: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class TunedSearch(Section):
    """Search settings chosen from relevance judgments (``modernsearch tune --apply``) that searches of this index
    use unless told otherwise, with where they came from: the dataset, the metric, and its cross-validated estimate."""

    settings: dict[str, Any]
    dataset: str
    metric: str
    cv_metric: float
    in_sample_metric: float
    queries: int
    tuned_at: str


@dataclass
class ShardEntry(Section):
    """One shard of a sharded index: a complete index folder holding a contiguous run of the document row ids."""

    documents: int
    first_row: int
    last_row: int


@dataclass
class Manifest(Section):
    """Everything recorded about one committed version of an index folder."""

    format_version: int
    created_at: str
    mode: str
    documents: DocumentsSection
    components: dict[str, Any]
    files: dict[str, FileEntry]
    build: BuildRecord
    versions: dict[str, Any] = field(default_factory=dict)
    updates: list[Any] = field(default_factory=list)
    tuned_search: TunedSearch | None = None
    shards: dict[str, ShardEntry] = field(default_factory=dict)
    """Empty for one index folder. For a sharded index: its shard folders (each a complete index), whose manifests are
    its ``files``; ``components`` then describe the whole collection (the shards share its trained structures)."""
    read_from_version: int = field(default=FORMAT_VERSION, metadata={"stored": False})

    @classmethod
    def parse(cls, data: Any, path: Path) -> Manifest:
        """Check a manifest's JSON (either readable version) and return it in the current format."""
        version = data.get("format_version") if isinstance(data, dict) else None
        if version not in READABLE_VERSIONS:
            raise IndexFormatError(
                f"{path} has format_version {version!r}; this modernsearch reads versions "
                f"{', '.join(map(str, READABLE_VERSIONS))}. Rebuild the index with this version."
            )
        if version == 2:
            data = _upgrade_v2(data)
        manifest = cls.from_json(data, path, "")
        if not manifest.components:
            raise CorruptManifestError(path, "components", "is empty: the index holds no searchable part")
        for name, section in manifest.components.items():
            if name not in registered():
                raise UnknownComponentError(path, name, tuple(registered()))
            manifest.components[name] = component_type(name).section_type.from_json(section, path, f"components.{name}")
        for name, entry in manifest.files.items():
            _check_file_entry(path, name, entry)
        manifest.format_version, manifest.read_from_version = FORMAT_VERSION, version
        return manifest

    def to_json(self) -> dict[str, Any]:
        """The manifest as it is written (always the current format)."""
        stored = super().to_json()
        for f in dataclasses.fields(self):
            if f.metadata.get("stored") is False:
                stored.pop(f.name)
        return stored

    @property
    def payload_bytes(self) -> int:
        """Total size of the payload files."""
        return sum(entry.bytes for entry in self.files.values())


def _upgrade_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A version-2 manifest in the version-3 layout: component sections move under ``components``; the
    top-level model (the dense model in version 2) moves into the sections that declare a model but had none."""
    sections = {name: data[name] for name in registered() if name in data}
    for name, section in sections.items():
        declares_model = any(f.name == "model" for f in dataclasses.fields(component_type(name).section_type))
        if isinstance(section, dict) and declares_model and "model" not in section and "model" in data:
            sections[name] = {**section, "model": data["model"]}
    rest = {key: value for key, value in data.items() if key not in sections and key != "model"}
    return {**rest, "components": sections}


def _check_file_entry(path: Path, name: str, entry: FileEntry) -> None:
    """A payload file is named by a relative path inside the index folder, with a size and a SHA-256."""
    pure = PurePosixPath(name)
    if not name or pure.is_absolute() or ".." in pure.parts or "\\" in name or "\x00" in name:
        raise CorruptManifestError(path, f"files[{name!r}]", "must name a file inside the index folder")
    if entry.bytes < 0:
        raise CorruptManifestError(path, f"files[{name!r}].bytes", "must be a non-negative integer")
    digest = entry.sha256
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise CorruptManifestError(path, f"files[{name!r}].sha256", "must be 64 lowercase hex digits")
