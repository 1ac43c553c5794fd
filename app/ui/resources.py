"""Heavy objects (encoders, searchers) loaded once per process, and errors turned into friendly messages."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import streamlit as st

from app.ui.document_html import code_span
from index.errors import IndexFormatError, IndexNotFoundError
from index.format import read_manifest, version_stamp
from retrieval.components import recipe_for
from retrieval.encode.model_specs import ModelUnavailableError
from retrieval.search.searcher import Searcher

logger = logging.getLogger(__name__)
BUILD_HINT = (
    "Build one with `modernsearch build CORPUS --index DIR`, then start `modernsearch app --index DIR` "
    "(or run `modernsearch demo`)."
)


@st.cache_resource(show_spinner="Loading the model…")
def cached_query_encoder(component: str, model_json: str) -> Any:
    """One query encoder per component and model record, shared by every index and session of this process."""
    return recipe_for(component).stored_encoder(json.loads(model_json), None, queries_only=True)


@st.cache_resource(show_spinner="Opening the index…")
def cached_searcher(path: str, version: tuple[int, int] | None) -> Searcher:
    """One searcher per committed version of an index folder (a new version after an update or rebuild is a new key)."""
    manifest = read_manifest(Path(path))
    models = {name: getattr(section, "model", None) for name, section in manifest.components.items()}
    encoders = {
        name: cached_query_encoder(name, json.dumps(model, sort_keys=True)) for name, model in models.items() if model
    }
    return Searcher.load(path, verify=True, encoders=encoders)


def open_searcher(path: Path) -> Searcher | None:
    """The searcher for ``path``, or ``None`` after showing the user what went wrong and what to do."""
    try:
        return cached_searcher(str(path), version_stamp(path))
    except IndexNotFoundError:
        st.error(f"No index found at {code_span(path)}. {BUILD_HINT}")
    except IndexFormatError as err:
        st.error(f"The index at {code_span(path)} cannot be used: {code_span(err)}")
    except ModelUnavailableError as err:
        st.error(
            f"The index at {code_span(path)} was built with a model that cannot be loaded on this machine. "
            f"{code_span(err)} "
            "Connect once to download it, or rebuild the index with the offline model (`--model minilm`)."
        )
    except Exception:  # noqa: BLE001 - the page shows a message; the details go to the server's log
        logger.exception("Opening the index at %s failed", path)
        st.error(f"The index at {code_span(path)} could not be opened; the server's log has the details.")
    return None
