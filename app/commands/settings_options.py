"""Command-line options generated from the settings dataclasses, so each setting is declared once.

``@settings_options(BuildConfig)`` gives a command one ``--option`` per field of ``BuildConfig`` (name, type,
default and help from the field; its choices, a ``Literal`` type's values or the registered components' modes, are
listed in the help) and calls it with the
chosen values as one ``settings`` argument. Values are checked by the dataclass itself, so a bad choice is
the same one-line error from the CLI as from the Python API.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, Optional, TypeVar

import typer

from retrieval.config import choices_of
from retrieval.registry import declared_settings

F = TypeVar("F", bound=Callable[..., Any])


def flag(name: str) -> str:
    """The command-line spelling of a setting: ``chunk_tokens`` -> ``--chunk-tokens``."""
    return "--" + name.replace("_", "-")


def option_help(field: dataclasses.Field, annotation: Any) -> str:
    """The help text of a generated option: the field's help, and its choices where it has some."""
    choices = choices_of(field, annotation)
    listed = f" Choices: {', '.join(map(str, choices))}." if choices else ""
    return field.metadata["help"] + listed


def cli_type(field: dataclasses.Field, annotation: Any, optional: bool = False) -> Any:
    """The type Typer parses the option as: choices arrive as strings (the dataclass checks them)."""
    optional = optional or (typing.get_origin(annotation) is typing.Union and type(None) in typing.get_args(annotation))
    base = (
        str
        if choices_of(field, annotation)
        else next((a for a in typing.get_args(annotation) if a is not type(None)), annotation)
    )
    return Optional[base] if optional else base  # noqa: UP045 - a typing.Union object, as Typer reads options


def settings_options(
    settings_type: type,
    *,
    only: tuple[str, ...] | None = None,
    skip: tuple[str, ...] = (),
    into: str = "settings",
    given_only: bool = False,
) -> Callable[[F], F]:
    """Decorate a command with a keyword-only parameter ``into``: it gets an option per field of ``settings_type``
    (``only`` those, or all but ``skip``) and receives ``settings_type(**chosen values)`` there.

    With ``given_only`` the command receives instead a dict of the options given on the command line (checked by
    ``settings_type``), for settings whose defaults come from elsewhere: search settings tuned for an index.
    """
    hints = typing.get_type_hints(settings_type)
    chosen = [f for f in dataclasses.fields(settings_type) if (only is None or f.name in only) and f.name not in skip]
    declared = [f for f in chosen if "declared" in f.metadata]  # the components' own settings, one option each
    chosen = [f for f in chosen if "declared" not in f.metadata]
    component_fields = [_as_field(setting) for f in declared for setting in _declared(f.metadata["declared"])]
    hints.update({f.name: type(f.default) for f in component_fields})

    def decorate(command: F) -> F:
        signature = inspect.signature(command)
        own = [p for p in signature.parameters.values() if p.name != into]
        generated = [
            inspect.Parameter(
                f.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=cli_type(f, hints[f.name], given_only),
                default=_option(f, hints[f.name], given_only),
            )
            for f in [*chosen, *component_fields]
        ]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {f.name: kwargs.pop(f.name) for f in chosen if f.name in kwargs}
            components = {
                f.name: value for f in component_fields if (value := kwargs.pop(f.name, None)) not in (None, f.default)
            }
            if components:
                values["component_settings"] = components
            if given_only:
                given = {name: value for name, value in values.items() if value is not None}
                settings_type(**given)  # a bad value fails here, with the setting's own message
                return command(*args, **{into: given}, **kwargs)
            return command(*args, **{into: settings_type(**values)}, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=[*own, *generated])  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _declared(kind: str) -> list[Any]:
    return list(declared_settings(kind).values())  # type: ignore[arg-type]


def _as_field(setting: Any) -> dataclasses.Field:
    """A component's declared setting in the shape of a settings dataclass field."""
    made = dataclasses.field(
        default=setting.default,
        metadata={"help": setting.help, **({"choices": lambda: setting.choices} if setting.choices else {})},
    )
    made.name = setting.name
    return made


def _option(field: dataclasses.Field, annotation: Any, given_only: bool = False) -> Any:
    declarations = []
    if annotation is bool:  # a switch: --skip-invalid, or --metadata/--no-metadata for one that is on by default
        declarations = [f"{flag(field.name)}/--no-{flag(field.name)[2:]}" if field.default else flag(field.name)]
    if given_only:  # absent: None, so the command can tell a given value from a default
        help_text = f"{option_help(field, annotation)} [default: the index's tuned setting, else {field.default}]"
        return typer.Option(None, *declarations, help=help_text, show_default=False)
    return typer.Option(field.default, *declarations, help=option_help(field, annotation))


def whole_numbers(flag: str, given: str, example: str) -> tuple[int, ...]:
    """A flag's comma-separated whole numbers (each at least 1), or an error naming the flag."""
    try:
        numbers = tuple(int(part) for part in given.split(",") if part.strip())
    except ValueError:
        numbers = ()
    if not numbers or min(numbers) < 1:
        raise ValueError(f"{flag} takes comma-separated whole numbers of at least 1 such as {example}, got {given!r}")
    return numbers
