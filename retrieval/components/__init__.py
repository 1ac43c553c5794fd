"""The retrieval side of each index component: how documents and queries become the rows it stores.

An index component (:mod:`index.component`) stores encoded rows and knows nothing of models; its
recipe here names its encoder, encodes documents for builds and updates, encodes queries, and
describes the encoding in the component's manifest section. ``register`` adds both halves at once;
the builder, updater, compaction and searcher loop over :func:`recipes` and never name a component.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from index import component as index_component
from retrieval.components.recipe import ComponentRecipe, Scratch

_RECIPES: dict[str, ComponentRecipe] = {}
_BUILTIN = ("retrieval.components.dense", "retrieval.components.multivector", "retrieval.components.lexical")


def register(recipe: ComponentRecipe) -> ComponentRecipe:
    """Register a component: its recipe here and its index class in :mod:`index.component`."""
    index_component.register(recipe.component)
    _RECIPES[recipe.name] = recipe
    return recipe


def unregister(name: str) -> None:
    """Remove a component (tests that register their own)."""
    _RECIPES.pop(name, None)
    index_component.unregister(name)


def recipes() -> dict[str, ComponentRecipe]:
    """Every registered recipe by component name, built-in ones first."""
    import importlib

    for module in _BUILTIN:
        importlib.import_module(module)
    return dict(sorted(_RECIPES.items(), key=lambda item: _builtin_position(type(item[1]).__module__)))


def _builtin_position(module: str) -> int:
    """Built-in components come first in a fixed order, whatever imported them first; others follow as registered."""
    return _BUILTIN.index(module) if module in _BUILTIN else len(_BUILTIN)


def recipe_for(name: str) -> ComponentRecipe:
    """The recipe of the component called ``name``."""
    found = recipes().get(name)
    if found is None:
        raise KeyError(f"no retrieval recipe for index component {name!r}; known: {', '.join(recipes())}")
    return found


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


def given_encoders(
    dense: Any = None, multivector: Any = None, others: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Encoders passed to the public API (``encoder=``, ``multivector_encoder=``, ``encoders=``) by component name."""
    named = {"dense": dense, "multivector": multivector, **(others or {})}
    return {name: encoder for name, encoder in named.items() if encoder is not None}


def section_for(recipe: ComponentRecipe, facts: dict[str, Any]) -> Any:
    """A new manifest section of ``recipe``'s component from the facts its recipe and index report."""
    import dataclasses

    section_type = recipe.component.section_type
    known = {f.name for f in dataclasses.fields(section_type)}
    return section_type(**{key: value for key, value in facts.items() if key in known})


__all__ = [
    "ComponentRecipe",
    "Scratch",
    "given_encoders",
    "recipe_for",
    "recipes",
    "register",
    "section_for",
    "stored_encoders",
    "unregister",
]
