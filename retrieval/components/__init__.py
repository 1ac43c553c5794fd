"""The retrieval side of each index component: how documents and queries become the rows it stores.

An index component (:mod:`index.component`) stores encoded rows and knows nothing of models; its
recipe here names its encoder, encodes documents for builds and updates, encodes queries, and
describes the encoding in the component's manifest section, and declares the component's :class:`Role`.
:func:`retrieval.registry.register` adds both halves at once; the builder, updater, compaction and searcher loop
over :func:`recipes` and never name a component.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from retrieval.components.recipe import ComponentRecipe, Scratch
from retrieval.registry import Role, encoder_arguments, recipe_for, recipes, register, unregister


def stored_encoders(manifest: Any, given: Mapping[str, Any] | None = None, device: str | None = None) -> dict[str, Any]:
    """The document encoder of every component of an index, as its manifest names them (``given`` ones used as they
    are); ``None`` for components without a model."""
    given = given or {}
    return {
        name: given[name]
        if given.get(name) is not None
        else recipe_for(name).stored_encoder(getattr(section, "model", None), device)
        for name, section in manifest.components.items()
    }


def given_encoders(given: Mapping[str, Any] | None = None, **arguments: Any) -> dict[str, Any]:
    """Encoders passed to the public API by component name: ``given`` (``encoders=``) and the keyword arguments each
    component declares (``encoder=``, ``multivector_encoder=``)."""
    named = {**{encoder_arguments()[key]: value for key, value in arguments.items()}, **(given or {})}
    return {name: encoder for name, encoder in named.items() if encoder is not None}


def section_for(recipe: ComponentRecipe, facts: dict[str, Any]) -> Any:
    """A new manifest section of ``recipe``'s component from the facts its recipe and index report."""
    import dataclasses

    section_type = recipe.component.section_type
    known = {f.name for f in dataclasses.fields(section_type)}
    return section_type(**{key: value for key, value in facts.items() if key in known})


__all__ = [
    "ComponentRecipe",
    "Role",
    "Scratch",
    "given_encoders",
    "recipe_for",
    "recipes",
    "register",
    "section_for",
    "stored_encoders",
    "unregister",
]
