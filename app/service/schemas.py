"""Request and response bodies of the HTTP API (pydantic), the shapes the OpenAPI schema publishes.

The search settings of a request are generated from :class:`retrieval.config.SearchConfig`, as the CLI's options
are, so a setting is declared once for every way of searching.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator

from retrieval.config import SearchConfig
from retrieval.registry import declared_settings, search_modes

MAX_K = 1000


def _settings_fields() -> dict[str, Any]:
    """One optional request field per :class:`SearchConfig` field (absent: the index's tuned setting, else the
    default)."""
    hints = typing.get_type_hints(SearchConfig)
    found = {}
    for f in dataclasses.fields(SearchConfig):
        if "choices" in f.metadata:
            found[f.name] = _choice_field(f.metadata["choices"], f.metadata["help"])
        elif "declared" in f.metadata:
            found[f.name] = (
                hints[f.name] | None,
                Field(None, description=f.metadata["help"], json_schema_extra=_declared),
            )
        else:
            found[f.name] = (hints[f.name] | None, Field(None, description=f.metadata["help"]))
    return found


def _declared(schema: dict[str, Any]) -> None:
    """The search settings the registered components declare, as the properties of ``component_settings`` (listed
    when the schema is generated)."""
    properties = {
        setting.name: {
            "description": setting.help,
            "default": setting.default,
            **({"enum": list(setting.choices)} if setting.choices else {}),
        }
        for setting in declared_settings("search").values()
    }
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "object":
            branch.update(properties=properties, additionalProperties=False)


def _choice_field(choices: Callable[[], tuple[str, ...]], description: str) -> tuple[Any, Any]:
    """An optional string field whose values come from the component registry: checked, and listed in the schema,
    as the registry has them when a request is validated or the schema generated."""

    def check(value: str | None) -> str | None:
        if value is not None and value not in choices():
            raise ValueError(f"must be one of {', '.join(choices())}, not {value!r}")
        return value

    def listed(schema: dict[str, Any]) -> None:
        for branch in schema.get("anyOf", [schema]):
            if branch.get("type") == "string":
                branch["enum"] = list(choices())

    return Annotated[str | None, AfterValidator(check)], Field(None, description=description, json_schema_extra=listed)


_KIND_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _scalar_kinds(annotation: Any) -> set[type]:
    """The JSON scalar types a field's annotation admits (a Literal admits its values' types)."""
    if annotation in _KIND_NAMES:
        return {annotation}
    if typing.get_origin(annotation) is Literal:
        return {type(value) for value in typing.get_args(annotation)}
    return {kind for argument in typing.get_args(annotation) for kind in _scalar_kinds(argument)}


class _Request(BaseModel):
    """A request body: unknown fields are errors, and so is a value of another JSON type than the field's, which
    pydantic would otherwise convert ("k": "5" or "k": true is not 5 or 1, "upsert": "yes" is not true). A
    whole-number float stays a valid integer, as JSON Schema has it."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _same_json_type(cls, value: Any, info: ValidationInfo) -> Any:
        kinds = _scalar_kinds(cls.model_fields[info.field_name].annotation)
        numbers = bool(kinds & {int, float})
        if isinstance(value, bool):
            wrong = bool not in kinds and numbers
        elif isinstance(value, (int, float)):
            wrong = bool in kinds and not numbers
        elif isinstance(value, str):
            wrong = str not in kinds and (numbers or bool in kinds)
        else:
            wrong = False
        if wrong:
            expected = " or ".join(_KIND_NAMES[kind] for kind in _KIND_NAMES if kind in kinds)
            shown = json.dumps(value)
            raise ValueError(f"expected {expected}, not {shown if len(shown) <= 40 else shown[:37] + '...'}")
        return value


_SearchSettings = create_model("SearchSettings", __base__=_Request, **_settings_fields())
_Mode, _mode_field = _choice_field(search_modes, "Search mode (default: the index's default, hybrid where built).")


