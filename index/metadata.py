"""Typed document metadata: the field types, their inference from the first batch of documents, and checking.

Every field of a record besides its id, text and title is metadata. A field's type is inferred from the values
of the first batch in which the field appears and then enforced on every later document, so a filter on
``year >= 2020`` compares numbers with numbers for the life of the index.

Types: ``integer``, ``float``, ``boolean``, ``string``, ``date`` and ``datetime`` (ISO 8601 strings; a
timezone-aware datetime is stored in UTC), ``list`` (a list of strings) and ``json`` (a nested object or any
other list, stored whole and only tested for presence). ``null`` values are absent fields.

Values read from table cells (CSV/TSV) arrive as :class:`TableText`: text whose type is inferred from its
spelling (``"2020"`` is an integer, ``"true"`` a boolean), where JSON values keep their JSON type and only
ISO-formatted strings become dates.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, get_args

FieldType = Literal["integer", "float", "boolean", "string", "date", "datetime", "list", "json"]
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)
ORDERED = ("integer", "float", "string", "date", "datetime")  # types whose values compare with < and >
NUMERIC = ("integer", "float")
INT64 = (-(2**63), 2**63 - 1)  # the integers SQLite stores

_INTEGER = re.compile(r"[+-]?(0|[1-9][0-9]*)")
_LEADING_ZERO = re.compile(r"[+-]?0[0-9]+(\.[0-9]*)?")
_FLOAT = re.compile(r"[+-]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][+-]?[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?"
)


class TableText(str):
    """Text from a table cell (CSV/TSV), whose type comes from its spelling rather than from the file format."""


class MetadataTypeError(ValueError):
    """A metadata value does not have its field's type. ``field``, ``expected`` (the field's type), ``found`` (the
    value's kind) and ``value`` say what; ``where`` (file and line, when known) says where."""

    def __init__(self, field: str, expected: str, found: str, value: Any, where: str = "") -> None:
        self.field, self.expected, self.found, self.value, self.where = field, expected, found, value, where
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        place = f"{where}: " if where else ""
        super().__init__(f"{place}field {field!r} holds {found} {shown}; the field's type is {expected}")

    def at(self, where: str) -> MetadataTypeError:
        """The same error, located."""
        return MetadataTypeError(self.field, self.expected, self.found, self.value, where)


def kind_of(value: Any) -> str | None:
    """The narrowest type a single value has (``None`` for null); table text is judged by its spelling.

    >>> [kind_of(v) for v in (3, 3.5, True, "x", "2024-05-01", "2024-05-01T10:00:00Z", ["a"], {"a": 1}, None)]
    ['integer', 'float', 'boolean', 'string', 'date', 'datetime', 'list', 'json', None]
    >>> [kind_of(TableText(v)) for v in ("2020", "02139", "1e3", "TRUE", "", "n/a")]
    ['integer', 'string', 'float', 'boolean', None, 'string']
    """
    if value is None:
        return None
    if isinstance(value, TableText):
        text = value.strip()
        if not text:
            return None
        if _LEADING_ZERO.fullmatch(text):
            return "string"  # a zip code or an id, not a number
        if _INTEGER.fullmatch(text):
            return "integer"
        if _FLOAT.fullmatch(text):
            return "float"
        if text.lower() in ("true", "false"):
            return "boolean"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, str):
        text = value.strip()
        if _DATE.fullmatch(text) and _parses(date.fromisoformat, text):
            return "date"
        if _DATETIME.fullmatch(text) and _parses(datetime.fromisoformat, text):
            return "datetime"
        return "string"
    if isinstance(value, (list, tuple)):
        return "list" if all(isinstance(v, str) for v in value) else "json"
    return "json"


