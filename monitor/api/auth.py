"""Bearer-token checks. Tokens are compared as bytes, so any header a client can send is a
401 at worst; writes are checked before their body is read."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

from monitor.api.context import ApiContext, Context, api_context

# Only documents the scheme in the OpenAPI schema; the checks below read the header themselves.
bearer_scheme = HTTPBearer(auto_error=False, description="the token from `[api] token_env`")


def presented_token(request: Request) -> bytes | None:
    """The raw bytes after `Bearer ` in the Authorization header, or None."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    # Starlette decodes header bytes as Latin-1: encoding back gives exactly what was sent.
    return credentials.strip().encode("latin-1")


def is_authorised(request: Request, context: ApiContext) -> bool:
    presented = presented_token(request)
    return bool(
        context.token and presented is not None and hmac.compare_digest(presented, context.token)
    )


def unauthorised(close: bool = False) -> HTTPException:
    """401; `close` also ends the connection, so the server stops reading an unread body."""
    headers = {"WWW-Authenticate": "Bearer", **({"Connection": "close"} if close else {})}
    return HTTPException(401, "a valid bearer token is required", headers)


def require_read_access(request: Request, context: Context) -> None:
    """Reads are open unless `[api] require_token_for_reads` is set."""
    if context.settings.api.require_token_for_reads and not is_authorised(request, context):
        raise unauthorised()


def check_write_access(request: Request) -> None:
    context = api_context(request)
    if context.token is None:
        raise HTTPException(
            403, f"writes are disabled: set {context.settings.api.token_env} to enable them"
        )
    if not is_authorised(request, context):
        raise unauthorised(close=True)


class WriteRoute(APIRoute):
    """A route that checks the write token before FastAPI reads and parses the body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authenticated(request: Request) -> Response:
            check_write_access(request)
            return await handler(request)

        return authenticated