class SearchRequest(_SearchSettings):  # type: ignore[misc, valid-type]
    """One query (``query``) or a batch (``queries``), how many results, the mode, settings and a filter."""

    query: str | None = Field(None, description="One query; the answer is one search result.")
    queries: list[str] | None = Field(
        None, description="Several queries; the answer lists one search result per query."
    )
    k: int = Field(10, ge=1, le=MAX_K, description="Number of results per query.")
    mode: _Mode = _mode_field  # type: ignore[valid-type]
    filter: dict[str, Any] | str | None = Field(
        None, description='Metadata filter: a document such as {"year": {"$gte": 2020}}, or its text, "year >= 2020".'
    )
    return_documents: bool = Field(
        True,
        description="Return each hit's title, text and metadata; false: ids and scores only (answers of any size "
        "within the limits on k and queries).",
    )

    def settings(self) -> dict[str, Any]:
        """The search settings this request sets (checked by :class:`SearchConfig`); the index's tuned settings and
        the defaults fill in the others."""
        given = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(SearchConfig) if getattr(self, f.name) is not None
        }
        SearchConfig(**given)
        return given


class Hit(BaseModel):
    id: str
    score: float
    title: str | None = Field(None, description="Absent with return_documents false, as are text and metadata.")
    text: str | None = None
    metadata: dict[str, Any] | None = None
    components: dict[str, float] = Field(
        description="Score of each stage that saw the document: bm25, dense, fused, maxsim."
    )
    passage: list[int] | None = Field(None, description="[start, end) in text of the best chunk of a long document.")


class SearchResult(BaseModel):
    """The shape of ``modernsearch search --json``."""

    query: str
    results: list[Hit]
    timings_ms: dict[str, float]
    partial: bool = Field(False, description="Some shards did not answer in time: results are the other shards' best.")
    missing_shards: list[str] = Field(
        default_factory=list, description="The shards that did not answer (with partial)."
    )


class SearchResponse(SearchResult):
    mode: str = Field(description="The search mode that answered.")
    index_version: str = Field(
        description="The committed version of the index that answered (changes with every commit)."
    )


class BatchSearchResponse(BaseModel):
    searches: list[SearchResult]
    mode: str
    index_version: str


class IndexSummary(BaseModel):
    name: str
    documents: int | None = Field(None, description="Absent while the index is unavailable.")
    modes: list[str] = []
    index_version: str | None = None
    available: bool = Field(True, description="False while the index cannot be opened (its folder moved or broken).")
    problem: str | None = Field(None, description="Why the index is unavailable.")


class IndexDetails(IndexSummary):
    mode: str
    created_at: str
    components: dict[str, dict[str, str]] = Field(description="Per component, its manifest summary for people.")
    metadata_fields: dict[str, str] = Field(description="Metadata field name -> type, for filters.")
    updates: int
    tuned_search: dict[str, Any] | None = Field(
        None,
        description="Search settings tuned from judgments (`modernsearch tune --apply`) that searches use unless the "
        "request sets them, with their provenance.",
    )


class Document(BaseModel):
    id: str
    title: str
    text: str
    metadata: dict[str, Any]


class AddDocuments(_Request):
    documents: list[dict[str, Any]] = Field(
        min_length=1, description="Records in the corpus JSONL shape (_id/id, text, title, other fields)."
    )
    upsert: bool = Field(False, description="Replace documents whose ids the index holds (else that is an error).")


class DeleteDocuments(_Request):
    ids: list[str] = Field(min_length=1)


class UpdateResult(BaseModel):
    added: int
    replaced: int
    deleted: int
    documents: int
    seconds: float
    not_found: list[str] = []
    index_version: str


class ProblemDetails(BaseModel):
    """An error (RFC 9457): its kind (``type``, ``title``), the HTTP ``status`` and what happened (``detail``)."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring problem-details answers for ``statuses`` (and 422 for any request body)."""
    described = {
        400: "Invalid query, filter or setting",
        401: "Missing or wrong API key",
        403: "Writes disabled",
        404: "Unknown index or document",
        409: "Another update holds the index",
        413: "Over a limit",
        422: "Invalid request",
        503: "Index unavailable",
    }
    content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
    return {
        status: {"model": ProblemDetails, "description": described[status], "content": content} for status in statuses
    }
