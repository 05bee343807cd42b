"""Feedback that teaches, and saved views: judge a match's relevance or a story member's
membership, list and export judgements, send a match as an alert by hand, and save inbox
filters under a name with their own Atom feed. Writes need the token (their author is
`[api] token_name`); the pages call the same functions with the author `local`."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from monitor.alerts.outbox import send_alert_for_match
from monitor.api.atom import matches_atom
from monitor.api.auth import WriteRoute, bearer_scheme, require_read_access
from monitor.api.context import ApiContext, Context, ReadSession
from monitor.api.filters import (
    MAX_ID,
    Since,
    gazetteer_at,
    unprocessable,
)
from monitor.api.params import ObjectId, PageCursor, PageLimit, found, page_of
from monitor.feedback import judgement_item
from monitor.feedback_values import FeedbackFilter, FeedbackKind, SavedViewRecord
from monitor.filters import FilterError, FilterRequest, parse_moment
from monitor.storage.feedback import (
    feedback_quality,
    list_feedback,
    record_feedback,
    relevance_feedback_items,
    same_story_feedback_items,
)
from monitor.storage.queries import get_match, get_story, list_matches_page
from monitor.storage.splits import split_article
from monitor.storage.views import delete_view, get_view, list_views, save_view
from monitor.views import (
    MAX_VIEW_NAME_CHARS,
    VIEW_NAME_RULE,
    canonical_view_filter,
    is_view_name,
    view_match_filter,
)

reads = APIRouter(
    dependencies=[Depends(bearer_scheme), Depends(require_read_access)], tags=["feedback"]
)
writes = APIRouter(route_class=WriteRoute, dependencies=[Depends(bearer_scheme)], tags=["feedback"])
JSONL = "application/x-ndjson"
ViewName = Annotated[
    str, Path(min_length=1, max_length=MAX_VIEW_NAME_CHARS, description=VIEW_NAME_RULE)
]


class RelevanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    relevant: StrictBool = Field(description="true: about Russia–Latin America relations")


class SameStoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    same_story: StrictBool = Field(description="false: the article belongs elsewhere")


class ViewIn(BaseModel):
    """An inbox filter, named as `GET /matches` names its parameters."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    since: str | None = Field(default=None, max_length=64)
    until: str | None = Field(default=None, max_length=64)
    min_score: float | None = Field(default=None, ge=0, le=1)
    relevant: StrictBool | None = None
    include_all: StrictBool = Field(default=False, alias="all")
    country: str | None = Field(default=None, max_length=64)
    topic: str | None = Field(default=None, max_length=64)
    lang: str | None = Field(default=None, max_length=16)
    feed: str | None = Field(default=None, max_length=2048)
    story: int | None = Field(default=None, ge=1, le=2**63 - 1)
    q: str | None = Field(default=None, max_length=200)

    def request(self) -> FilterRequest:
        return FilterRequest(
            since=self.since,
            until=self.until,
            min_score=self.min_score,
            relevant=self.relevant,
            include_all=self.include_all,
            country=self.country,
            topic=self.topic,
            language=self.lang,
            feed=self.feed,
            story=self.story,
            text=self.q,
        )


# The actions, shared with the pages (which pass their own author).


def judge_match(context: ApiContext, match_id: int, relevant: bool, author: str) -> dict[str, Any]:
    """Store a relevance judgement of the match's article; the judgement and the match as it
    now reads (404 for an unknown match)."""
    with context.sessions.begin() as session:
        match = found(get_match(session, match_id), "match")
        record = record_feedback(
            session, FeedbackKind.RELEVANT, match["article_id"], relevant, author, context.clock()
        )
        judged = found(record, "match")
        return {"feedback": judgement_item(judged), "match": get_match(session, match_id)}


