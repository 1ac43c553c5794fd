"""The one registry of index components, and every list the rest of the project derives from it.

A component is two halves registered together: its index class (:mod:`index.component`: what it stores and how it
searches) and its recipe (:mod:`retrieval.components`: how documents and queries become its rows). The recipe
declares the component's :class:`Role`; the build modes, the search modes, the parts of hybrid fusion, the rerankers,
the explainers and the public API's encoder arguments are computed here from the registered roles and the index
classes' abilities, so adding a component is one module that calls :func:`register`.

Components of other packages register themselves when imported: name their modules in the environment variable
``MODERNSEARCH_COMPONENTS`` or the ``modernsearch.components`` entry-point group (see :mod:`index.component`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

from index import component as index_component
from index.component import Explaining, Rescoring, has_ability

HYBRID = "hybrid"  # the search mode that fuses the first stages of every fused component an index has
NO_RERANK = "none"
DENSE, MULTIVECTOR, BM25 = "dense", "multivector", "bm25"  # the built-in components, for code about one of them
_BUILTIN = {
    DENSE: "retrieval.components.dense",
    MULTIVECTOR: "retrieval.components.multivector",
    BM25: "retrieval.components.lexical",
}
DEFAULT_BUILD_MODE = DENSE  # a built-in component's mode: one vector per document, the lightest build
FULL_BUILD_MODE = "hybrid"  # the build mode of every built-in component (the demo's)

_RECIPES: dict[str, Any] = {}
_loaded = False


@dataclass(frozen=True)
class Setting:
    """A setting a component declares beyond the built-in ones: a command-line option of ``build`` (a build setting)
    or of ``search`` and the service's requests (a search setting), carried in the settings' ``component_settings``.
    """

    name: str
    default: Any
    help: str
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Role:
    """What a component is to the rest of the project, declared beside its recipe."""

    build_modes: tuple[str, ...]
    """The build modes whose indexes include it: its own mode, and the combined ones it joins (``both``,
    ``hybrid``)."""
    searched_alone: bool = True
    """It answers a search mode named after it."""
    fusion: Literal["semantic", "lexical"] | None = None
    """It joins hybrid fusion, on the side weighed by ``alpha`` (semantic) or by ``1 - alpha`` (lexical); several
    components on one side share its weight equally."""
    encoder_argument: str | None = None
    """The keyword by which the public API takes its encoder (``encoder=``), besides ``encoders={name: ...}``."""
    build_settings: tuple[Setting, ...] = ()
    """Settings its builds read (``BuildConfig.component_settings``)."""
    search_settings: tuple[Setting, ...] = ()
    """Settings its searches read (``SearchConfig.component_settings``, passed to its ``search`` as options)."""


def register(recipe: Any) -> Any:
    """Register a component by its recipe (which names its index class, ``recipe.component``) and return it."""
    if not isinstance(getattr(recipe, "role", None), Role):
        raise TypeError(f"the recipe of component {recipe.name!r} declares no Role (its 'role' attribute)")
    index_component.register(recipe.component)
    _RECIPES[recipe.name] = recipe
    return recipe


def unregister(name: str) -> None:
    """Remove a component, both halves (tests that register their own)."""
    _RECIPES.pop(name, None)
    index_component.unregister(name)


def recipes() -> dict[str, Any]:
    """Every registered recipe by component name: the built-in ones first in a fixed order, then the others as
    registered."""
    _load()
    order = {module: position for position, module in enumerate(_BUILTIN.values())}
    return dict(sorted(_RECIPES.items(), key=lambda item: order.get(type(item[1]).__module__, len(order))))


def recipe_for(name: str) -> Any:
    """The recipe of the component called ``name``."""
    found = recipes().get(name)
    if found is None:
        raise KeyError(f"no retrieval recipe for index component {name!r}; known: {', '.join(recipes())}")
    return found


def build_modes() -> tuple[str, ...]:
    """Every build mode a registered component declares: single-component modes first, then the combined ones by
    size (``dense, multivector, both, hybrid`` for the built-in components)."""
    declared = [mode for recipe in recipes().values() for mode in recipe.role.build_modes]
    unique = list(dict.fromkeys(declared))
    return tuple(sorted(unique, key=lambda mode: (len(mode_components(mode)), unique.index(mode))))


def mode_components(mode: str) -> tuple[str, ...]:
    """The components a build in ``mode`` writes (empty for a mode no component declares)."""
    return tuple(name for name, recipe in recipes().items() if mode in recipe.role.build_modes)


def search_modes() -> tuple[str, ...]:
    """Every search mode: one per component searched alone, and hybrid where components fuse."""
    alone = tuple(name for name, recipe in recipes().items() if recipe.role.searched_alone)
    return (*alone, HYBRID) if fused_components() else alone


def fused_components(available: Any = None) -> tuple[str, ...]:
    """The components hybrid fusion joins (semantic ones first), of those ``available`` where it is given."""
    fused = [(name, recipe.role.fusion) for name, recipe in recipes().items() if recipe.role.fusion]
    ordered = [name for name, side in fused if side == "semantic"] + [
        name for name, side in fused if side != "semantic"
    ]
    return tuple(name for name in ordered if available is None or name in available)


def fusion_side(name: str) -> str:
    """``semantic`` or ``lexical``: the side of hybrid fusion component ``name`` is on."""
    side = recipe_for(name).role.fusion
    if side is None:
        raise ValueError(f"component {name!r} does not join hybrid fusion")
    return side


def rerankers() -> tuple[str, ...]:
    """The components that can rerank another stage's candidates (their index classes can rescore)."""
    return tuple(name for name, recipe in recipes().items() if has_ability(recipe.component, Rescoring))


def rerank_choices() -> tuple[str, ...]:
    """The values of the ``rerank`` setting: none, or a component that can rescore."""
    return (NO_RERANK, *rerankers())


def explainers() -> tuple[str, ...]:
    """The components whose stored token vectors explain a match, preferred first."""
    return tuple(name for name, recipe in recipes().items() if has_ability(recipe.component, Explaining))


def declared_settings(kind: Literal["build", "search"]) -> dict[str, Setting]:
    """The build or search settings the registered components declare, by name."""
    return {
        setting.name: setting
        for recipe in recipes().values()
        for setting in (recipe.role.build_settings if kind == "build" else recipe.role.search_settings)
    }


def encoder_arguments() -> dict[str, str]:
    """The public API's encoder keywords (``encoder``, ``multivector_encoder``) by the component each feeds."""
    return {r.role.encoder_argument: name for name, r in recipes().items() if r.role.encoder_argument}


def _load() -> None:
    """Import the built-in components, then those other packages name (:func:`index.component.registered`), once."""
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _BUILTIN.values():
            importlib.import_module(module)
        index_component.registered()
