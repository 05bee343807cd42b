"""Semantic search over stored matches, written once for the API, the CLI and the pages.

The question is embedded before any session opens (the model can take a while and must not
hold a connection). Candidates come from an in-memory index over every stored vector of the
embedder's model (monitor.window_index), kept per process and per database and brought up to
date by its watermark before each question, so anything retained can be found. The filters
run after retrieval on an over-fetched candidate list, in the one query that loads the
records; when too few pass (or the filter is selective by nature: a story, a feed, a phrase),
the filter's article ids are read first and the index ranks only those.

Above `approximate_above` vectors the index keeps only 4-bit codes (about 56 bytes an article,
so it fits beside the processor's window index in one process): it then over-fetches by the
codes' estimates, one light query reads the candidates' stored vectors, the similarities are
computed exactly, and the floor, the order, the filter (in the records query) and the limit
apply to those.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import DEFAULT_APPROXIMATE_ABOVE
from monitor.embed import Embedder
from monitor.filters import MatchFilter
from monitor.storage.queries import filtered_article_ids
from monitor.storage.vectors import decode_blobs, matches_of_articles, vectors_of_articles
from monitor.vectors import Vectors
from monitor.window_index import NO_ARTICLE, Neighbours, WindowIndex

SIMILARITY_DIGITS = 4
OVERFETCH_FACTOR = 10  # candidates read per wanted result before filtering …
MIN_CANDIDATES = 100  # … and at least this many
# 4-bit codes of the search index once approximate: 64 (32 bytes) found every exact top-20
# article among its 200 best at 1M (32 codes, the window index's, missed 1 in 25).
SEARCH_SUBQUANTIZERS = 64


@dataclass
class SearchIndex:
    """One model's index for one database, with the lock its refresh and searches take."""

    index: WindowIndex
    lock: threading.Lock = field(default_factory=threading.Lock)


_indexes: weakref.WeakKeyDictionary[sessionmaker[Session], dict[str, SearchIndex]] = (
    weakref.WeakKeyDictionary()
)
_indexes_lock = threading.Lock()


def search_index_for(
    sessions: sessionmaker[Session],
    model_id: str,
    approximate_above: int = DEFAULT_APPROXIMATE_ABOVE,
) -> SearchIndex:
    """This process's search index of `model_id` over `sessions`' database (made empty on
    first use, approximate above `approximate_above` vectors, keeping only codes then; the
    first search fills it)."""
    with _indexes_lock:
        per_model = _indexes.setdefault(sessions, {})
        if model_id not in per_model:
            index = WindowIndex(
                model_id,
                0,
                approximate_above=approximate_above,
                keep_vectors=False,
                subquantizers=SEARCH_SUBQUANTIZERS,
            )
            per_model[model_id] = SearchIndex(index)
        return per_model[model_id]


def forget_pruned(sessions: sessionmaker[Session], before: datetime) -> int:
    """Drop from this process's search indexes over `sessions` the articles first seen before
    `before`, which retention has just pruned (or cleared the vectors of): a long-running
    service would otherwise keep them in memory, and as candidates, forever. Returns how many
    rows were dropped."""
    with _indexes_lock:
        entries = list(_indexes.get(sessions, {}).values())
    dropped = 0
    for entry in entries:
        with entry.lock:
            dropped += entry.index.expire(before)
    return dropped


def search_matches(
    sessions: sessionmaker[Session],
    embedder: Embedder,
    question: str,
    match_filter: MatchFilter,
    limit: int,
    min_similarity: float,
    approximate_above: int = DEFAULT_APPROXIMATE_ABOVE,
) -> list[dict[str, Any]]:
    """Match records nearest in meaning to `question`, best first, each with its
    `similarity` (cosine); none below `min_similarity`, at most `limit`."""
    query = np.asarray(embedder.embed([question]), dtype=np.float32)[:1]
    entry = search_index_for(sessions, embedder.model_id, approximate_above)
    with sessions() as session:
        with entry.lock:
            entry.index.refresh_from(session, None)
        if is_selective(match_filter):
            return prefiltered(session, entry, query, match_filter, limit, min_similarity)
        wanted = max(limit * OVERFETCH_FACTOR, MIN_CANDIDATES)
        with entry.lock:
            found = entry.index.nearest(query, wanted)
            exact = entry.index.scores_are_exact
        # The codes' estimates run well below the cosines (by 0.4 near 0.6 at 512 dimensions):
        # they only rank, the floor applies once the candidates are re-scored.
        candidates = above(found, min_similarity if exact else -np.inf)
        results, rejected = ranked_records(
            session, match_filter, query, candidates, limit, min_similarity, exact
        )
        # Too few left after the filter while articles were left unranked: rank the filter's
        # ids. (The codes' fast scan also leaves out what it estimates at or under 0; and
        # articles pruned since the index read them still fill candidates, with no filter too.)
        if exact:
            short = len(results) < limit and len(candidates) == wanted
        else:
            unranked = len(candidates) < len(entry.index)
            short = len(results) < limit and unranked and (rejected or min_similarity <= 0)
        if short:
            return prefiltered(session, entry, query, match_filter, limit, min_similarity)
    return results