def judge_member(
    context: ApiContext, story_id: int, article_id: int, same_story: bool, author: str
) -> dict[str, Any]:
    """Store a same-story judgement; "not the same story" also moves the article into a story
    of its own. 404 for an unknown story, or an article that is not its member."""
    with context.sessions.begin() as session:
        found(get_story(session, story_id), "story")
        record = record_feedback(
            session,
            FeedbackKind.SAME_STORY,
            article_id,
            same_story,
            author,
            context.clock(),
            story_id,
        )
        judged = found(record, "article in this story")
        now_in = story_id
        if not same_story:
            split = found(split_article(session, article_id, story_id), "article in this story")
            now_in = split.new_story_id
        return {"feedback": judgement_item(judged), "story_id": now_in}


def store_view(context: ApiContext, name: str, request: FilterRequest) -> SavedViewRecord:
    """Save `request` under `name` (checked like the inbox's filter; 422 otherwise)."""
    if not is_view_name(name):
        raise unprocessable("name", f"a view name uses {VIEW_NAME_RULE}")
    gazetteer = gazetteer_at(context.settings.relevance.gazetteer_dir)
    try:
        canonical = canonical_view_filter(request, gazetteer, context.clock())
    except FilterError as error:
        raise unprocessable(error.parameter, error.message) from None
    with context.sessions.begin() as session:
        return save_view(session, name, canonical, context.clock())


def view_item(view: SavedViewRecord, context: ApiContext) -> dict[str, Any]:
    return {**asdict(view), "atom": context.public_url(f"/views/{view.name}.atom")}


def jsonl(lines: list[dict[str, Any]], filename: str) -> Response:
    body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(body, media_type=JSONL, headers=headers)


@writes.post("/matches/{match_id}/feedback", status_code=201, summary="Judge a match")
def match_feedback(context: Context, match_id: ObjectId, body: RelevanceIn) -> dict[str, Any]:
    """Record whether the match is relevant. "Not relevant" takes it out of the default
    (relevant-only) list and stops alerts for its story; "relevant" on a match the tagger
    rejected shows it as relevant, with `override: "feedback"`."""
    return judge_match(context, match_id, body.relevant, context.settings.api.token_name)


@writes.post(
    "/stories/{story_id}/articles/{article_id}/feedback",
    status_code=201,
    summary="Judge a story member",
)
def member_feedback(
    context: Context, story_id: ObjectId, article_id: ObjectId, body: SameStoryIn
) -> dict[str, Any]:
    """Record whether the article belongs to the story; `false` moves it into a new story of
    its own (`story_id` in the answer) and recounts both."""
    author = context.settings.api.token_name
    return judge_member(context, story_id, article_id, body.same_story, author)


@writes.post(
    "/matches/{match_id}/alert",
    summary="Send a match as an alert",
    responses={409: {"description": "no alert rule's filters admit the match"}},
)
def send_alert(context: Context, match_id: ObjectId) -> dict[str, Any]:
    """Queue a `match.created` for the match's story on the channels of every rule whose
    filters other than the score admit it. Rules that already alerted the story are listed in
    `already_alerted`."""
    with context.sessions.begin() as session:
        sent = send_alert_for_match(session, match_id, context.settings.alerts, context.clock())
        result = found(sent, "match")
        if not result.matched:
            raise HTTPException(409, "no alert rule's countries, topics, feeds or view admit it")
        return {"raised": list(result.raised), "already_alerted": list(result.already_alerted)}


@reads.get("/feedback", summary="List judgements")
def feedback(
    session: ReadSession,
    context: Context,
    kind: Annotated[
        FeedbackKind | None, Query(description="relevant or same_story judgements only")
    ] = None,
    value: Annotated[bool | None, Query(description="the verdict: true or false")] = None,
    article: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="judgements of this article")
    ] = None,
    story: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="judgements made in this story")
    ] = None,
    author: Annotated[
        str | None, Query(max_length=128, description="`[api] token_name`, or local")
    ] = None,
    since: Since = None,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> dict[str, Any]:
    """Judgements newest first, each with its verdict as `relevant` or `same_story`, the ids,
    the time and the author; follow `next_cursor` for the next page."""
    try:
        moment = parse_moment(since, context.clock(), "since")
    except FilterError as error:
        raise unprocessable(error.parameter, error.message) from None
    filters = FeedbackFilter(kind, value, article, story, author, moment)
    size = limit or context.settings.api.page_size
    records = list_feedback(session, filters, size, cursor)
    return page_of([judgement_item(r) for r in records], size)


