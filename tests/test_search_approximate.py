"""Search over an index that turned approximate (codes only, candidates re-scored from the
stored vectors read with the records) equals an exact scan of every stored vector."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitor.filters import MatchFilter
from monitor.search import search_index_for, search_matches
from monitor.tagging import Tagger
from tests.fakes import BagOfWordsEmbedder
from tests.query_support import store_corpus
from tests.test_search_index import QUESTIONS, exact_scan, same_ranking

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
APPROXIMATE_ABOVE = 12  # the corpus stores 18 vectors; 16 rows at least train the codes
FILTERS = (MatchFilter(), MatchFilter(relevant=True), MatchFilter(language="es"))


def found(sessions: sessionmaker[Session], question: str, f: MatchFilter, limit: int, floor: float):
    items = search_matches(
        sessions, BagOfWordsEmbedder(), question, f, limit, floor, APPROXIMATE_ABOVE
    )
    return [(item["article_id"], item["similarity"]) for item in items]


@pytest.fixture
def stored(sessions: sessionmaker[Session], tagger: Tagger) -> sessionmaker[Session]:
    store_corpus(sessions, tagger, NOW, range(3))
    return sessions


class TestApproximateSearch:
    def test_index_keeps_only_codes(self, stored: sessionmaker[Session]) -> None:
        """Past `approximate_above` articles the search index is approximate, codes only."""
        found(stored, "Lavrov in Havana", MatchFilter(), 5, 0.0)
        index = search_index_for(stored, BagOfWordsEmbedder().model_id).index
        assert len(index) > APPROXIMATE_ABOVE
        assert index.mode == "approximate" and not index.scores_are_exact

    @pytest.mark.parametrize("f", FILTERS)
    def test_results_equal_the_exact_scan(
        self, stored: sessionmaker[Session], f: MatchFilter
    ) -> None:
        """Each question and filter gets the exact scan's articles and cosines, best first."""
        for question in QUESTIONS:
            expected = exact_scan(stored, question, f, 5, 0.0)
            assert expected
            assert same_ranking(found(stored, question, f, 5, 0.0), expected)

    def test_floor_applies_to_the_exact_cosines(self, stored: sessionmaker[Session]) -> None:
        """A floor keeps exactly the articles whose exact cosine reaches it."""
        expected = exact_scan(stored, "Russia Venezuela military agreement", MatchFilter(), 50, 0.3)
        got = found(stored, "Russia Venezuela military agreement", MatchFilter(), 50, 0.3)
        assert expected and same_ranking(got, expected)

    def test_selective_filter_ranks_only_its_articles(self, stored: sessionmaker[Session]) -> None:
        """A story filter is applied before the ranking and still equals the exact scan."""
        nearest = found(stored, "Caracas", MatchFilter(), 1, -1.0)
        story = search_matches(
            stored, BagOfWordsEmbedder(), "Caracas", MatchFilter(), 1, -1.0, APPROXIMATE_ABOVE
        )[0]["story_id"]
        f = MatchFilter(story=story)
        expected = exact_scan(stored, "Lavrov in Havana", f, 10, -1.0)
        assert nearest and expected
        assert same_ranking(found(stored, "Lavrov in Havana", f, 10, -1.0), expected)
