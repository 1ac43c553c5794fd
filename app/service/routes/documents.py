"""Updates over HTTP: add (or upsert) and delete documents, as ``modernsearch add`` and ``delete`` do. Every route
here needs the API key (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``)."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Header

from app.service.problems import Problem
from app.service.schemas import AddDocuments, DeleteDocuments, UpdateResult, problem_responses
from app.service.state import ServiceState, service_state, version_text


def require_key(
    authorization: str | None = Header(None),
    x_api_key: str | None = Header(None),
    state: ServiceState = Depends(service_state),
) -> None:
    """Let the request through only with the service's API key; with none configured, say how to enable writes."""
    if state.api_key is None:
        env = state.api_key_env
        raise Problem(
            403,
            "Writes disabled",
            f"This server takes no writes. Start it with an API key in an environment "
            f"variable to enable them: {env}=... modernsearch serve ... --api-key-env {env}",
        )
    given = x_api_key or (authorization[7:] if authorization and authorization.lower().startswith("bearer ") else None)
    if given is None or not hmac.compare_digest(given.encode(), state.api_key.encode()):
        raise Problem(
            401, "Unauthorized", "Writes need the API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'."
        )


router = APIRouter(dependencies=[Depends(require_key)])
WRITE_PROBLEMS = problem_responses(401, 403, 404, 409, 413, 422, 503)


@router.post(
    "/indexes/{name}/documents",
    response_model=UpdateResult,
    responses=WRITE_PROBLEMS,
    summary="Add documents (or replace them with upsert), as `modernsearch add` does.",
)
def add(name: str, body: AddDocuments, state: ServiceState = Depends(service_state)) -> UpdateResult:
    from index.format import read_manifest
    from retrieval.build.committed import recorded_config
    from retrieval.build.updater import add_documents
    from retrieval.corpus.readers import ReadStats, read_records

    folder = state.served(name)
    if len(body.documents) > state.limits.max_documents:
        raise Problem(413, "Request too large", f"Send at most {state.limits.max_documents:,} documents per request.")
    config = recorded_config(read_manifest(folder))
    documents = list(read_records(body.documents, config.with_changes(skip_invalid=False), ReadStats()))
    summary = add_documents(
        folder, documents, upsert=body.upsert, encoders=state.indexes.document_encoders(name), progress=False
    )
    return _update_result(summary, folder)


@router.post(
    "/indexes/{name}/documents:delete",
    response_model=UpdateResult,
    responses=WRITE_PROBLEMS,
    summary="Delete documents by id (ids the index does not hold are listed, not an error).",
)
def delete(name: str, body: DeleteDocuments, state: ServiceState = Depends(service_state)) -> UpdateResult:
    from retrieval.build.updater import delete_documents

    folder = state.served(name)
    return _update_result(delete_documents(folder, body.ids), folder)


def _update_result(summary: Any, folder: Path) -> UpdateResult:
    from index.format import version_stamp

    return UpdateResult(
        added=summary.added,
        replaced=summary.replaced,
        deleted=summary.deleted,
        documents=summary.documents,
        seconds=summary.seconds,
        not_found=summary.not_found,
        index_version=version_text(version_stamp(folder)),
    )
