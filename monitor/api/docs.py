"""/docs (Swagger UI) and /redoc served offline: their JavaScript and CSS come from the
`fastapi-offline` package and `monitor/api/static`, never from a CDN, and the pages hold no
inline script, so their Content-Security-Policy allows scripts from this server only."""

from __future__ import annotations

from html import escape
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

VENDOR_PREFIX = "/static/vendor"  # Swagger UI and ReDoc as fastapi-offline ships them
OWN_PREFIX = "/static/monitor"  # this package's small start-up script
# Swagger UI and ReDoc set inline styles and ReDoc runs its search in a blob: worker; scripts
# stay limited to this server.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; "
    "worker-src 'self' blob:; child-src blob:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


def vendor_directory() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def own_directory() -> Path:
    return Path(str(files("monitor.api") / "static"))


def page(title: str, head: str, body: str) -> HTMLResponse:
    html = (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<link rel='icon' href='{VENDOR_PREFIX}/favicon.png'>{head}</head>"
        f"<body>{body}</body></html>"
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": DOCS_CSP})


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return page(
        "monitor API",
        f"<link rel='stylesheet' href='{VENDOR_PREFIX}/swagger-ui.css'>",
        "<div id='swagger-ui' data-openapi-url='/openapi.json'></div>"
        f"<script src='{VENDOR_PREFIX}/swagger-ui-bundle.js'></script>"
        f"<script src='{OWN_PREFIX}/swagger-init.js'></script>",
    )


@router.get("/redoc")
def redoc() -> HTMLResponse:
    # ReDoc starts itself from the <redoc> element: no script of ours is needed.
    return page(
        "monitor API",
        "",
        "<redoc spec-url='/openapi.json'></redoc>"
        f"<script src='{VENDOR_PREFIX}/redoc.standalone.js'></script>",
    )


def mount_docs(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(VENDOR_PREFIX, StaticFiles(directory=vendor_directory()), name="vendor")
    app.mount(OWN_PREFIX, StaticFiles(directory=own_directory()), name="own")
