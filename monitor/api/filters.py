"""The match-filter query parameters shared by `/matches`, `/matches.atom` and `/search`.

They mean what the CLI's options mean (see `monitor.filters`): relevant matches only unless
`all=true`; `relevant=false` for the rejected ones; `since`/`until` as `24h` or an ISO time;
`country` as a code or a name; an unusable value is a 422 naming the parameter.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Query

from monitor.api.context import Context
from monitor.filters import FilterError, FilterRequest, MatchFilter, parse_match_filter
from monitor.filters import clean_text as refuse_control_characters
from monitor.gazetteer import Gazetteer, load_gazetteer

MAX_ID = 2**63 - 1  # database ids are signed 64-bit
MOMENT = "a duration back from now (90m, 24h, 7d) or an ISO date/time (naive means UTC)"

Since = Annotated[str | None, Query(max_length=64, description=f"first seen from: {MOMENT}")]
Until = Annotated[str | None, Query(max_length=64, description=f"first seen before: {MOMENT}")]
MinScore = Annotated[float | None, Query(ge=0, le=1, description="the lowest relevance score, 0–1")]
Relevant = Annotated[
    bool | None, Query(description="true (the default) or false: only the rejected matches")
]
IncludeAll = Annotated[
    bool, Query(alias="all", description="every match, relevant or not (not with `relevant`)")
]
Country = Annotated[
    str | None,
    Query(max_length=64, description="ISO code (VE) or name (Venezuela, Brasil, Куба)"),
]
Topic = Annotated[
    str | None, Query(max_length=64, description="a topic (energy, defense, trade-finance…)")
]
Language = Annotated[
    str | None, Query(max_length=16, description="the article's language code (es, pt, ru…)")
]
FeedUrl = Annotated[str | None, Query(max_length=2048, description="only the feed with this URL")]
StoryId = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="only the matches of this story (its id)")
]
Text = Annotated[
    str | None, Query(max_length=200, description="words in the title or summary, literally")
]


def unprocessable(parameter: str, message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors."""
    return HTTPException(
        422, [{"loc": ["query", parameter], "msg": message, "type": "value_error"}]
    )


@cache
def gazetteer_at(directory: Path) -> Gazetteer:
    """The gazetteer that names countries and topics, read once per process."""
    return load_gazetteer(directory)


def resolve(context: Context, request: FilterRequest) -> MatchFilter:
    gazetteer = gazetteer_at(context.settings.relevance.gazetteer_dir)
    try:
        return parse_match_filter(request, gazetteer, context.clock())
    except FilterError as error:
        raise unprocessable(error.parameter, error.message) from None


def match_filter(
    context: Context,
    since: Since = None,
    until: Until = None,
    min_score: MinScore = None,
    relevant: Relevant = None,
    include_all: IncludeAll = False,
    country: Country = None,
    topic: Topic = None,
    lang: Language = None,
    feed: FeedUrl = None,
    story: StoryId = None,
    q: Text = None,
) -> MatchFilter:
    request = FilterRequest(
        since=since,
        until=until,
        min_score=min_score,
        relevant=relevant,
        include_all=include_all,
        country=country,
        topic=topic,
        language=lang,
        feed=feed,
        story=story,
        text=q,
    )
    return resolve(context, request)


def search_filter(
    context: Context,
    since: Since = None,
    until: Until = None,
    min_score: MinScore = None,
    relevant: Relevant = None,
    include_all: IncludeAll = False,
    country: Country = None,
    topic: Topic = None,
    lang: Language = None,
    feed: FeedUrl = None,
    story: StoryId = None,
) -> MatchFilter:
    """The same filter for `/search`, whose `q` is the question rather than a text filter."""
    return match_filter(
        context, since, until, min_score, relevant, include_all, country, topic, lang, feed, story
    )


MatchQuery = Annotated[MatchFilter, Depends(match_filter)]
SearchScope = Annotated[MatchFilter, Depends(search_filter)]


def clean_text(value: str | None, name: str) -> str | None:
    """Free text without NUL or other control characters (PostgreSQL refuses NUL), else 422."""
    try:
        return refuse_control_characters(value, name)
    except FilterError as error:
        raise unprocessable(error.parameter, error.message) from None
