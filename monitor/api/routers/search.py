"""Semantic search over the matches."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from monitor.api.auth import bearer_scheme, require_read_access
from monitor.api.context import Context
from monitor.api.filters import SearchScope, clean_text
from monitor.search import search_matches

router = APIRouter(
    dependencies=[Depends(bearer_scheme), Depends(require_read_access)], tags=["search"]
)
Question = Annotated[str, Query(min_length=1, max_length=500, description="the question")]
SearchLimit = Annotated[int, Query(ge=1, le=100, description="at most this many results")]


@router.get("/search", summary="Semantic search")
def search(
    context: Context, scope: SearchScope, q: Question, limit: SearchLimit = 20
) -> dict[str, Any]:
    """The question embedded with the articles' model; the nearest matches under the filters
    first, each with its cosine `similarity`, none below `[search] min_similarity`. 503 when
    this process has no embedding model."""
    if context.search_embedder is None:
        raise HTTPException(503, "semantic search needs the embedding model (not loaded here)")
    clean_text(q, "q")
    items = search_matches(
        context.sessions,
        context.search_embedder(),
        q,
        scope,
        limit,
        context.settings.search.min_similarity,
        context.settings.stories.approximate_above,
    )
    return {"items": items}
