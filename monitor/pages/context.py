"""What the pages need from the app they are mounted in: the API's context (settings,
database, token, clock, search embedder), read through a Protocol so the pages never import
the API package (which mounts them), and the keys that sign their cookies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import Clock
from monitor.config import Settings
from monitor.embed import Embedder


class AppContext(Protocol):
    """The fields of `monitor.api.context.ApiContext` the pages use."""

    @property
    def settings(self) -> Settings: ...
    @property
    def sessions(self) -> sessionmaker[Session]: ...
    @property
    def token(self) -> bytes | None: ...
    @property
    def search_embedder(self) -> Callable[[], Embedder] | None: ...
    @property
    def clock(self) -> Clock: ...


@dataclass(frozen=True, slots=True)
class PageContext:
    app: AppContext
    signing_key: bytes  # signs the session and CSRF cookies
    environ: Mapping[str, str]  # where channel secrets are read, as the CLI reads them

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.app.sessions


def page_context(request: Request) -> PageContext:
    context: PageContext = request.app.state.pages
    return context


Pages = Annotated[PageContext, Depends(page_context)]