def number_problem(value: Any) -> str | None:
    """Why a number cannot be stored or compared (``None`` if it can): a float must be finite, an integer within
    SQLite's 64-bit range.

    >>> number_problem(2020), number_problem(float("nan")), number_problem(2**63)
    (None, 'a non-finite number', "an integer beyond SQLite's 64-bit range")
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "a non-finite number"
    if isinstance(value, int) and not isinstance(value, bool) and not INT64[0] <= value <= INT64[1]:
        return "an integer beyond SQLite's 64-bit range"
    return None


def _parses(parse: Any, text: str) -> bool:
    try:
        parse(text)
        return True
    except ValueError:
        return False


def join_kinds(a: str, b: str, textual: bool) -> str | None:
    """The type two values of one field share: itself, a wider number or time, or ``string`` where every value
    is text anyway (``textual``: all came from table cells, or both are string-like); ``None`` if none.

    >>> join_kinds("integer", "float", False), join_kinds("date", "datetime", False)
    ('float', 'datetime')
    >>> join_kinds("date", "string", False)
    'string'
    >>> join_kinds("integer", "string", True), join_kinds("integer", "string", False)
    ('string', None)
    """
    if a == b:
        return a
    pair = {a, b}
    if pair == {"integer", "float"}:
        return "float"
    if pair == {"date", "datetime"}:
        return "datetime"
    if pair <= {"string", "date", "datetime"}:
        return "string"
    if textual and "json" not in pair and "list" not in pair:
        return "string"
    return None


def _describe(kind: str | None) -> str:
    return {
        "integer": "an integer",
        "float": "a number",
        "boolean": "a boolean",
        "string": "a string",
        "date": "a date",
        "datetime": "a datetime",
        "list": "a list of strings",
        "json": "an object",
        None: "null",
    }[kind]


def normalise(value: Any, field_type: str, field: str = "") -> Any:
    """``value`` as stored in a field of ``field_type`` (numbers as numbers, dates as ISO text, UTC for aware
    datetimes), or :class:`MetadataTypeError` when it does not fit.

    >>> normalise(TableText("2020"), "integer"), normalise(3, "float"), normalise("2024-05-01", "datetime")
    (2020, 3.0, '2024-05-01T00:00:00')
    >>> normalise("2024-05-01T12:00:00+02:00", "datetime")
    '2024-05-01T10:00:00Z'
    """
    kind = kind_of(value)
    textual = isinstance(value, TableText)
    if kind is None:
        return None
    if field_type == "json":
        try:
            return json.loads(json.dumps(value, default=str, allow_nan=False))
        except ValueError:
            raise MetadataTypeError(field, field_type, "an object with a non-finite number", value) from None
    fits = kind == field_type or join_kinds(kind, field_type, textual) == field_type
    if not fits or (field_type == "string" and kind in NUMERIC + ("boolean",) and not textual):
        raise MetadataTypeError(field, field_type, _describe(kind), value)
    if field_type in NUMERIC:
        try:
            number = (int if field_type == "integer" else float)(str(value).strip() if textual else value)
            problem = number_problem(number)
        except OverflowError:
            problem = "a number too large for a float"
        if problem:
            raise MetadataTypeError(field, field_type, problem, value)
        return number
    if field_type == "boolean":
        return str(value).strip().lower() == "true" if textual else bool(value)
    if field_type == "date":
        return value.isoformat() if isinstance(value, date) else date.fromisoformat(str(value).strip()).isoformat()
    if field_type == "datetime":
        return iso_datetime(value)
    if field_type == "string":
        return value.isoformat() if isinstance(value, date) else str(value)
    return [str(v) for v in value]  # a list of strings


def iso_datetime(value: Any) -> str:
    """A date or datetime (object or ISO text) as comparable ISO text: naive as given, aware in UTC with ``Z``."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
    return moment.isoformat()


@dataclass
class MetadataSchema:
    """Field name -> type, in the order fields were first seen; ``only`` keeps a subset of the fields, and
    ``enabled=False`` keeps none."""

    types: dict[str, str]
    only: tuple[str, ...] | None = None
    enabled: bool = True

    def kept(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """The fields of one document this schema keeps (nulls dropped)."""
        if not self.enabled:
            return {}
        return {k: v for k, v in metadata.items() if v is not None and (self.only is None or k in self.only)}

    def learn(self, batch: Iterable[tuple[str, Mapping[str, Any]]], *, strict: bool = True) -> None:
        """Infer the type of each field first seen in this batch of ``(where, metadata)``, joined over its values.
        Values of one field that share no type fail with the first disagreeing one (``strict``), or else leave
        the field the type of its first value, for :meth:`check` to refuse the others."""
        seen: dict[str, tuple[str, bool]] = {}
        for where, metadata in batch:
            for name, value in self.kept(metadata).items():
                kind = kind_of(value)
                if name in self.types or kind is None:
                    continue
                textual = isinstance(value, TableText)
                if name not in seen:
                    seen[name] = (kind, textual)
                    continue
                joined = join_kinds(seen[name][0], kind, textual and seen[name][1])
                if joined is None and strict:
                    raise MetadataTypeError(name, seen[name][0], _describe(kind), value, where)
                if joined is not None:
                    seen[name] = (joined, textual and seen[name][1])
        for name, (kind, _) in seen.items():
            self.types[name] = kind

    def check(self, metadata: Mapping[str, Any], where: str = "") -> dict[str, Any]:
        """One document's kept metadata normalised to the schema's types (:class:`MetadataTypeError` otherwise)."""
        checked = {}
        for name, value in self.kept(metadata).items():
            try:
                checked[name] = normalise(value, self.types[name], name)
            except MetadataTypeError as err:
                raise err.at(where) from None
        return checked
