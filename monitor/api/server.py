"""Serving the API inside the service's event loop (uvicorn), signals left to the service."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Coroutine, Generator
from functools import cache
from typing import Any

import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from monitor.api.app import create_app
from monitor.config import Settings
from monitor.embed import Embedder
from monitor.process import Processor
from workers.service import ServiceState


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the service owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def api_server(
    settings: Settings, sessions: sessionmaker[Session], processor: Processor | None
) -> Callable[[ServiceState], Coroutine[Any, Any, None]]:
    token = os.environ.get(settings.api.token_env) or None

    async def serve(state: ServiceState) -> None:
        def health() -> dict[str, Any]:
            return {
                "scheduler_running": state.scheduler_running,
                "last_cycle_at": state.last_cycle_at.isoformat() if state.last_cycle_at else None,
                "last_cycle_ok": state.last_cycle_ok,
                "last_successful_cycle_at": (
                    state.last_successful_cycle_at.isoformat()
                    if state.last_successful_cycle_at
                    else None
                ),
                "started_at": state.started_at.isoformat(),
                "job_failures": state.job_failures,
                "missed_runs": state.missed_runs,
            }

        embedder: Callable[[], Embedder] | None = None
        if processor is not None:
            embedder = cache(lambda: processor.tagger.embedder)
        app = create_app(settings, sessions, token, health, embedder)
        config = uvicorn.Config(
            app,
            host=settings.api.host,
            port=settings.api.port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        server = EmbeddedServer(config)
        try:
            await server.serve()
        finally:
            server.should_exit = True

    return serve
