"""Typed manifest sections: dataclasses read from and written to the manifest's JSON, checked on reading.

A field's type annotation is its schema: a manifest value of the wrong type or a missing required
field is a :class:`CorruptManifestError` naming the dotted field, instead of failing later wherever
the value is used. Keys a section does not declare are ignored (newer writers may add facts).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union

from index.errors import IndexFormatError

S = TypeVar("S", bound="Section")


class CorruptManifestError(IndexFormatError):
    """The manifest parses but does not follow the schema; ``field`` names the offending key."""

    def __init__(self, path: Path, field: str, problem: str) -> None:
        self.path, self.field, self.problem = path, field, problem
        super().__init__(f"corrupt manifest {path}: {field} {problem}. Rebuild the index from its corpus.")


@dataclasses.dataclass
class Section:
    """Base of every typed manifest section."""

    @classmethod
    def from_json(cls: type[S], data: Any, path: Path, where: str) -> S:
        """Check ``data`` against the fields' types and build the section; ``where`` is its dotted name."""
        if not isinstance(data, dict):
            raise CorruptManifestError(path, where, f"must be an object, not {kind(data)}")
        hints = typing.get_type_hints(cls)
        values = {}
        for field in dataclasses.fields(cls):
            name = f"{where}.{field.name}" if where else field.name
            if field.name not in data:
                if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                    raise CorruptManifestError(path, name, "is missing")
                continue
            values[field.name] = _checked(data[field.name], hints[field.name], path, name)
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The section as plain JSON."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _checked(value: Any, annotation: Any, path: Path, name: str) -> Any:
    """``value`` if it has the annotated type (nested sections built), else a :class:`CorruptManifestError`."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        annotation = next(a for a in options if a is not type(None))
        origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return annotation.from_json(value, path, name)
    if origin is dict and isinstance(value, dict):
        value_type = typing.get_args(annotation)[1]
        if isinstance(value_type, type) and issubclass(value_type, Section):
            return {key: value_type.from_json(item, path, f"{name}[{key!r}]") for key, item in value.items()}
        return value
    base = origin or annotation
    if base is float and is_type(value, (int, float)):
        return value
    if base is Any or is_type(value, base):
        return value
    raise CorruptManifestError(path, name, f"must be {describe(base)}, not {kind(value)}")


def _plain(value: Any) -> Any:
    if isinstance(value, Section):
        return value.to_json()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def is_type(value: Any, types_: Any) -> bool:
    """Type check where ``True`` is not an integer (JSON booleans are not counts)."""
    if types_ is bool:
        return isinstance(value, bool)
    return isinstance(value, types_) and not isinstance(value, bool)


def describe(types_: Any) -> str:
    """How a type is named in an error: ``an integer``."""
    names = {
        int: "an integer",
        float: "a number",
        str: "a string",
        dict: "an object",
        list: "a list",
        bool: "a boolean",
    }
    return names.get(types_, getattr(types_, "__name__", str(types_)))


def kind(value: Any) -> str:
    """What a JSON value is, in words."""
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        dict: "an object",
        list: "a list",
        type(None): "null",
    }.get(type(value), type(value).__name__)
