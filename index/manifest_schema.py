"""The manifest's schema, checked on every load: a manifest that parses but has wrong types or missing
keys is reported as ``corrupt manifest: FIELD ...`` instead of failing later wherever the value is used.

Only what the code reads is required; unknown keys are allowed (newer writers may add facts).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from index.errors import IndexFormatError

Number = (int, float)

# (dotted field, accepted types, required). A field under a section is checked only when the section exists.
_TOP = [
    ("format_version", int, True),
    ("created_at", str, True),
    ("mode", str, True),
    ("documents", dict, True),
    ("documents.file", str, True),
    ("documents.count", int, True),
    ("files", dict, True),
    ("build", dict, True),
    ("build.corpus", str, True),
    ("build.config", dict, True),
    ("updates", list, False),
]
_SECTIONS = {
    "dense": [
        ("model", dict, True),
        ("model.name", str, True),
        ("model.spec", str, True),
        ("model.similarity", str, False),
        ("model.max_tokens", int, False),
        ("dense.file", str, True),
        ("dense.factory", str, True),
        ("dense.dimension", int, True),
        ("dense.count", int, True),
        ("dense.search_params", dict, False),
        ("dense.trained", dict, False),
    ],
    "multivector": [
        ("multivector.model", dict, True),
        ("multivector.model.spec", str, True),
        ("multivector.model.name", str, True),
        ("multivector.dimension", int, True),
        ("multivector.centroids", int, True),
        ("multivector.codec", str, True),
        ("multivector.tokens", int, True),
        ("multivector.documents", int, True),
        ("multivector.search_params", dict, False),
        ("multivector.trained", dict, False),
    ],
    "bm25": [
        ("bm25.method", str, True),
        ("bm25.k1", Number, True),
        ("bm25.b", Number, True),
        ("bm25.documents", int, True),
        ("bm25.vocabulary", int, True),
        ("bm25.analyser", dict, True),
    ],
}
MODES = ("dense", "multivector", "both", "hybrid")


class CorruptManifestError(IndexFormatError):
    """The manifest parses but does not follow the schema; ``field`` names the offending key."""

    def __init__(self, path: Path, field: str, problem: str) -> None:
        self.path, self.field, self.problem = path, field, problem
        super().__init__(f"corrupt manifest {path}: {field} {problem}. Rebuild the index from its corpus.")


def validate_manifest(manifest: Any, path: Path) -> None:
    """Raise :class:`CorruptManifestError` for the first field that is missing or of the wrong type.

    >>> validate_manifest({"format_version": "2"}, Path("m.json"))
    Traceback (most recent call last):
    ...
    index.manifest_schema.CorruptManifestError: corrupt manifest m.json: format_version must be an integer, not a string. Rebuild the index from its corpus.
    """
    if not isinstance(manifest, dict):
        raise CorruptManifestError(path, "(top level)", f"must be an object, not {_kind(manifest)}")
    rules = list(_TOP)
    for section, section_rules in _SECTIONS.items():
        if section in manifest:
            if not isinstance(manifest[section], dict):
                raise CorruptManifestError(path, section, f"must be an object, not {_kind(manifest[section])}")
            rules += section_rules
    for name, types, required in rules:
        found, value = _lookup(manifest, name)
        if not found:
            if required:
                raise CorruptManifestError(path, name, "is missing")
            continue
        if not _is(value, types):
            raise CorruptManifestError(path, name, f"must be {_describe(types)}, not {_kind(value)}")
    if manifest["mode"] not in MODES:
        raise CorruptManifestError(path, "mode", f"must be one of {', '.join(MODES)}, not {manifest['mode']!r}")
    if not any(section in manifest for section in _SECTIONS):
        raise CorruptManifestError(path, "dense/multivector/bm25", "are all missing: the index holds no searchable part")
    for name, meta in manifest["files"].items():
        _check_file_entry(path, name, meta)


def _check_file_entry(path: Path, name: str, meta: Any) -> None:
    """A payload file entry: a relative path inside the folder, with a size and a SHA-256."""
    pure = PurePosixPath(name)
    if not name or pure.is_absolute() or ".." in pure.parts or "\\" in name or "\x00" in name:
        raise CorruptManifestError(path, f"files[{name!r}]", "must name a file inside the index folder")
    if not isinstance(meta, dict):
        raise CorruptManifestError(path, f"files[{name!r}]", f"must be an object, not {_kind(meta)}")
    if not _is(meta.get("bytes"), int) or meta["bytes"] < 0:
        raise CorruptManifestError(path, f"files[{name!r}].bytes", "must be a non-negative integer")
    digest = meta.get("sha256")
    if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise CorruptManifestError(path, f"files[{name!r}].sha256", "must be 64 lowercase hex digits")


def _lookup(manifest: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    value: Any = manifest
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _is(value: Any, types: Any) -> bool:
    """Type check where ``True`` is not an integer (JSON booleans are not counts)."""
    return isinstance(value, types) and not isinstance(value, bool)


def _describe(types: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", dict: "an object", list: "a list"}
    if types is Number:
        return "a number"
    return names[types]


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", dict: "an object",
            list: "a list", type(None): "null"}.get(type(value), type(value).__name__)
