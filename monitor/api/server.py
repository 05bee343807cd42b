"""Serving the API inside the service's event loop (uvicorn), signals left to the service.
The listening socket is bound when the server is made, so a port in use is a `ConfigError`
before the service starts."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from collections.abc import Callable, Generator

import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from monitor.api.app import create_app
from monitor.config import Settings
from monitor.embed import Embedder
from monitor.errors import ConfigError
from monitor.health import ServiceState


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the service owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; a port in use or an address that cannot be
    bound is a one-line ConfigError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Lets a restart bind while old connections linger in TIME_WAIT; a live listener still
        # holds the port on Linux and macOS.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"{where} is already in use: stop the other process or set [api] port"
            ) from None
        raise ConfigError(f"cannot listen on {where}: {exc.strerror}; check [api] host") from None
    sock.setblocking(False)
    return sock


class ApiServer:
    """The API bound to its socket, served when called with the service's state."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        search_embedder: Callable[[], Embedder] | None,
    ) -> None:
        self.settings, self.sessions, self.search_embedder = settings, sessions, search_embedder
        self.token = os.environ.get(settings.api.token_env) or None
        self.socket = bind_socket(settings.api.host, settings.api.port)
        # The bound port: the one the system chose when `[api] port` is 0.
        self.port: int = self.socket.getsockname()[1]

    async def __call__(self, state: ServiceState | None) -> None:
        """Serve until cancelled; on cancel, stop accepting and let the requests in flight
        finish (within `[service] shutdown_grace_s`) before the cancellation goes on."""
        app = create_app(self.settings, self.sessions, self.token, state, self.search_embedder)
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(self.settings.service.shutdown_grace_s),
        )
        server = EmbeddedServer(config)
        serving = asyncio.ensure_future(server.serve(sockets=[self.socket]))
        try:
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            server.should_exit = True
            await serving
            raise
        finally:
            self.socket.close()

    def close(self) -> None:
        """Release the port when the server will not be served after all."""
        self.socket.close()


def api_server(
    settings: Settings,
    sessions: sessionmaker[Session],
    search_embedder: Callable[[], Embedder] | None,
) -> ApiServer:
    """Bind `[api] host:port` now (ConfigError when it is taken) and return the coroutine
    function the service runs: `await serve(state)`."""
    return ApiServer(settings, sessions, search_embedder)
