"""The inbox (`/`): matches with filters and semantic search, reasons, read and starred
state, and the judgements made from a row (relevant, not relevant, send as alert)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from monitor.alerts.outbox import send_alert_for_match
from monitor.feedback_values import FeedbackKind
from monitor.filters import FilterError, FilterRequest, MatchFilter, parse_match_filter
from monitor.gazetteer import Gazetteer, load_gazetteer
from monitor.pages.context import PageContext, Pages
from monitor.pages.highlight import highlight, terms_by_side
from monitor.pages.web import (
    Author,
    CheckedForm,
    Reader,
    back,
    field,
    fragment_or_back,
    render,
    wants_fragment,
)
from monitor.search import search_matches
from monitor.storage.feedback import record_feedback
from monitor.storage.feeds import list_feeds
from monitor.storage.pages import inbox_rows
from monitor.storage.queries import get_match
from monitor.storage.states import set_read, set_starred, starred_article_ids
from monitor.storage.thread_pages import developing_threads
from monitor.storage.views import list_views

router = APIRouter(include_in_schema=False)
MAX_ID = 2**63 - 1
MAX_PAGE_ROWS = 500
PERIODS = ("", "24h", "7d", "30d", "90d")
RELEVANCE = {"relevant": None, "all": True, "not": False}  # relevant=… → include_all / False


@dataclass(frozen=True, slots=True)
class InboxQuery:
    """The inbox's query string as typed (shown back in the filter form) and its filter."""

    values: dict[str, str]
    request: FilterRequest
    ask: str
    limit: int
    page: int


@cache
def gazetteer_at(directory: Path) -> Gazetteer:
    return load_gazetteer(directory)


def bad(parameter: str, message: str) -> FilterError:
    return FilterError(parameter, message)


def number(text: str, parameter: str, low: float, high: float) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise bad(parameter, f"{text!r} is not a number") from None
    if not low <= value <= high:
        raise bad(parameter, f"must be between {low:g} and {high:g}")
    return value


def read_query(params: Any, page_size: int) -> InboxQuery:
    """The inbox's parameters (the API's names; `language` or `lang`; `relevant` is
    `relevant`, `all` or `not`); FilterError naming the first bad one."""
    values = {k: str(params.get(k, "")).strip() for k in FIELDS}
    values["language"] = values["language"] or str(params.get("lang", "")).strip()
    relevant = values["relevant"].lower() or "relevant"
    relevant = {"true": "relevant", "false": "not"}.get(relevant, relevant)
    if relevant not in RELEVANCE:
        raise bad("relevant", "use relevant, all or not")
    values["relevant"] = relevant
    for name in FIELDS:
        if len(values[name]) > (2048 if name == "feed" else 200):
            raise bad(name, "too long")
    story = number(values["story"], "story", 1, MAX_ID)
    request = FilterRequest(
        since=values["since"] or None,
        until=values["until"] or None,
        min_score=number(values["min_score"], "min_score", 0, 1),
        relevant=False if relevant == "not" else None,
        include_all=relevant == "all",
        country=values["country"] or None,
        topic=values["topic"] or None,
        language=values["language"] or None,
        feed=values["feed"] or None,
        story=int(story) if story is not None else None,
        text=values["q"] or None,
    )
    limit = number(values["limit"], "limit", 1, MAX_PAGE_ROWS)
    page = number(values["page"], "page", 1, 10_000)
    return InboxQuery(values, request, values["ask"], int(limit or page_size), int(page or 1))


FIELDS = (
    "since", "until", "country", "topic", "language", "feed", "min_score", "relevant", "q",
    "ask", "story", "limit", "page", "starred",
)  # fmt: skip
MAX_STARRED = 1000  # starred articles the inbox's `starred=1` filter looks at


def resolve(pages: PageContext, request: FilterRequest) -> MatchFilter:
    gazetteer = gazetteer_at(pages.settings.relevance.gazetteer_dir)
    try:
        return parse_match_filter(request, gazetteer, pages.app.clock())
    except FilterError as error:
        if error.parameter == "lang":  # the inbox names it `language`
            raise bad("language", error.message) from None
        raise


