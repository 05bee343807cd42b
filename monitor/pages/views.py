"""Saved views: an inbox filter stored under a name, with its own Atom feed
(`/views/{name}.atom`, served by the API) and usable by an alert rule (`view = "name"`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response

from monitor.feedback_values import SavedViewRecord
from monitor.filters import FilterError
from monitor.pages.context import Pages
from monitor.pages.inbox import gazetteer_at, read_query
from monitor.pages.web import Author, CheckedForm, Reader, back, field, render
from monitor.storage.views import delete_view, list_views, save_view
from monitor.views import MAX_VIEW_NAME_CHARS, VIEW_NAME_RULE, canonical_view_filter, is_view_name

router = APIRouter(include_in_schema=False)
ViewName = Annotated[str, Path(min_length=1, max_length=MAX_VIEW_NAME_CHARS)]
INBOX_NAMES = {"language": "language", "text": "q", "min_score": "min_score"}


def inbox_query(view: SavedViewRecord) -> dict[str, str]:
    """The inbox's query parameters for a stored view."""
    data: dict[str, Any] = dict(view.filter)
    query = {
        INBOX_NAMES.get(k, k): str(v)
        for k, v in data.items()
        if k not in ("include_all", "relevant") and v is not None
    }
    if data.get("include_all"):
        query["relevant"] = "all"
    elif data.get("relevant") is False:
        query["relevant"] = "not"
    return query


@router.get("/saved")
def saved_views(request: Request, pages: Pages, reader: Reader) -> Response:
    with pages.sessions() as session:
        views = list_views(session)
    base = pages.settings.api.public_base_url.rstrip("/")
    rows = [(v, inbox_query(v), f"{base}/views/{v.name}.atom") for v in views]
    return render(request, pages, "saved.html", rows=rows, rule=VIEW_NAME_RULE)


@router.post("/ui/views")
def save(pages: Pages, form: CheckedForm, author: Author) -> Response:
    """Save the inbox filter in the form under `name` (checked as the inbox checks it)."""
    name = field(form, "name").strip()
    if not is_view_name(name):
        raise HTTPException(422, f"name: a view name uses {VIEW_NAME_RULE}")
    params = {k: v[0] for k, v in form.items() if v}
    try:
        query = read_query(params, pages.settings.api.page_size)
        gazetteer = gazetteer_at(pages.settings.relevance.gazetteer_dir)
        canonical = canonical_view_filter(query.request, gazetteer, pages.app.clock())
    except FilterError as error:
        raise HTTPException(422, f"{error.parameter}: {error.message}") from None
    with pages.sessions.begin() as session:
        save_view(session, name, canonical, pages.app.clock())
    return back(form, "/saved", "view-saved")


@router.post("/ui/views/{name}/delete")
def delete(pages: Pages, form: CheckedForm, author: Author, name: ViewName) -> Response:
    with pages.sessions.begin() as session:
        if not delete_view(session, name):
            raise HTTPException(404, "no such view")
    return back(form, "/saved", "view-deleted")
