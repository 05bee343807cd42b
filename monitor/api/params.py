"""Path and query parameters shared by several routers, each with its description."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import HTTPException, Path, Query

from monitor.api.filters import MAX_ID

PageLimit = Annotated[
    int | None, Query(ge=1, le=1000, description="items per page (default `[api] page_size`)")
]
PageCursor = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="the `next_cursor` of the previous page"),
]
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID, description="the numeric id")]


def page_of(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """A page with the cursor of the next one (None on the last page)."""
    return {"items": items, "next_cursor": items[-1]["id"] if len(items) == limit else None}


T = TypeVar("T")


def found(value: T | None, what: str) -> T:
    if value is None:
        raise HTTPException(404, f"no such {what}")
    return value
