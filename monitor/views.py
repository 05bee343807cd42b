"""Saved views (pure): an inbox filter stored under a name, as JSON in the shape of
`monitor.filters.FilterRequest`, and turned back into the filter storage runs.

A view is stored canonical: a country as its ISO code, a topic by its name, so it resolves
without the gazetteer (alert planning does that at every batch); `since`/`until` stay as typed,
so "7d" keeps meaning the last seven days.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, fields, replace
from datetime import datetime
from typing import Any

from monitor.filters import (
    FilterError,
    FilterRequest,
    MatchFilter,
    parse_match_filter,
    parse_moment,
    parse_relevance,
)
from monitor.gazetteer import Gazetteer

MAX_VIEW_NAME_CHARS = 128
VIEW_NAME = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_VIEW_NAME_CHARS - 1}}}$")
VIEW_NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit"
REQUEST_FIELDS = {f.name: f for f in fields(FilterRequest)}


def is_view_name(name: str) -> bool:
    """A name usable in a URL (`/views/{name}.atom`) and a config file."""
    return bool(VIEW_NAME.match(name)) and not name.endswith(".atom")


def view_request(data: Mapping[str, Any]) -> FilterRequest:
    """The stored JSON back as a request; FilterError naming the first unusable key."""
    unknown = sorted(set(data) - set(REQUEST_FIELDS))
    if unknown:
        raise FilterError(unknown[0], "not a filter of the inbox")
    for key, value in data.items():
        if value is not None and not is_of_type(value, REQUEST_FIELDS[key].type):
            raise FilterError(key, f"{value!r} has the wrong type")
    return FilterRequest(**{k: v for k, v in data.items() if v is not None})


def is_of_type(value: Any, annotation: Any) -> bool:
    text = str(annotation)
    if isinstance(value, bool):
        return "bool" in text
    if isinstance(value, int):
        return "int" in text or "float" in text
    if isinstance(value, float):
        return "float" in text
    return isinstance(value, str) and "str" in text


def canonical_view_filter(
    request: FilterRequest, gazetteer: Gazetteer, now: datetime
) -> dict[str, Any]:
    """The JSON to store for `request`: checked like an inbox filter (FilterError otherwise),
    with country, topic and language resolved, and defaults left out."""
    resolved = parse_match_filter(request, gazetteer, now)
    canonical = replace(
        request, country=resolved.country, topic=resolved.topic, language=resolved.language
    )
    default = FilterRequest()
    return {
        key: value
        for key, value in asdict(canonical).items()
        if value != getattr(default, key) and value != ""
    }


def view_match_filter(data: Mapping[str, Any], now: datetime) -> MatchFilter:
    """The filter storage runs for a stored view, relative times taken back from `now`."""
    request = view_request(data)
    return MatchFilter(
        since=parse_moment(request.since, now, "since"),
        until=parse_moment(request.until, now, "until"),
        min_score=request.min_score,
        relevant=parse_relevance(request.include_all, request.relevant),
        country=request.country.upper() if request.country else None,
        topic=request.topic or None,
        feed=request.feed or None,
        story=request.story,
        text=request.text or None,
        language=request.language or None,
    )


QUERY_NAMES = {"language": "lang", "text": "q", "include_all": "all"}  # as GET /matches names them


def view_query(data: Mapping[str, Any]) -> dict[str, str]:
    """A stored view as the query parameters of `GET /matches` (and the inbox page)."""
    return {
        QUERY_NAMES.get(key, key): str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in data.items()
        if value is not None
    }
