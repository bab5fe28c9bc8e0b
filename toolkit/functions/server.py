"""Running the functions app under uvicorn, one process per worker."""

from __future__ import annotations

import logging
import os
import sys

import uvicorn
from starlette.applications import Starlette

from toolkit.config import ServerSettings, load_environment
from toolkit.functions.app import create_app

__all__ = ["app_from_environment", "run"]


def app_from_environment() -> Starlette:
    """uvicorn factory for worker processes: settings from the (already loaded) environment."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s", force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is ours
    return create_app(ServerSettings.from_env(load_environment()))


def run(env: dict[str, str], *, host: str, port: int, workers: int) -> None:
    """Validate settings here (one-line errors), then serve; workers re-read the same env."""
    ServerSettings.from_env(env)
    os.environ.update(env)
    uvicorn.run(
        "toolkit.functions.server:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers if workers > 1 else None,
        access_log=False,
        proxy_headers=False,  # the app reads X-Forwarded-For itself (CHAT_TRUSTED_PROXIES)
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
