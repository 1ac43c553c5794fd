"""The service as uvicorn starts it: the application built in each worker process from its environment.

``modernsearch serve`` puts the served folders and settings in ``MODERNSEARCH_SERVE`` (JSON) and runs
``uvicorn app.service.main:create_from_environment --factory``, so every worker (``--workers N``) builds the
same application and maps the same index files.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI

SERVE_ENV = "MODERNSEARCH_SERVE"


def serve_environment(
    indexes: dict[str, Path], *, api_key_env: str | None, cors_origins: list[str], debug: bool = False
) -> dict[str, str]:
    """The environment variable that tells :func:`create_from_environment` what to serve."""
    settings = {
        "indexes": {name: str(folder) for name, folder in indexes.items()},
        "api_key_env": api_key_env,
        "cors_origins": cors_origins,
        "debug": debug,
    }
    return {SERVE_ENV: json.dumps(settings)}


def create_from_environment() -> FastAPI:
    """The application that ``MODERNSEARCH_SERVE`` describes (the API key read from the variable it names)."""
    from app.commands.console import configure_logging
    from app.service.api import create_app
    from app.service.indexes import ServedIndexes

    configure_logging(logging.INFO)
    _plain_access_log()
    settings: dict[str, Any] = json.loads(os.environ[SERVE_ENV])
    key_env = settings.get("api_key_env")
    api_key = os.environ.get(key_env) if key_env else None
    indexes = ServedIndexes({name: Path(folder) for name, folder in settings["indexes"].items()})
    return create_app(
        indexes,
        api_key=api_key or None,
        cors_origins=tuple(settings.get("cors_origins") or ()),
        api_key_env=key_env or "MODERNSEARCH_API_KEY",
        debug=bool(settings.get("debug")),
    )


def _plain_access_log() -> None:
    """The access log as bare JSON lines on stderr, one per request, whatever the other loggers print."""
    import sys

    log = logging.getLogger("app.service.access")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers, log.propagate = [handler], False
    log.setLevel(logging.INFO)
