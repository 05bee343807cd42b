"""Semantic search written once (monitor/search.py) and the query count of the read paths, on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from monitor.embed import Vectors
from monitor.filters import MatchFilter
from monitor.search import search_matches
from monitor.storage.queries import list_matches_page
from monitor.tagging import Tagger
from tests.fakes import BagOfWordsEmbedder
from tests.query_support import CORPUS, store_corpus

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
RELEVANT_ONLY = MatchFilter(relevant=True)
EVERY_MATCH = MatchFilter()


@pytest.fixture
def stored(sessions: sessionmaker[Session], tagger: Tagger) -> sessionmaker[Session]:
    store_corpus(sessions, tagger, NOW)
    return sessions


def engine_of(sessions: sessionmaker[Session]) -> Engine:
    engine: Engine = sessions.kw["bind"]
    return engine


@contextmanager
def counted_statements(sessions: sessionmaker[Session]) -> Iterator[list[str]]:
    """Every SELECT sent while the block runs (BEGIN and the like are left out)."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = engine_of(sessions)
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


class ConnectionWatchingEmbedder(BagOfWordsEmbedder):
    """The fake embedder, noting how many connections were checked out while it ran."""

    def __init__(self, checked_out: Callable[[], int]) -> None:
        super().__init__()
        self.checked_out = checked_out
        self.seen: list[int] = []

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.seen.append(self.checked_out())
        return super().embed(texts)


class TestSearch:
    def test_nearest_first_with_similarity(self, stored: sessionmaker[Session]) -> None:
        """The closest match comes first, carrying the full record and its similarity."""
        found = search_matches(
            stored, BagOfWordsEmbedder(), "Lavrov in Havana", EVERY_MATCH, 3, 0.0
        )
        assert found[0]["title"] == CORPUS[1][0]
        assert {"id", "url", "countries", "reasons", "feed"} <= set(found[0])
        similarities = [item["similarity"] for item in found]
        assert similarities == sorted(similarities, reverse=True) and len(found) == 3

    def test_weak_results_are_hidden(self, stored: sessionmaker[Session]) -> None:
        """Nothing below min_similarity is returned, even when the limit leaves room."""
        found = search_matches(
            stored, BagOfWordsEmbedder(), "Lavrov in Havana", EVERY_MATCH, 10, 0.3
        )
        assert found and all(item["similarity"] >= 0.3 for item in found)
        assert len(found) < len(CORPUS)
        assert search_matches(stored, BagOfWordsEmbedder(), "zebra", EVERY_MATCH, 10, 0.3) == []

    def test_filter_applies(self, stored: sessionmaker[Session]) -> None:
        """Relevant-only search leaves the snow story out; the unfiltered one finds it."""
        question = "snow closes schools in Ontario"
        everything = search_matches(stored, BagOfWordsEmbedder(), question, EVERY_MATCH, 1, 0.0)
        relevant = search_matches(stored, BagOfWordsEmbedder(), question, RELEVANT_ONLY, 10, 0.0)
        assert everything[0]["title"] == CORPUS[2][0]
        assert CORPUS[2][0] not in {item["title"] for item in relevant}

    def test_question_is_embedded_before_a_session_opens(
        self, stored: sessionmaker[Session]
    ) -> None:
        """The model runs while no database connection is held, and runs once."""
        pool = engine_of(stored).pool
        embedder = ConnectionWatchingEmbedder(pool.checkedout)  # type: ignore[attr-defined]
        search_matches(stored, embedder, "Lavrov in Havana", EVERY_MATCH, 5, 0.0)
        assert embedder.seen == [0]


class TestStatementCounts:
    @pytest.fixture
    def grown(self, sessions: sessionmaker[Session], tagger: Tagger) -> Callable[[int], None]:
        """Store the corpus until it is there `copies` times."""
        stored = 0

        def grow(copies: int) -> None:
            nonlocal stored
            store_corpus(sessions, tagger, NOW, range(stored, copies))
            stored = copies

        return grow

    def test_search_statements_do_not_grow_with_rows(
        self, sessions: sessionmaker[Session], grown: Callable[[int], None]
    ) -> None:
        """A search sends as many queries for 6 results as for 12 (vectors, then records)."""
        counts = []
        for copies, limit in ((1, 6), (2, 12)):
            grown(copies)
            with counted_statements(sessions) as statements:
                found = search_matches(
                    sessions, BagOfWordsEmbedder(), "Russia", EVERY_MATCH, limit, -1.0
                )
            assert len(found) == limit
            counts.append(len(statements))
        assert counts[0] == counts[1] == 2

    def test_page_statements_do_not_grow_with_rows(
        self, sessions: sessionmaker[Session], grown: Callable[[int], None]
    ) -> None:
        """A page of matches is one query, whatever its length."""
        grown(2)
        for limit in (3, 12):
            with counted_statements(sessions) as statements, sessions() as session:
                assert len(list_matches_page(session, EVERY_MATCH, limit)) == limit
            assert len(statements) == 1
