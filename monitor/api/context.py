"""What every route depends on, handed over through `Depends`: the settings, the database,
the service's state and the clock the app was built with."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import Clock
from monitor.config import Settings
from monitor.embed import Embedder
from monitor.health import ServiceState


@dataclass(frozen=True, slots=True)
class ApiContext:
    settings: Settings
    sessions: sessionmaker[Session]
    token: bytes | None  # None: writes are disabled
    state: ServiceState | None  # None: no service runs in this process
    search_embedder: Callable[[], Embedder] | None
    clock: Clock

    def public_url(self, path_and_query: str) -> str:
        """The configured public base URL joined with a path; the path alone when none is set
        (never the request's `Host`, which the client chooses)."""
        base = self.settings.api.public_base_url.rstrip("/")
        return f"{base}{path_and_query}"


def api_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


Context = Annotated[ApiContext, Depends(api_context)]


def read_session(context: Context) -> Iterator[Session]:
    """A session for reads. Writes open their transaction in the route instead, so they commit
    before the response goes out (a yield dependency ends after it)."""
    with context.sessions() as session:
        yield session


ReadSession = Annotated[Session, Depends(read_session)]
