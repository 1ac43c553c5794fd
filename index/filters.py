"""Metadata filters: one language (Mongo/Chroma-style documents) checked against an index's field types and
compiled to parameterised SQL that yields the allowed row ids.

A filter document maps fields to conditions, all of which must hold::

    {"year": {"$gte": 2020}, "team": {"$in": ["finance", "legal"]}, "draft": False}

A bare value means ``$eq``. Field operators: ``$eq $ne $gt $gte $lt $lte $in $nin $exists $contains``; logical
keys: ``$and`` and ``$or`` (lists of filters) and ``$not`` (a filter). On a ``list`` field, ``$eq``/``$in``/
``$contains`` test membership; on a ``string`` field ``$contains`` tests for a substring. As in MongoDB,
``$ne`` and ``$nin`` also match documents without the field. ``index.where`` gives the same language a text
spelling (``year >= 2020 and not draft``).

Field names are checked against the index's schema and every value is a bound parameter: no text from a
filter is ever spliced into SQL. A filter is bounded: at most :data:`MAX_DEPTH` levels of nesting and
:data:`MAX_CONDITIONS` conditions (SQLite joins at most 500 selects in one compound), and numbers within the
64-bit range that SQLite stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from index.metadata import NUMERIC, ORDERED, iso_datetime, kind_of, number_problem

COMPARISONS = {"$eq": "=", "$ne": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
FIELD_OPERATORS = (*COMPARISONS, "$in", "$nin", "$exists", "$contains")
LOGICAL = ("$and", "$or", "$not")
MAX_DEPTH = 32
MAX_VALUES = 10_000
MAX_CONDITIONS = 256  # field conditions in one filter (an $in list counts once), and operands of one $and or $or
_VALUES = "SELECT row_id FROM metadata_values WHERE field = ?"
_EVERY = "SELECT row_id FROM documents"
_NONE = "SELECT row_id FROM documents WHERE 0"


class FilterError(ValueError):
    """A filter that cannot be applied: ``problem`` says why; ``field`` names the field concerned, and for a
    malformed ``where`` text, ``text`` is that text and ``position`` the offset in it where reading failed."""

    def __init__(self, problem: str, *, field: str | None = None, position: int | None = None, text: str = "") -> None:
        self.problem, self.field, self.position, self.text = problem, field, position, text
        super().__init__(problem)


def to_sql(filter: Mapping[str, Any], types: Mapping[str, str]) -> tuple[str, list[Any]]:
    """An SQL query selecting the ``row_id`` values ``filter`` admits (a list field's document may come more than
    once), over fields of ``types``, and its parameters. Each condition reads only its matching rows through the
    ``(field, value)`` index; conditions
    combine by INTERSECT, UNION and EXCEPT.

    >>> sql, parameters = to_sql({"year": {"$gte": 2020}, "draft": False}, {"year": "integer", "draft": "boolean"})
    >>> print(sql.replace(" INTERSECT ", "\\nINTERSECT "))
    SELECT row_id FROM (SELECT row_id FROM metadata_values WHERE field = ? AND value >= ?)
    INTERSECT SELECT row_id FROM (SELECT row_id FROM metadata_values WHERE field = ? AND value = ?)
    >>> parameters
    ['year', 2020, 'draft', 0]
    """
    return _Compiler(types).document(filter, 0)


class _Compiler:
    def __init__(self, types: Mapping[str, str]) -> None:
        self.types = types
        self.conditions = 0

    def count(self, n: int = 1) -> None:
        self.conditions += n
        if self.conditions > MAX_CONDITIONS:
            raise FilterError(
                f"the filter has more than {MAX_CONDITIONS} conditions; list many values of one field "
                f"with $in (or `field in (...)`) instead"
            )

    def document(self, filter: Any, depth: int) -> tuple[str, list[Any]]:
        if depth > MAX_DEPTH:
            raise FilterError(f"the filter nests deeper than {MAX_DEPTH} levels")
        if not isinstance(filter, Mapping):
            raise FilterError(f"a filter must be an object of fields and conditions, not {_kind(filter)}")
        if not filter:
            return _EVERY, []
        parts = [self.entry(str(key), value, depth) for key, value in filter.items()]
        return _joined(parts, "INTERSECT")

    def entry(self, key: str, value: Any, depth: int) -> tuple[str, list[Any]]:
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise FilterError(f"{key} takes a non-empty list of filters, not {_kind(value)}")
            if len(value) > MAX_CONDITIONS:
                raise FilterError(
                    f"{key} takes at most {MAX_CONDITIONS} filters, got {len(value)}; list many values of one "
                    f"field with $in (or `field in (...)`) instead"
                )
            return _joined([self.document(v, depth + 1) for v in value], "INTERSECT" if key == "$and" else "UNION")
        if key == "$not":
            return _except(self.document(value, depth + 1))
        if key.startswith("$"):
            raise FilterError(
                f"unknown operator {key!r} at the top of a filter; use a field name or one of {', '.join(LOGICAL)}"
            )
        kind = self.field_type(key)
        if isinstance(value, Mapping) and value and all(str(k).startswith("$") for k in value):
            self.count(len(value))
            return _joined([self.condition(key, kind, str(op), v) for op, v in value.items()], "INTERSECT")
        self.count()
        return self.condition(key, kind, "$eq", value)

    def field_type(self, field: str) -> str:
        if field not in self.types:
            known = (
                ", ".join(f"{name} ({kind})" for name, kind in self.types.items())
                or "none (the index stores no metadata)"
            )
            raise FilterError(f"unknown field {field!r}; the index's metadata fields are: {known}", field=field)
        return self.types[field]

    def condition(self, field: str, kind: str, op: str, value: Any) -> tuple[str, list[Any]]:
        if op not in FIELD_OPERATORS:
            raise FilterError(
                f"unknown operator {op!r} for field {field!r}; use one of {', '.join(FIELD_OPERATORS)}", field=field
            )
        if op == "$exists":
            if not isinstance(value, bool):
                raise FilterError(f"$exists takes true or false, not {_kind(value)}", field=field)
            return (_VALUES, [field]) if value else _except((_VALUES, [field]))
        if kind == "json":
            raise FilterError(f"field {field!r} holds objects (type json); only $exists applies to it", field=field)
        if op in ("$in", "$nin"):
            if not isinstance(value, list):
                raise FilterError(f"{op} takes a list of values, not {_kind(value)}", field=field)
            if len(value) > MAX_VALUES:
                raise FilterError(f"{op} takes at most {MAX_VALUES:,} values, got {len(value):,}", field=field)
            if not value:
                return (_NONE if op == "$in" else _EVERY), []
            values = [self.literal(field, kind, v) for v in value]
            found = (f"{_VALUES} AND value IN ({', '.join('?' * len(values))})", [field, *values])
            return found if op == "$in" else _except(found)
        if op == "$contains":
            if kind == "string":
                if not isinstance(value, str):
                    raise FilterError(
                        f"$contains on string field {field!r} takes a string, not {_kind(value)}", field=field
                    )
                return f"{_VALUES} AND instr(value, ?) > 0", [field, value]
            if kind != "list":
                raise FilterError(f"$contains applies to list and string fields; {field!r} is {kind}", field=field)
            return f"{_VALUES} AND value = ?", [field, self.literal(field, kind, value)]
        if op not in ("$eq", "$ne") and kind not in ORDERED:
            raise FilterError(
                f"{op} needs an ordered field; {field!r} is {kind} (use $eq, $ne, $in or $nin)", field=field
            )
        found = (f"{_VALUES} AND value {COMPARISONS[op]} ?", [field, self.literal(field, kind, value)])
        return _except(found) if op == "$ne" else found

    def literal(self, field: str, kind: str, value: Any) -> Any:
        """``value`` as stored in a field of type ``kind`` (a ``list`` field compares one element)."""
        found = kind_of(value)
        if kind in NUMERIC and found in NUMERIC:
            problem = number_problem(value)
            if problem:
                shown = repr(value) if len(repr(value)) <= 30 else repr(value)[:27] + "..."
                raise FilterError(
                    f"field {field!r} cannot be compared with {problem} ({shown}); use a number between "
                    f"-2**63 and 2**63-1 (a finite one)",
                    field=field,
                )
            return value
        if kind == "boolean" and found == "boolean":
            return int(value)
        if kind in ("string", "list") and isinstance(value, str):
            return value
        if kind == "date" and found == "date":
            return str(value).strip()
        if kind == "datetime" and found in ("date", "datetime"):
            return iso_datetime(value)
        expected = {
            "integer": "a number",
            "float": "a number",
            "boolean": "true or false",
            "string": "a string",
            "list": "a string (one element)",
            "date": "an ISO date such as 2024-05-01",
            "datetime": "an ISO date or datetime such as 2024-05-01T12:00:00",
        }[kind]
        given = "null" if value is None else f"{_kind(value)} {value!r}"
        raise FilterError(f"field {field!r} is {kind}; compare it with {expected}, not {given}", field=field)


def _joined(parts: list[tuple[str, list[Any]]], operator: str) -> tuple[str, list[Any]]:
    """Row sets combined by a compound operator (each part in its own subquery: SQLite applies compound operators
    left to right, so parts that are themselves compounds must not run together)."""
    if len(parts) == 1:
        return parts[0]
    sql = f" {operator} ".join(f"SELECT row_id FROM ({p[0]})" for p in parts)
    return sql, [v for p in parts for v in p[1]]


def _except(part: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    """Every document not in ``part``."""
    return f"{_EVERY} EXCEPT SELECT row_id FROM ({part[0]})", part[1]


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", type(None): "null"}
    return names.get(type(value), "an object" if isinstance(value, Mapping) else type(value).__name__)
