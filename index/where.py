"""The text spelling of a metadata filter: ``year >= 2020 and team in ('finance', 'legal') and not draft``.

:func:`parse_where` reads it with a grammar (lark's LALR parser; nothing is evaluated) into the filter document
of :mod:`index.filters`; :func:`where_text` writes a filter document back as text, for showing the active
filter. Keywords (``and or not in contains exists true false``) are case-insensitive; strings take single or
double quotes with backslash escapes; a field name that is not an identifier goes in backquotes (`` `a b` ``).

>>> parse_where("year >= 2020 and team in ('finance', 'legal') and not draft")
{'year': {'$gte': 2020}, 'team': {'$in': ['finance', 'legal']}, '$not': {'draft': True}}
>>> where_text({"year": {"$gte": 2020}, "$or": [{"team": "legal"}, {"tags": {"$contains": "q1"}}]})
"year >= 2020 and (team = 'legal' or tags contains 'q1')"
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from index.filters import MAX_CONDITIONS, MAX_DEPTH, FilterError

MAX_CHARS = 100_000

_GRAMMAR = r"""
?start: expr
?expr: and_expr
     | expr _OR and_expr -> or_
?and_expr: not_expr
     | and_expr _AND not_expr -> and_
?not_expr: _NOT not_expr -> not_
     | atom
?atom: "(" expr ")"
     | name OP value -> compare
     | name _NOT _IN "(" [values] ")" -> nin
     | name _IN "(" [values] ")" -> in_
     | name _CONTAINS value -> contains
     | name _EXISTS -> exists
     | name -> truthy
values: value ("," value)*
value: STRING | NUMBER | TRUE | FALSE
name: NAME | QUOTED_NAME

