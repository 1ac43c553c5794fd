"""Heavy objects (encoders, searchers) loaded once per process, and errors turned into friendly messages."""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from app.ui.document_html import code_span
from index.errors import IndexFormatError, IndexNotFoundError
from index.format import read_manifest
from retrieval.encoders import DenseEncoder, load_manifest_encoder
from retrieval.models import ModelUnavailableError
from retrieval.multivector_encoder import MultiVectorEncoder
from retrieval.searcher import Searcher

logger = logging.getLogger(__name__)
BUILD_HINT = "Build one with `modernsearch build CORPUS --index DIR`, then start `modernsearch app --index DIR` (or run `modernsearch demo`)."


@st.cache_resource(show_spinner="Loading the model…")
def cached_encoder(spec: str) -> DenseEncoder:
    """One encoder per model spec, shared by every index and session of this process."""
    return load_manifest_encoder({"spec": spec})


@st.cache_resource(show_spinner="Loading the ColBERT model…")
def cached_multivector_encoder(spec: str) -> MultiVectorEncoder:
    """One ColBERT encoder per model spec, shared by every index and session of this process."""
    return MultiVectorEncoder.load(spec)


@st.cache_resource(show_spinner="Opening the index…")
def cached_searcher(path: str, mtime_ns: int) -> Searcher:
    """One searcher per index folder version (the manifest's mtime invalidates the cache after a rebuild)."""
    manifest = read_manifest(path)
    encoder = cached_encoder(manifest["model"]["spec"]) if "model" in manifest else None
    multivector = manifest.get("multivector")
    multivector_encoder = cached_multivector_encoder(multivector["model"]["spec"]) if multivector else None
    return Searcher.load(path, verify=True, encoder=encoder, multivector_encoder=multivector_encoder)


def open_searcher(path: Path) -> Searcher | None:
    """The searcher for ``path``, or ``None`` after showing the user what went wrong and what to do."""
    try:
        stamp = (Path(path) / "manifest.json").stat().st_mtime_ns if (Path(path) / "manifest.json").exists() else 0
        return cached_searcher(str(path), stamp)
    except IndexNotFoundError:
        st.error(f"No index found at {code_span(path)}. {BUILD_HINT}")
    except IndexFormatError as err:
        st.error(f"The index at {code_span(path)} cannot be used: {code_span(err)}")
    except ModelUnavailableError as err:
        st.error(
            f"The index at {code_span(path)} was built with a model that cannot be loaded on this machine. {code_span(err)} "
            "Connect once to download it, or rebuild the index with the offline model (`--model minilm`)."
        )
    except Exception:  # noqa: BLE001 - the page shows a message; the details go to the server's log
        logger.exception("Opening the index at %s failed", path)
        st.error(f"The index at {code_span(path)} could not be opened; the server's log has the details.")
    return None