def is_selective(match_filter: MatchFilter) -> bool:
    """Filters that usually leave few matches: better applied before the ranking."""
    f = match_filter
    return any(value is not None for value in (f.story, f.feed, f.text, f.article_ids))


def prefiltered(
    session: Session,
    entry: SearchIndex,
    query: Vectors,
    match_filter: MatchFilter,
    limit: int,
    min_similarity: float,
) -> list[dict[str, Any]]:
    """Rank only the articles that pass the filter (their ids read first, in one query)."""
    allowed = np.fromiter(filtered_article_ids(session, match_filter), dtype=np.int64)
    if not len(allowed):
        return []
    with entry.lock:
        exact = entry.index.scores_are_exact
        wanted = limit if exact else max(limit * OVERFETCH_FACTOR, MIN_CANDIDATES)
        found = entry.index.nearest_where(query, wanted, None, allowed)
    floor = min_similarity if exact else -np.inf
    results, _rejected = ranked_records(
        session, match_filter, query, above(found, floor), limit, min_similarity, exact
    )
    return results


def above(found: Neighbours, min_similarity: float) -> list[tuple[int, float]]:
    """The first query's (article id, similarity) pairs at or above the floor, best first."""
    return [
        (int(article_id), float(similarity))
        for article_id, similarity in zip(found.article_ids[0], found.similarities[0], strict=True)
        if article_id != NO_ARTICLE and similarity >= min_similarity
    ]


def ranked_records(
    session: Session,
    match_filter: MatchFilter,
    query: Vectors,
    candidates: list[tuple[int, float]],
    limit: int,
    min_similarity: float,
    exact: bool = True,
) -> tuple[list[dict[str, Any]], bool]:
    """The records of the candidates that pass the filter, best first: in the candidates'
    order when their similarities are `exact`, else re-scored from their stored vectors and
    cut at the floor first; and whether the filter rejected any of them."""
    ids = [article_id for article_id, _ in candidates]
    if exact:
        ranked = candidates
        records = matches_of_articles(session, match_filter, ids)
    else:
        ranked = rescored(query, vectors_of_articles(session, ids), min_similarity)
        if match_filter == MatchFilter():  # every match passes: the best few suffice
            ranked = ranked[: 2 * limit]
        records = matches_of_articles(session, match_filter, [i for i, _ in ranked])
    passed = [(i, similarity) for i, similarity in ranked if i in records]
    results = [
        {**records[article_id], "similarity": round(similarity, SIMILARITY_DIGITS)}
        for article_id, similarity in passed[:limit]
    ]
    return results, len(passed) < len(ranked)


def rescored(
    query: Vectors, blobs: dict[int, bytes | None], min_similarity: float
) -> list[tuple[int, float]]:
    """Exact cosines of the query with these stored vectors, at or above the floor, best
    first (an article whose vector was cleared, or is of another size, is left out)."""
    size = 2 * query.shape[1]  # float16 bytes
    kept = [(i, blob) for i, blob in blobs.items() if blob is not None and len(blob) == size]
    if not kept:
        return []
    similarities = decode_blobs([blob for _, blob in kept]) @ query[0]
    ranked = sorted(
        ((i, float(s)) for (i, _), s in zip(kept, similarities, strict=True)),
        key=lambda pair: -pair[1],
    )
    return [(i, s) for i, s in ranked if s >= min_similarity]
