"""Stored vectors read in bulk, for the in-memory window and search indexes.

`articles.embedding` stays what it is: one little-endian float16 blob of a fixed size per row.
A load reads only the columns it needs, joins a chunk's blobs and decodes them with one
`np.frombuffer`, never row by row. Rows are read after a watermark: the id of the article's
match row. Matches are inserted by the processing stage inside the story lock, in the same
transaction that stores the vector, so match ids grow in commit order on both databases and
"match id > watermark" is exactly what was stored since the last read (an article id would
not do: batches of several workers commit out of id order).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.filters import MatchFilter
from monitor.storage.queries import filtered, match_record, matches_query
from monitor.storage.schema import Article, Match
from monitor.vectors import Vectors

LOAD_CHUNK_ROWS = 50_000
StoredVectors = npt.NDArray[np.float16] | npt.NDArray[np.float32]
NO_GROUP = -1  # an article without a story (yet)


@dataclass(frozen=True, slots=True)
class VectorRows:
    """Stored vectors with their article ids, groups (story ids), first-seen times (POSIX
    seconds) and the highest match id read (the watermark to read after next time)."""

    article_ids: npt.NDArray[np.int64]
    groups: npt.NDArray[np.int64]
    seen_at: npt.NDArray[np.float64]
    vectors: StoredVectors  # float16 as read (the stored precision), float32 when made here
    watermark: int

    def __len__(self) -> int:
        return len(self.article_ids)


def decode_blobs(blobs: Sequence[bytes]) -> Vectors:
    """Equal-sized float16 blobs as one float32 matrix: one join, one decode."""
    return decode_blobs_f16(blobs).astype(np.float32)


def decode_blobs_f16(blobs: Sequence[bytes]) -> npt.NDArray[np.float16]:
    """Equal-sized float16 blobs as one float16 matrix (one join; no copy after it): the
    window index widens them where it needs float32, the approximate mode keeps them so."""
    if not blobs:
        return np.zeros((0, 0), dtype=np.float16)
    joined = b"".join(blobs)
    if len(joined) != len(blobs[0]) * len(blobs):
        raise ValueError("stored vectors of one model differ in size")
    matrix: npt.NDArray[np.float16] = np.frombuffer(joined, dtype="<f2").reshape(len(blobs), -1)
    return matrix


def stream_vectors(
    session: Session,
    model_id: str,
    since: datetime | None,
    after_watermark: int,
    chunk_rows: int = LOAD_CHUNK_ROWS,
) -> Iterator[VectorRows]:
    """Every stored vector of `model_id` whose match id is above `after_watermark` (first seen
    since `since`), in match-id order, in chunks of at most `chunk_rows`, so a million vectors
    never sit in memory twice. Each chunk is one keyset query (match id > the last one read):
    a server-side cursor was measured to pick a plan 500× slower on PostgreSQL."""
    watermark = after_watermark
    while True:
        rows = read_vector_rows(session, model_id, since, watermark, chunk_rows)
        if not rows:
            return
        chunk = rows_to_vectors(rows)
        watermark = chunk.watermark
        yield chunk
        if len(rows) < chunk_rows:
            return


def read_vector_rows(
    session: Session, model_id: str, since: datetime | None, after_watermark: int, limit: int
) -> Sequence[Any]:
    query = (
        select(Article.id, Article.story_id, Article.first_seen_at, Article.embedding, Match.id)
        .join(Match, Match.article_id == Article.id)
        .where(
            Match.id > after_watermark,
            Article.embedding_model == model_id,
            Article.embedding.is_not(None),
        )
        .order_by(Match.id)
        .limit(limit)
    )
    if since is not None:
        query = query.where(Article.first_seen_at >= since)
    # On the connection, not the session: plain rows, without the ORM's per-row loading.
    return session.connection().execute(query).all()


def rows_to_vectors(rows: Sequence[Any]) -> VectorRows:
    """Rows of (article id, story id, first seen, vector blob, match id) as arrays."""
    count = len(rows)
    ids, groups, seen, blobs, match_ids = zip(*rows, strict=True)
    return VectorRows(
        article_ids=np.fromiter(ids, dtype=np.int64, count=count),
        groups=np.fromiter(
            (NO_GROUP if g is None else g for g in groups), dtype=np.int64, count=count
        ),
        seen_at=np.fromiter((s.timestamp() for s in seen), dtype=np.float64, count=count),
        vectors=decode_blobs_f16([bytes(b) for b in blobs]),
        watermark=int(match_ids[-1]),
    )


def select_groups(session: Session, article_ids: Sequence[int]) -> dict[int, int]:
    """The current story of each article (the database's word, for candidates an index holds
    with a group another worker may since have changed)."""
    if not article_ids:
        return {}
    rows = session.execute(
        select(Article.id, Article.story_id).where(Article.id.in_(list(article_ids)))
    )
    return {int(i): NO_GROUP if g is None else int(g) for i, g in rows}


def matches_of_articles(
    session: Session, f: MatchFilter, article_ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    """The records of the matches of `article_ids` that pass `f`, by article id, in one query
    (how search loads what the index found)."""
    if not article_ids:
        return {}
    wanted = list(article_ids)
    if f.article_ids is not None:
        narrower = set(f.article_ids)
        wanted = [i for i in wanted if i in narrower]
    query = filtered(matches_query(), replace(f, article_ids=wanted))
    return {row[1].id: match_record(*row) for row in session.execute(query)}


def vectors_of_articles(session: Session, article_ids: Sequence[int]) -> dict[int, bytes | None]:
    """The stored vector blob of each article, in one light query (how search re-scores the
    candidates an index holding only codes found)."""
    if not article_ids:
        return {}
    query = select(Article.id, Article.embedding).where(Article.id.in_(list(article_ids)))
    return {int(i): blob for i, blob in session.connection().execute(query)}