def with_reasons(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row with its title and summary cut into highlighted segments."""
    for row in rows:
        sides = terms_by_side(row["reasons"])
        row["title_marked"] = highlight(row["title"], sides)
        row["summary_marked"] = highlight(row["summary"], sides)
        row["terms"] = {side: sorted(terms) for side, terms in sides.items() if terms}
    return rows


def with_threads(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row with `developing` (its thread's id and event count) when its event is one of
    several in a thread, else None."""
    found = developing_threads(session, [r["story_id"] for r in rows if r["story_id"]])
    for row in rows:
        row["developing"] = found.get(row["story_id"]) if row["story_id"] else None
    return rows


def searched_rows(pages: PageContext, f: MatchFilter, ask: str, limit: int) -> list[dict[str, Any]]:
    """The semantic search's best matches as inbox rows, best first."""
    if pages.app.search_embedder is None:
        raise bad("ask", "semantic search is not available on this server")
    found = search_matches(
        pages.sessions,
        pages.app.search_embedder(),
        ask,
        f,
        limit,
        pages.settings.search.min_similarity,
        pages.settings.stories.approximate_above,
    )
    similarity = {r["article_id"]: r["similarity"] for r in found}
    with pages.sessions() as session:
        rows = inbox_rows(session, replace(f, article_ids=list(similarity)), limit)
    for row in rows:
        row["similarity"] = similarity[row["article_id"]]
    return sorted(rows, key=lambda r: -float(r["similarity"]))


@router.get("/", summary="Inbox")
def inbox(request: Request, pages: Pages, reader: Reader) -> Response:
    error: FilterError | None = None
    rows: list[dict[str, Any]] = []
    more = False
    try:
        query = read_query(request.query_params, pages.settings.api.page_size)
        f = resolve(pages, query.request)
        if query.ask:
            rows = searched_rows(pages, f, query.ask, query.limit)
    except FilterError as problem:
        error, query = problem, InboxQuery(dict.fromkeys(FIELDS, ""), FilterRequest(), "", 1, 1)
    with pages.sessions() as session:
        if error is None and not query.ask:
            if query.values["starred"] == "1":
                f = replace(f, article_ids=starred_article_ids(session, MAX_STARRED))
            offset = (query.page - 1) * query.limit
            rows = inbox_rows(session, f, query.limit + 1, offset)
            more, rows = len(rows) > query.limit, rows[: query.limit]
        rows = with_threads(session, rows)
        feeds = list_feeds(session)
        views = list_views(session)
    gazetteer = gazetteer_at(pages.settings.relevance.gazetteer_dir)
    values: dict[str, Any] = {
        "query": query,
        "rows": with_reasons(rows),
        "more": more,
        "error": error,
        "feeds": feeds,
        "views": views,
        "periods": PERIODS,
        "topics": sorted(gazetteer.topics),
        "countries": sorted(gazetteer.countries),
        "hide_rejected": query.values.get("relevant") == "relevant",
    }
    if wants_fragment(request) and error is None:
        return render(request, pages, "_rows.html", **values)
    return render(request, pages, "inbox.html", 422 if error else 200, **values)


def row_of(pages: PageContext, article_id: int) -> dict[str, Any] | None:
    with pages.sessions() as session:
        rows = with_threads(session, inbox_rows(session, MatchFilter(article_ids=[article_id]), 1))
    return with_reasons(rows)[0] if rows else None


def answer_with_row(
    request: Request, pages: PageContext, form: CheckedForm, article_id: int, notice: str
) -> Response:
    """The row as it now reads for htmx (nothing when it leaves the list), else a 303."""
    hide = field(form, "hide") == "1"
    row = row_of(pages, article_id)
    gone = row is None or (hide and not row["relevant"])
    template = None if gone else "_row.html"
    return fragment_or_back(
        request,
        pages,
        form,
        "/",
        notice,
        template,
        row=row,
        hide_rejected=hide,
        next=field(form, "next", "/"),
    )


def checked_id(value: int) -> int:
    if not 1 <= value <= MAX_ID:
        raise HTTPException(404, "no such item")
    return value


@router.post("/ui/matches/{match_id}/relevance")
def judge(
    request: Request, pages: Pages, form: CheckedForm, author: Author, match_id: int
) -> Response:
    """Relevant (`value=true`) or not relevant (`value=false`), as `POST
    /matches/{id}/feedback` records it, with this page's author."""
    verdict = field(form, "value")
    if verdict not in ("true", "false"):
        raise HTTPException(422, "value must be true or false")
    with pages.sessions.begin() as session:
        article_id = article_of_match(session, checked_id(match_id))
        kind, now = FeedbackKind.RELEVANT, pages.app.clock()
        record_feedback(session, kind, article_id, verdict == "true", author, now)
    return answer_with_row(request, pages, form, article_id, "judged")


def article_of_match(session: Session, match_id: int) -> int:
    match = get_match(session, match_id)
    if match is None:
        raise HTTPException(404, "no such match")
    return int(match["article_id"])


@router.post("/ui/articles/{article_id}/read")
def mark_read(
    request: Request, pages: Pages, form: CheckedForm, author: Author, article_id: int
) -> Response:
    """Read (`value=true`, the default) or unread again."""
    with pages.sessions.begin() as session:
        if not set_read(
            session,
            [checked_id(article_id)],
            field(form, "value", "true") == "true",
            pages.app.clock(),
        ):
            raise HTTPException(404, "no such article")
    return answer_with_row(request, pages, form, article_id, "read")


@router.post("/ui/articles/{article_id}/star")
def star(
    request: Request, pages: Pages, form: CheckedForm, author: Author, article_id: int
) -> Response:
    """Starred (`value=true`, the default) or not."""
    starred = field(form, "value", "true") == "true"
    with pages.sessions.begin() as session:
        if not set_starred(session, checked_id(article_id), starred, pages.app.clock()):
            raise HTTPException(404, "no such article")
    return answer_with_row(request, pages, form, article_id, "judged")


@router.post("/ui/inbox/read")
def mark_visible_read(pages: Pages, form: CheckedForm, author: Author) -> Response:
    """Every article listed in the form's `article` fields marked read ("mark visible as read")."""
    try:
        ids = [checked_id(int(v)) for v in form.get("article", [])]
    except ValueError:
        raise HTTPException(422, "article ids are numbers") from None
    with pages.sessions.begin() as session:
        set_read(session, ids, True, pages.app.clock())
    return back(form, "/", "read")


@router.post("/ui/matches/{match_id}/alert")
def send_as_alert(pages: Pages, form: CheckedForm, author: Author, match_id: int) -> Response:
    """Queue a `match.created` for the match's story under every rule that admits it."""
    with pages.sessions.begin() as session:
        sent = send_alert_for_match(
            session, checked_id(match_id), pages.settings.alerts, pages.app.clock()
        )
    if sent is None:
        raise HTTPException(404, "no such match")
    notice = "alert-sent" if sent.raised else "alert-again" if sent.matched else "alert-none"
    return back(form, "/", notice)
