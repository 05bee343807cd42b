"""Stored vectors read in bulk and the index kept up to date from the database by its
watermark, on SQLite and PostgreSQL (two workers on one PostgreSQL included)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage import migrate
from monitor.storage.engine import open_engine
from monitor.storage.feeds import add_feeds
from monitor.storage.schema import Article, Match, Story
from monitor.storage.stories import lock_story_assignment
from monitor.storage.vectors import decode_blobs, select_groups, stream_vectors
from monitor.values import FeedSpec
from monitor.vectors import encode_vector, normalise_rows
from monitor.window_index import WindowIndex, load_index
from tests.conftest import SettingsFactory

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MODEL = "fake-model"
DIM = 24


def unit_vectors(count: int, seed: int) -> np.ndarray:
    return normalise_rows(np.random.default_rng(seed).standard_normal((count, DIM)))


def store(
    session: Session,
    article_ids: Sequence[int],
    vectors: np.ndarray,
    seen: datetime = NOW,
    story: int = 1,
    model: str = MODEL,
) -> None:
    """What the processing stage stores: articles with vectors and a story, then their matches
    (whose ids the database hands out in commit order)."""
    if session.get(Story, story) is None:
        session.execute(
            insert(Story),
            [
                {
                    "id": story,
                    "title": "",
                    "first_seen_at": seen,
                    "last_seen_at": seen,
                    "article_count": 0,
                    "outlets_count": 0,
                    "languages": "",
                }
            ],
        )
    session.execute(
        insert(Article),
        [
            {
                "id": i,
                "feed_id": 1,
                "guid": f"g{i}",
                "url": f"https://o.example/{i}",
                "title": f"article {i}",
                "summary": "",
                "language": "en",
                "authors": "",
                "published_at": seen,
                "first_seen_at": seen,
                "processed_at": seen,
                "story_id": story,
                "embedding": encode_vector(vector),
                "embedding_model": model,
            }
            for i, vector in zip(article_ids, vectors, strict=True)
        ],
    )
    session.execute(
        insert(Match),
        [
            {
                "article_id": i,
                "story_id": story,
                "relevant": True,
                "score": 0.5,
                "countries": "[]",
                "topics": "[]",
                "reasons": "{}",
                "scorer_version": "test",
                "created_at": seen,
                "updated_at": seen,
            }
            for i in article_ids
        ],
    )


@pytest.fixture
def feed_sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        add_feeds(session, [FeedSpec("https://o.example/rss", "Outlet")], 900, NOW)
    return sessions


class TestBulkRead:
    def test_chunks_decode_to_the_stored_vectors(
        self, feed_sessions: sessionmaker[Session]
    ) -> None:
        """Streamed chunks hold every stored vector of the model, as float16 round-trips them,
        with their ids, stories and times; another model's vectors are left out."""
        vectors = unit_vectors(250, 1)
        with feed_sessions.begin() as session:
            store(session, range(1, 251), vectors)
            store(session, [900], unit_vectors(1, 2), model="other")
        with feed_sessions() as session:
            chunks = list(stream_vectors(session, MODEL, None, 0, chunk_rows=100))
        assert [len(c) for c in chunks] == [100, 100, 50]
        ids = np.concatenate([c.article_ids for c in chunks])
        assert ids.tolist() == list(range(1, 251))
        decoded = np.vstack([c.vectors for c in chunks])
        assert np.allclose(decoded, vectors.astype(np.float16).astype(np.float32))
        assert {int(g) for c in chunks for g in c.groups} == {1}
        assert chunks[0].seen_at[0] == NOW.timestamp()

    def test_watermark_and_since_narrow_the_read(
        self, feed_sessions: sessionmaker[Session]
    ) -> None:
        """Only rows after the watermark and first seen since `since` are read."""
        with feed_sessions.begin() as session:
            store(session, [1, 2], unit_vectors(2, 1), seen=NOW - timedelta(days=9))
            store(session, [3, 4], unit_vectors(2, 2))
        with feed_sessions() as session:
            recent = list(stream_vectors(session, MODEL, NOW - timedelta(days=7), 0))
            first = list(stream_vectors(session, MODEL, None, 0))
            after = list(stream_vectors(session, MODEL, None, first[-1].watermark - 2))
        assert np.concatenate([c.article_ids for c in recent]).tolist() == [3, 4]
        assert np.concatenate([c.article_ids for c in after]).tolist() == [3, 4]

    def test_unequal_blobs_are_refused(self) -> None:
        """Blobs of different sizes are never decoded into a wrong matrix."""
        with pytest.raises(ValueError, match="differ"):
            decode_blobs([b"\x00\x00" * 4, b"\x00\x00" * 5])

    def test_current_groups_come_from_the_database(
        self, feed_sessions: sessionmaker[Session]
    ) -> None:
        """select_groups answers an article's story as stored now."""
        with feed_sessions.begin() as session:
            store(session, [1, 2], unit_vectors(2, 1))
            store(session, [3], unit_vectors(1, 2), story=2)
        with feed_sessions() as session:
            assert select_groups(session, [1, 3, 99]) == {1: 1, 3: 2}


