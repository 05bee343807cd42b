"""Search through the per-process index equals an exact scan of every stored vector, whichever
way the filter is applied, and finds what was stored after the previous question."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import cast

import numpy as np
import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from monitor import search
from monitor.config import RetentionSettings, Settings
from monitor.cycle import prune_expired
from monitor.filters import MatchFilter
from monitor.runtime import Runtime
from monitor.search import forget_pruned, search_index_for, search_matches
from monitor.storage.maintenance import prune
from monitor.storage.queries import filtered_article_ids
from monitor.storage.schema import Article
from monitor.storage.vectors import stream_vectors
from monitor.tagging import Tagger
from tests.fakes import BagOfWordsEmbedder
from tests.query_support import CORPUS, store_corpus

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
QUESTIONS = ("Lavrov in Havana", "Russia Venezuela military agreement", "snow in Ontario")
FILTERS = (MatchFilter(), MatchFilter(relevant=True), MatchFilter(language="es"))


def exact_scan(
    sessions: sessionmaker[Session], question: str, f: MatchFilter, limit: int, floor: float
) -> list[tuple[int, float]]:
    """The reference: every stored vector that passes the filter, scored at once."""
    embedder = BagOfWordsEmbedder()
    query = embedder.embed([question])[0]
    with sessions() as session:
        chunks = list(stream_vectors(session, embedder.model_id, None, 0))
        allowed = filtered_article_ids(session, f)
    ids = np.concatenate([c.article_ids for c in chunks])
    similarity = np.vstack([c.vectors for c in chunks]) @ query
    ranked = sorted(
        ((int(i), round(float(s), 4)) for i, s in zip(ids, similarity, strict=True)),
        key=lambda pair: -pair[1],
    )
    return [(i, s) for i, s in ranked if i in allowed and s >= floor][:limit]


def found(sessions: sessionmaker[Session], question: str, f: MatchFilter, limit: int, floor: float):
    items = search_matches(sessions, BagOfWordsEmbedder(), question, f, limit, floor)
    return [(item["article_id"], item["similarity"]) for item in items]


def same_ranking(left: list[tuple[int, float]], right: list[tuple[int, float]]) -> bool:
    """Equal similarities in order and the same articles (ties may come in either order)."""
    return [s for _, s in left] == [s for _, s in right] and {i for i, _ in left} == {
        i for i, _ in right
    }


@pytest.fixture
def stored(sessions: sessionmaker[Session], tagger: Tagger) -> sessionmaker[Session]:
    store_corpus(sessions, tagger, NOW, range(3))
    return sessions


class TestEqualToExactScan:
    @pytest.mark.parametrize("f", FILTERS)
    def test_results_equal_the_exact_scan(
        self, stored: sessionmaker[Session], f: MatchFilter
    ) -> None:
        """For each question and filter, search returns what scoring every vector would."""
        for question in QUESTIONS:
            expected = exact_scan(stored, question, f, 5, 0.0)
            assert expected
            assert same_ranking(found(stored, question, f, 5, 0.0), expected)

    def test_too_few_after_filtering_falls_back_to_the_filter_first(
        self, stored: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With an over-fetch of one candidate, a filter that rejects it still gets the exact
        answer (the filter's ids are read and ranked instead)."""
        monkeypatch.setattr(search, "OVERFETCH_FACTOR", 1)
        monkeypatch.setattr(search, "MIN_CANDIDATES", 1)
        spanish, question = MatchFilter(language="es"), "Russia and Venezuela sign in Caracas (1)"
        expected = exact_scan(stored, question, spanish, 2, -1.0)
        overall = exact_scan(stored, question, MatchFilter(), 2, -1.0)
        assert len(expected) == 2 and not {i for i, _ in expected} & {i for i, _ in overall}
        assert same_ranking(found(stored, question, spanish, 2, -1.0), expected)

    def test_selective_filter_ranks_only_its_articles(self, stored: sessionmaker[Session]) -> None:
        """A story filter is applied before the ranking and equals the exact scan."""
        nearest = search_matches(stored, BagOfWordsEmbedder(), "Caracas", MatchFilter(), 1, -1.0)
        f = MatchFilter(story=nearest[0]["story_id"])
        expected = exact_scan(stored, "Lavrov in Havana", f, 10, -1.0)
        assert expected
        assert same_ranking(found(stored, "Lavrov in Havana", f, 10, -1.0), expected)


