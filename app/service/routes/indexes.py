"""The served indexes: what each holds (model, modes, counts, metadata fields, version) and its stored documents."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.service.problems import Problem
from app.service.schemas import Document, IndexDetails, IndexSummary, problem_responses
from app.service.state import ServiceState, service_state, version_text

router = APIRouter()


@router.get(
    "/indexes", response_model=list[IndexSummary], responses=problem_responses(503), summary="The served indexes."
)
def list_indexes(state: ServiceState = Depends(service_state)) -> list[IndexSummary]:
    from index.errors import IndexFormatError

    summaries = []
    for name in state.indexes.names:
        try:
            with state.indexes.lease(name) as (searcher, version):
                summaries.append(
                    IndexSummary(
                        name=name, documents=len(searcher), modes=searcher.modes, index_version=version_text(version)
                    )
                )
        except IndexFormatError as err:  # one index gone does not hide the others
            summaries.append(IndexSummary(name=name, available=False, problem=state.paths(str(err))))
    return summaries


@router.get(
    "/indexes/{name}",
    response_model=IndexDetails,
    responses=problem_responses(404, 422, 503),
    summary="One index: model, modes, counts, metadata fields, version.",
)
def index_details(name: str, state: ServiceState = Depends(service_state)) -> IndexDetails:
    from index.component import component_type

    state.served(name)
    with state.indexes.lease(name) as (searcher, version):
        manifest = searcher.manifest
        components = {c: dict(component_type(c).summary(section)) for c, section in manifest.components.items()}
        fields = {field: stats["type"] for field, stats in searcher.metadata_fields().items()}
        return IndexDetails(
            name=name,
            documents=len(searcher),
            modes=searcher.modes,
            index_version=version_text(version),
            mode=manifest.mode,
            created_at=manifest.created_at,
            components=components,
            metadata_fields=fields,
            updates=len(manifest.updates),
            tuned_search=manifest.tuned_search.to_json() if manifest.tuned_search else None,
        )


@router.get(
    "/indexes/{name}/documents/{doc_id:path}",
    response_model=Document,
    responses=problem_responses(404, 422, 503),
    summary="One stored document by id.",
)
def get_document(name: str, doc_id: str, state: ServiceState = Depends(service_state)) -> Document:
    state.served(name)
    with state.indexes.lease(name) as (searcher, _):
        found = searcher.document(doc_id)
    if found is None:
        raise Problem(404, "Unknown document", f"Index {name!r} holds no document with id {doc_id!r}.")
    return Document(id=found.id, title=found.title, text=found.text, metadata=found.metadata)
