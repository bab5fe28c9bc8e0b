"""Running the functions app under uvicorn, one process per worker, on the settings the parent
validated.

uvicorn starts each worker as a fresh interpreter that calls `app_from_parent`. The parent
hands its validated variables over in one environment variable (SERVER_ENV, JSON) and the
workers read that alone: never `.env`, never the rest of the environment. A worker that
uvicorn restarts later serves the same settings, whatever changed on disk since. The
worker's factory is its process's edge, so it is the one place here that reads os.environ.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping, MutableMapping

import uvicorn
from starlette.applications import Starlette

from toolkit.config import ServerSettings
from toolkit.errors import ConfigError
from toolkit.functions.app import create_app

__all__ = ["SERVER_ENV", "app_from_parent", "hand_over", "run", "taken_over"]

SERVER_ENV = "CHAT_TOOLKIT_SERVER_ENV"


def hand_over(env: Mapping[str, str], environ: MutableMapping[str, str]) -> ServerSettings:
    """Validate `env` (ConfigError names what is wrong) and put it where workers find it."""
    settings = ServerSettings.from_env(env)
    environ[SERVER_ENV] = json.dumps(dict(env))
    return settings


def taken_over(environ: Mapping[str, str]) -> ServerSettings:
    """In a worker: exactly the settings the parent handed over."""
    handed = environ.get(SERVER_ENV)
    if handed is None:
        raise ConfigError(f"{SERVER_ENV} is not set; start the server with `chat-toolkit serve`")
    return ServerSettings.from_env(json.loads(handed))


def app_from_parent() -> Starlette:
    """uvicorn factory, run in each worker process: the app on the handed-over settings."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s", force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is ours
    return create_app(taken_over(os.environ))


def run(*, host: str, port: int, workers: int) -> None:
    """Serve on the settings `hand_over` put in this process's environment (the CLI calls it
    first, so that a bad setting is a one-line error before anything listens)."""
    uvicorn.run(
        "toolkit.functions.server:app_from_parent",
        factory=True,
        host=host,
        port=port,
        workers=workers if workers > 1 else None,
        access_log=False,
        proxy_headers=False,  # the app reads X-Forwarded-For itself (CHAT_TRUSTED_PROXIES)
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
