"""The login form (the API token in, a signed session cookie out) and logging out."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from monitor.pages.context import Pages
from monitor.pages.security import SESSION_COOKIE, is_right_token, session_cookie
from monitor.pages.web import CheckedForm, field, is_secure, render, safe_next

router = APIRouter(include_in_schema=False)


@router.get("/login")
def login_form(request: Request, pages: Pages) -> Response:
    nxt = request.query_params.get("next", "/")
    return render(request, pages, "login.html", next_url=nxt if nxt.startswith("/") else "/")


@router.post("/login")
def login(request: Request, pages: Pages, form: CheckedForm) -> Response:
    """The right token sets the session cookie and goes on to `next`; a wrong one is a 401."""
    token = pages.app.token
    if token is None:
        raise HTTPException(
            403, f"no API token is configured: set {pages.settings.api.token_env} to log in"
        )
    if not is_right_token(field(form, "token"), token):
        return render(request, pages, "login.html", 401, next_url=safe_next(form, "/"), wrong=True)
    max_age = pages.settings.pages.session_max_age_s
    expires_at = int(pages.app.clock().timestamp()) + max_age
    response = RedirectResponse(safe_next(form, "/"), 303)
    response.set_cookie(
        SESSION_COOKIE,
        session_cookie(pages.signing_key, token, expires_at),
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=is_secure(pages),
    )
    return response


@router.post("/logout")
def logout(pages: Pages, form: CheckedForm) -> Response:
    response = RedirectResponse("/login?notice=logged-out", 303)
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="strict", secure=is_secure(pages)
    )
    return response