class TestRefresh:
    def test_refresh_adds_only_what_is_new(self, feed_sessions: sessionmaker[Session]) -> None:
        """A refresh after the first adds just the rows stored since, and a search finds them."""
        first, later = unit_vectors(30, 1), unit_vectors(5, 2)
        index = WindowIndex(MODEL, 0)
        with feed_sessions.begin() as session:
            store(session, range(1, 31), first)
        with feed_sessions() as session:
            assert index.refresh_from(session, None) == 30
            assert index.refresh_from(session, None) == 0
        with feed_sessions.begin() as session:
            store(session, range(31, 36), later, story=2)
        with feed_sessions() as session:
            assert index.refresh_from(session, None) == 5
        found = index.nearest(later, 1)
        assert found.article_ids[:, 0].tolist() == [31, 32, 33, 34, 35]
        assert set(found.groups[:, 0].tolist()) == {2}
        assert len(index) == 35

    def test_rebuild_equals_a_fresh_load(self, feed_sessions: sessionmaker[Session]) -> None:
        """rebuild forgets hand-added rows and reads the window from the database again."""
        vectors = unit_vectors(20, 1)
        with feed_sessions.begin() as session:
            store(session, range(1, 21), vectors, seen=NOW - timedelta(days=10))
            store(session, range(21, 41), unit_vectors(20, 3))
        index = WindowIndex(MODEL, 0)
        with feed_sessions() as session:
            index.refresh_from(session, None)
            index.rebuild(session, NOW - timedelta(days=7))
        assert len(index) == 20
        assert int(index.nearest(vectors[:1], 1).article_ids[0, 0]) != 1

    def test_restart_from_a_saved_index_reads_only_the_rest(
        self, feed_sessions: sessionmaker[Session], tmp_path: Path
    ) -> None:
        """A saved index, loaded again, reads just what was stored after its watermark."""
        index = WindowIndex(MODEL, 0)
        with feed_sessions.begin() as session:
            store(session, range(1, 11), unit_vectors(10, 1))
        with feed_sessions() as session:
            index.refresh_from(session, None)
        index.save(tmp_path / "index")
        with feed_sessions.begin() as session:
            store(session, [11, 12], unit_vectors(2, 2))
        loaded = load_index(tmp_path / "index", MODEL)
        assert loaded is not None
        with feed_sessions() as session:
            assert loaded.refresh_from(session, None) == 2
        assert len(loaded) == 12

    def test_hand_added_rows_are_not_read_twice(self, feed_sessions: sessionmaker[Session]) -> None:
        """An article added by hand and then read by a refresh is indexed once."""
        with feed_sessions.begin() as session:
            store(session, [1, 2], unit_vectors(2, 1))
        index = WindowIndex(MODEL, 0)
        with feed_sessions() as session:
            rows = next(stream_vectors(session, MODEL, None, 0))
            index.add(rows)
            assert index.refresh_from(session, None) == 0
        assert len(index) == 2


@pytest.fixture
def two_workers(
    postgres_url: str, make_settings: SettingsFactory
) -> Iterator[tuple[sessionmaker[Session], sessionmaker[Session]]]:
    """Two processes' worth of engines on one PostgreSQL database."""
    settings = make_settings(database={"url": postgres_url}).database
    engines = [open_engine(settings), open_engine(settings)]
    migrate.upgrade(engines[0])
    makers = [sessionmaker(e, expire_on_commit=False) for e in engines]
    with makers[0].begin() as session:
        add_feeds(session, [FeedSpec("https://o.example/rss", "Outlet")], 900, NOW)
    yield makers[0], makers[1]
    for engine in engines:
        engine.dispose()


@pytest.mark.postgres
class TestTwoWorkers:
    def test_each_finds_what_the_other_stored(
        self, two_workers: tuple[sessionmaker[Session], sessionmaker[Session]]
    ) -> None:
        """Worker B's vectors are candidates in worker A's next batch, and A's (with lower
        article ids, committed later) in B's: the watermark follows commit order, not ids."""
        a_sessions, b_sessions = two_workers
        a_index, b_index = WindowIndex(MODEL, 0), WindowIndex(MODEL, 0)
        b_vectors, a_vectors = unit_vectors(3, 1), unit_vectors(3, 2)
        for sessions, index in ((a_sessions, a_index), (b_sessions, b_index)):
            with sessions.begin() as session:
                lock_story_assignment(session)
                index.refresh_from(session, None)
        with b_sessions.begin() as session:  # B's batch holds the higher article ids …
            lock_story_assignment(session)
            b_index.refresh_from(session, None)
            store(session, [50, 51, 52], b_vectors, story=2)
        with a_sessions.begin() as session:  # … A's next batch sees them under the lock …
            lock_story_assignment(session)
            a_index.refresh_from(session, None)
            found = a_index.nearest(b_vectors, 1)
            assert found.article_ids[:, 0].tolist() == [50, 51, 52]
            store(session, [10, 11, 12], a_vectors, story=3)
        with b_sessions.begin() as session:  # … and B's next batch sees A's lower ids.
            lock_story_assignment(session)
            b_index.refresh_from(session, None)
            found = b_index.nearest(a_vectors, 1)
            assert found.article_ids[:, 0].tolist() == [10, 11, 12]
            assert set(found.groups[:, 0].tolist()) == {3}

    def test_a_reassignment_by_the_other_worker_is_read_back(
        self, two_workers: tuple[sessionmaker[Session], sessionmaker[Session]]
    ) -> None:
        """An index's group may be stale after another worker moves an article; select_groups
        gives the stored one."""
        a_sessions, b_sessions = two_workers
        with b_sessions.begin() as session:
            store(session, [5], unit_vectors(1, 1), story=2)
        index = WindowIndex(MODEL, 0)
        with a_sessions() as session:
            index.refresh_from(session, None)
        with b_sessions.begin() as session:
            store(session, [6], unit_vectors(1, 2), story=7)
            session.execute(update(Article).where(Article.id == 5).values(story_id=7))
        with a_sessions() as session:
            assert index.nearest(unit_vectors(1, 1), 1).groups[0, 0] == 2
            assert select_groups(session, [5]) == {5: 7}