OP: "<=" | ">=" | "!=" | "==" | "=" | "<" | ">"
_AND.2: /and\b/i
_OR.2: /or\b/i
_NOT.2: /not\b/i
_IN.2: /in\b/i
_CONTAINS.2: /contains\b/i
_EXISTS.2: /exists\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
NAME: /[A-Za-z_][A-Za-z0-9_.\-]*/
QUOTED_NAME: /`(?:[^`]|``)+`/
STRING: /'(?:[^'\\]|\\.)*'/s | /"(?:[^"\\]|\\.)*"/s
NUMBER: /[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/
%ignore /\s+/
"""
_OPERATORS = {"=": "$eq", "==": "$eq", "!=": "$ne", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
_SYMBOLS = {"$eq": "=", "$ne": "!=", "$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_KEYWORDS = {"and", "or", "not", "in", "contains", "exists", "true", "false"}


@functools.cache
def _parser() -> Any:
    import lark

    return lark.Lark(_GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=False)


def parse_where(text: str) -> dict[str, Any]:
    """The filter document a ``where`` text spells; :class:`FilterError` with the column of a malformed one."""
    import lark

    if not text.strip():
        return {}
    if len(text) > MAX_CHARS:
        raise FilterError(
            f"the filter has {len(text):,} characters, over the limit of {MAX_CHARS:,}; list many values of "
            f"one field with `field in (...)`"
        )
    try:
        tree = _parser().parse(text)
    except lark.exceptions.UnexpectedInput as err:
        ended = (
            isinstance(err, lark.exceptions.UnexpectedEOF) or getattr(getattr(err, "token", None), "type", "") == "$END"
        )
        position = len(text.rstrip()) if ended else getattr(err, "pos_in_stream", None) or 0
        found = "end of the filter" if ended else repr(text[position : position + 12])
        raise FilterError(
            f"malformed filter at column {position + 1}: unexpected {found}", position=position, text=text
        ) from None
    _check_size(tree)
    return _as_document(_Build().transform(tree))


def _check_size(tree: Any) -> None:
    """Refuse a parse tree with more conditions or deeper nesting than a filter may have, walking it without
    recursion (a chain of ``and`` or ``or`` is one level, as :class:`_Build` flattens it)."""
    import lark

    conditions = 0
    stack = [(tree, 0, None)]
    while stack:
        node, depth, parent_rule = stack.pop()
        if not isinstance(node, lark.Tree):
            continue
        if node.data in ("and_", "or_", "not_"):
            depth += node.data != parent_rule or node.data == "not_"
            if depth > MAX_DEPTH:
                raise FilterError(f"the filter nests deeper than {MAX_DEPTH} levels (parentheses, not, and/or groups)")
            stack.extend((child, depth, node.data) for child in node.children)
        else:
            conditions += 1
            if conditions > MAX_CONDITIONS:
                raise FilterError(
                    f"the filter has more than {MAX_CONDITIONS} conditions; list many values of one field "
                    f"with `field in (...)` instead"
                )


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1], flags=re.S)


def _value(token: Any) -> Any:
    kind, text = token.type, str(token)
    if kind == "STRING":
        return _unquote(text)
    if kind == "TRUE":
        return True
    if kind == "FALSE":
        return False
    return float(text) if any(c in text for c in ".eE") else int(text)


class _Build:
    """Turns the parse tree into a filter document."""

    def transform(self, tree: Any) -> dict[str, Any]:
        import lark

        if isinstance(tree, lark.Token):  # pragma: no cover - the grammar wraps every token
            raise FilterError(f"unexpected {tree!s}")
        children = tree.children
        rule = tree.data
        if rule in ("and_", "or_"):
            operands = []  # a chain of one operator, left-nested by the grammar, read without recursing down it
            while isinstance(tree, lark.Tree) and tree.data == rule:
                operands.append(tree.children[1])
                tree = tree.children[0]
            operands.append(tree)
            parts = [self.transform(c) for c in reversed(operands)]
            return {"$and" if rule == "and_" else "$or": [p for part in parts for p in _flatten(part, rule)]}
        if rule == "not_":
            return {"$not": _as_document(self.transform(children[0]))}
        field = self.name(children[0])
        if rule == "truthy":
            return {field: True}
        if rule == "exists":
            return {field: {"$exists": True}}
        if rule == "compare":
            return {field: {_OPERATORS[str(children[1])]: _value(children[2].children[0])}}
        if rule == "contains":
            return {field: {"$contains": _value(children[1].children[0])}}
        listed = children[-1].children if len(children) > 1 else []  # `in ()` lists nothing
        values = [_value(v.children[0]) for v in listed]
        return {field: {"$in" if rule == "in_" else "$nin": values}}

    @staticmethod
    def name(tree: Any) -> str:
        token = str(tree.children[0])
        return token[1:-1].replace("``", "`") if token.startswith("`") else token


def _flatten(part: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    key = "$and" if rule == "and_" else "$or"
    return part[key] if list(part) == [key] else [part]


def _as_document(node: dict[str, Any]) -> dict[str, Any]:
    """A conjunction of single conditions on distinct keys written as one document (how people write them)."""
    if list(node) == ["$and"]:
        parts = node["$and"]
        keys = [k for p in parts for k in p]
        if all(len(p) == 1 for p in parts) and len(set(keys)) == len(keys):
            return {k: v for p in parts for k, v in p.items()}
    return node


def where_text(filter: Mapping[str, Any]) -> str:
    """A filter document as ``where`` text (the inverse of :func:`parse_where` up to how conjunctions are grouped)."""
    return " and ".join(_entry(key, value, single=len(filter) == 1) for key, value in filter.items())


def _entry(key: str, value: Any, single: bool) -> str:
    if key in ("$and", "$or"):
        text = f" {key[1:]} ".join(_grouped(v) for v in value)
        return text if single and key == "$and" else f"({text})"
    if key == "$not":
        return f"not {_grouped(value)}"
    if isinstance(value, Mapping) and value and all(str(k).startswith("$") for k in value):
        return " and ".join(_condition(key, op, v) for op, v in value.items())
    return _condition(key, "$eq", value)


def _grouped(filter: Mapping[str, Any]) -> str:
    text = where_text(filter)
    if list(filter) == ["$or"]:
        return text  # already in parentheses
    simple = len(filter) == 1 and "$and" not in filter and " and " not in text
    return text if simple else f"({text})"


def _condition(field: str, op: str, value: Any) -> str:
    name = _name(field)
    if op == "$eq" and value is True:
        return name
    if op in _SYMBOLS:
        return f"{name} {_SYMBOLS[op]} {_literal(value)}"
    if op in ("$in", "$nin"):
        return f"{name} {'not in' if op == '$nin' else 'in'} ({', '.join(_literal(v) for v in value)})"
    if op == "$exists":
        return f"{name} exists" if value else f"not {name} exists"
    if op == "$contains":
        return f"{name} contains {_literal(value)}"
    raise FilterError(f"unknown operator {op!r} for field {field!r}", field=field)


def _name(field: str) -> str:
    if _IDENTIFIER.fullmatch(field) and field.lower() not in _KEYWORDS:
        return field
    return "`" + field.replace("`", "``") + "`"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"
