"""Operations: liveness, readiness (every index opened and its models loaded) and Prometheus metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from app.service.problems import problem_response
from app.service.schemas import problem_responses
from app.service.state import ServiceState, service_state

logger = logging.getLogger(__name__)
router = APIRouter()


@router.get("/health", summary="Liveness: the process answers.")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: every index opened and its models loaded.", responses=problem_responses(503))
def ready(state: ServiceState = Depends(service_state)) -> JSONResponse:
    try:
        state.indexes.open_all()
    except Exception as err:  # noqa: BLE001 - not ready, whatever the reason; the log says which
        logger.warning("Not ready: %s", err)
        return problem_response(503, "Not ready", state.paths(f"An index or model could not be loaded: {err}"))
    return JSONResponse({"status": "ready", "indexes": state.indexes.names})


@router.get("/metrics", summary="Prometheus metrics.", response_class=Response)
def prometheus(state: ServiceState = Depends(service_state)) -> Response:
    body, content_type = state.metrics.exposition()
    return Response(body, media_type=content_type)