@reads.get(
    "/feedback/relevance.jsonl",
    summary="Relevance judgements as labelled JSONL",
    response_class=Response,
    responses={200: {"content": {JSONL: {}}}},
)
def relevance_export(session: ReadSession) -> Response:
    """The latest judgement of each article, one `{id, lang, title, summary, label, …}` line
    each: the file `monitor eval relevance` reads."""
    return jsonl(relevance_feedback_items(session), "relevance-feedback.jsonl")


@reads.get(
    "/feedback/same-story.jsonl",
    summary="Same-story judgements as labelled JSONL",
    response_class=Response,
    responses={200: {"content": {JSONL: {}}}},
)
def same_story_export(session: ReadSession) -> Response:
    """The latest judgement of each (article, story), one `{id, a, b, same_story, …}` pair
    each: the file `monitor eval same-story` reads."""
    return jsonl(same_story_feedback_items(session), "same-story-feedback.jsonl")


@reads.get("/feedback/quality", summary="The tagger's precision according to feedback")
def quality(session: ReadSession) -> dict[str, Any]:
    """Precision of the relevant flag against the latest judgement of each article, overall,
    per language and per feed, with the number of judgements."""
    figures = feedback_quality(session)
    return {
        **asdict(figures),
        "overall": precision_item(figures.overall),
        "by_language": {k: precision_item(v) for k, v in figures.by_language.items()},
        "by_feed": {k: precision_item(v) for k, v in figures.by_feed.items()},
    }


def precision_item(value: Any) -> dict[str, Any]:
    return {**asdict(value), "precision": value.precision}


@reads.get("/views", summary="List saved views")
def views(session: ReadSession, context: Context) -> list[dict[str, Any]]:
    """Every saved view with its filter and its Atom feed's address."""
    return [view_item(v, context) for v in list_views(session)]


@reads.get(
    "/views/{name}.atom",
    summary="A saved view as an Atom feed",
    response_class=Response,
    responses={200: {"content": {"application/atom+xml": {}}}},
)
def view_feed(
    request: Request,
    session: ReadSession,
    context: Context,
    name: ViewName,
    limit: PageLimit = None,
) -> Response:
    """The newest matches the view's filter admits, as Atom 1.0 for a feed reader."""
    view = found(get_view(session, name), "view")
    try:
        f = view_match_filter(view.filter, context.clock())
    except FilterError as error:
        raise unprocessable(error.parameter, error.message) from None
    items = list_matches_page(session, f, limit or context.settings.api.page_size)
    self_url = context.public_url(request.url.path)
    return Response(
        matches_atom(items, self_url, context.clock()), media_type="application/atom+xml"
    )


@reads.get("/views/{name}", summary="One saved view")
def view(session: ReadSession, context: Context, name: ViewName) -> dict[str, Any]:
    """A saved view with its filter and its Atom feed's address."""
    return view_item(found(get_view(session, name), "view"), context)


@writes.put("/views/{name}", summary="Save a view")
def put_view(context: Context, name: ViewName, body: ViewIn) -> dict[str, Any]:
    """Save the filter under `name` (replacing a view of that name). Its parameters mean what
    `GET /matches`'s mean; an unusable one is a 422 naming it."""
    return view_item(store_view(context, name, body.request()), context)


@writes.delete("/views/{name}", status_code=204, summary="Delete a view")
def remove_view(context: Context, name: ViewName) -> Response:
    """Delete a saved view; alert rules naming it raise nothing until it is saved again."""
    with context.sessions.begin() as session:
        if not delete_view(session, name):
            raise HTTPException(404, "no such view")
    return Response(status_code=204)