class TestKeptUpToDate:
    def test_an_article_stored_after_a_search_is_found_by_the_next(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """The index is refreshed by its watermark before each question."""
        store_corpus(sessions, tagger, NOW, range(1))
        before = found(sessions, "Lavrov in Havana", MatchFilter(), 50, -1.0)
        store_corpus(sessions, tagger, NOW, range(1, 2))
        after = found(sessions, "Lavrov in Havana", MatchFilter(), 50, -1.0)
        assert len(before) == len(CORPUS) and len(after) == 2 * len(CORPUS)
        assert {i for i, _ in before} < {i for i, _ in after}
        index = search_index_for(sessions, BagOfWordsEmbedder().model_id).index
        assert len(index) == 2 * len(CORPUS)

    def test_articles_deleted_since_the_index_read_them_do_not_hide_live_ones(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """Retention deletes the 110 articles nearest a question after this process's index
        read them (240 stored); with no filter at all, the next search still lists live ones."""
        store_corpus(sessions, tagger, NOW, range(40))
        embedder = BagOfWordsEmbedder()
        question = CORPUS[1][0]
        everything = search_matches(sessions, embedder, question, MatchFilter(), 500, -1.0)
        doomed = [record["article_id"] for record in everything[:110]]
        with sessions.begin() as session:
            session.execute(delete(Article).where(Article.id.in_(doomed)))
        after = search_matches(sessions, embedder, question, MatchFilter(), 10, -1.0)
        assert len(after) == 10
        assert not {record["article_id"] for record in after} & set(doomed)

    def test_retention_prunes_leave_the_index_too(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """After retention clears the vectors of articles older than `vectors_days`, the
        service tells this process's index, which then holds only what the database still
        has, and search finds exactly what it finds in a fresh process."""
        old = NOW - timedelta(days=90)
        store_corpus(sessions, tagger, old, range(1))
        store_corpus(sessions, tagger, NOW, range(1, 2))
        question = "Lavrov in Havana"
        assert len(found(sessions, question, MatchFilter(), 50, -1.0)) == 2 * len(CORPUS)
        retention = RetentionSettings(vectors_days=60)
        with sessions.begin() as session:
            assert prune(session, retention, NOW).vectors == len(CORPUS)
        index = search_index_for(sessions, BagOfWordsEmbedder().model_id).index
        assert len(index) == 2 * len(CORPUS)  # not told yet
        cut = NOW - timedelta(days=retention.vectors_days)
        assert forget_pruned(sessions, cut) == len(CORPUS)
        assert len(index) == len(CORPUS)
        assert forget_pruned(sessions, cut) == 0
        after = found(sessions, question, MatchFilter(), 50, -1.0)
        assert same_ranking(after, exact_scan(sessions, question, MatchFilter(), 50, -1.0))
        assert len(after) == len(CORPUS)

    def test_the_service_prune_tells_the_index(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """The service's prune job (`prune_expired`) clears old vectors and, in the same
        step, this process's search index."""
        store_corpus(sessions, tagger, NOW - timedelta(days=90), range(1))
        store_corpus(sessions, tagger, NOW, range(1, 2))
        found(sessions, "Lavrov in Havana", MatchFilter(), 50, -1.0)
        index = search_index_for(sessions, BagOfWordsEmbedder().model_id).index
        assert len(index) == 2 * len(CORPUS)
        settings = Settings(retention=RetentionSettings(vectors_days=60))
        runtime = SimpleNamespace(sessions=sessions, settings=settings, clock=lambda: NOW)
        pruned = asyncio.run(prune_expired(cast(Runtime, runtime)))
        assert pruned.vectors == len(CORPUS) and len(index) == len(CORPUS)
