"""The request plumbing every page shares: rendering a template (or, for htmx, one partial),
the access and CSRF checks as dependencies, form bodies, and 303 redirects that stay on this
site. Jinja2 autoescapes everything; no template marks feed text safe."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.routing import Match
from starlette.types import Scope

from monitor.pages.context import PageContext, Pages
from monitor.pages.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Access,
    access_of,
    csrf_token,
    is_valid_csrf,
    is_valid_session,
    new_csrf_cookie,
)

TEMPLATES = Path(__file__).parent / "templates"
NOTICES = {
    "judged": "Judgement recorded.",
    "alert-sent": "Alert queued for the rules that admit it.",
    "alert-none": "No alert rule admits this match; nothing was sent.",
    "alert-again": "Its story was already alerted under every rule that admits it.",
    "split": "The article now starts a story of its own.",
    "read": "Marked as read.",
    "feed-added": "Feed added; it is polled at once.",
    "feed-known": "That feed is already stored.",
    "feed-removed": "Feed removed with its articles.",
    "feed-enabled": "Feed enabled and due now.",
    "feed-disabled": "Feed disabled.",
    "feed-polled": "Feed due now: the service fetches it on its next poll.",
    "imported": "OPML imported.",
    "retried": "Delivery due now.",
    "view-saved": "View saved.",
    "view-deleted": "View deleted.",
    "logged-out": "Logged out.",
}


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # packaged templates do not change under a running server
    )
    env.filters["when"] = lambda t: t.strftime("%Y-%m-%d %H:%M") if t else "—"
    env.globals.update(urlencode=urlencode, zip=zip)
    return env


def wants_fragment(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def browser_csrf(request: Request) -> str:
    """This browser's CSRF cookie, made now (and set on the response) when it has none."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or len(cookie) > 64:
        cookie = getattr(request.state, "new_csrf", None) or new_csrf_cookie()
        request.state.new_csrf = cookie
    return cookie


def render(
    request: Request,
    pages: PageContext,
    template: str,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """The template with what every page shows (access, CSRF token, notice)."""
    access = request_access(request, pages)
    cookie = browser_csrf(request)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    html = (
        environment()
        .get_template(template)
        .render(
            request_path=request.url.path,
            here=here(request),
            access=access,
            csrf=csrf_token(pages.signing_key, cookie),
            notice=notice,
            **values,
        )
    )
    response = HTMLResponse(html, status_code)
    if getattr(request.state, "new_csrf", None):
        response.set_cookie(
            CSRF_COOKIE, cookie, httponly=True, samesite="strict", secure=is_secure(pages)
        )
    return response


def is_secure(pages: PageContext) -> bool:
    return pages.settings.api.public_base_url.startswith("https://")


def here(request: Request) -> str:
    """This page's path and query, for a form's `next`."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def request_access(request: Request, pages: PageContext) -> Access:
    now_s = pages.app.clock().timestamp()
    cookie = request.cookies.get(SESSION_COOKIE)
    logged_in = is_valid_session(pages.signing_key, pages.app.token, cookie, now_s)
    return access_of(pages.settings, logged_in)


def require_reader(request: Request, pages: Pages) -> Access:
    """Readers pass; anyone else is sent to the login form (303)."""
    access = request_access(request, pages)
    if not access.can_read:
        target = f"/login?{urlencode({'next': here(request)})}"
        raise HTTPException(303, "log in first", headers={"Location": target})
    return access


Reader = Annotated[Access, Depends(require_reader)]
Form = Mapping[str, list[str]]


async def posted_form(request: Request) -> Form:
    """An `application/x-www-form-urlencoded` body (the body cap applies before this)."""
    body = (await request.body()).decode("utf-8", "replace")
    return parse_qs(body, keep_blank_values=True, max_num_fields=2000)


def require_csrf(
    request: Request, pages: Pages, form: Annotated[Form, Depends(posted_form)]
) -> Form:
    """The form, when it carries this browser's CSRF token; 403 otherwise."""
    presented = field(form, "csrf")
    if not is_valid_csrf(pages.signing_key, request.cookies.get(CSRF_COOKIE), presented):
        raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page")
    return form


CheckedForm = Annotated[Form, Depends(require_csrf)]


def require_writer(request: Request, pages: Pages, form: CheckedForm) -> str:
    """The author of this write; 401 for a visitor who may not write."""
    access = request_access(request, pages)
    if access.author is None:
        raise HTTPException(401, "log in with the API token to change anything")
    return access.author


Author = Annotated[str, Depends(require_writer)]


def field(form: Form, name: str, default: str = "") -> str:
    values = form.get(name)
    return values[0] if values else default


def safe_next(form: Form, default: str) -> str:
    """A local path to go back to (never another site: `//host` and schemes are refused)."""
    target = field(form, "next", default)
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def back(form: Form, default: str, notice: str | None = None) -> Response:
    """The 303 a plain form post gets, with a notice code to show."""
    target = safe_next(form, default)
    if notice:
        base, _, query = target.partition("?")
        params = [(k, v) for k, v in parse_qs(query, keep_blank_values=True).items()]
        kept = [(k, x) for k, vs in params if k != "notice" for x in vs]
        target = f"{base}?{urlencode([*kept, ('notice', notice)])}"
    return RedirectResponse(target, 303)


def fragment_or_back(
    request: Request,
    pages: PageContext,
    form: Form,
    default: str,
    notice: str,
    template: str | None,
    **values: Any,
) -> Response:
    """For htmx the partial `template` (empty when None: the element goes away); else 303."""
    if wants_fragment(request):
        if template is None:
            return HTMLResponse("")
        return render(request, pages, template, **values)
    return back(form, default, notice)


def quoted(text: str) -> str:
    return quote(text, safe="")


def accepts_html(scope: Mapping[str, Any]) -> bool:
    headers = {k.lower(): v for k, v in scope.get("headers", [])}
    return b"text/html" in headers.get(b"accept", b"") or headers.get(b"hx-request") == b"true"


class BrowserRoute(APIRoute):
    """A page on a path the API also serves: it answers only requests that ask for HTML (a
    browser's), and the API's JSON route answers the others."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("type") == "http" and not accepts_html(scope):
            return Match.NONE, {}
        return super().matches(scope)
