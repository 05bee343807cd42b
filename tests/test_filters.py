"""Filters parsed once (monitor/filters.py) and served by the API's query dependency
(monitor/api/filters.py): the same value means the same thing in both faces."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from monitor.api.context import ApiContext
from monitor.api.filters import MatchQuery, SearchScope
from monitor.config import Settings
from monitor.filters import FilterError, FilterRequest, MatchFilter, parse_match_filter
from monitor.gazetteer import Gazetteer, load_gazetteer
from monitor.storage.queries import list_matches_page
from monitor.tagging import Tagger
from tests.conftest import PROJECT_RELEVANCE, PROJECT_ROOT
from tests.query_support import CORPUS, RELEVANT, store_corpus

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return load_gazetteer(PROJECT_ROOT / "config" / "gazetteer")


def parse(gazetteer: Gazetteer, **raw: Any) -> MatchFilter:
    return parse_match_filter(FilterRequest(**raw), gazetteer, NOW)


def refused(gazetteer: Gazetteer, **raw: Any) -> FilterError:
    with pytest.raises(FilterError) as caught:
        parse(gazetteer, **raw)
    return caught.value


class TestRelevance:
    def test_relevant_only_by_default(self, gazetteer: Gazetteer) -> None:
        """With no relevance option, only relevant matches are asked for."""
        assert parse(gazetteer).relevant is True

    def test_all_asks_for_every_match(self, gazetteer: Gazetteer) -> None:
        """`include_all` lifts the relevance condition."""
        assert parse(gazetteer, include_all=True).relevant is None

    def test_relevant_false_asks_for_the_rejected(self, gazetteer: Gazetteer) -> None:
        """`relevant=False` keeps only the matches judged not relevant."""
        assert parse(gazetteer, relevant=False).relevant is False

    def test_all_with_relevant_is_refused(self, gazetteer: Gazetteer) -> None:
        """`all` and `relevant` together contradict each other and are refused."""
        assert refused(gazetteer, include_all=True, relevant=False).parameter == "all"


class TestMoments:
    @pytest.mark.parametrize(
        ("value", "back"),
        [("90m", timedelta(minutes=90)), ("24h", timedelta(hours=24)), ("7d", timedelta(days=7))],
    )
    def test_durations_count_back_from_now(
        self, gazetteer: Gazetteer, value: str, back: timedelta
    ) -> None:
        """A duration means that long before `now`, for since and until alike."""
        parsed = parse(gazetteer, since=value, until=value)
        assert parsed.since == parsed.until == NOW - back

    def test_iso_dates_and_times_are_utc(self, gazetteer: Gazetteer) -> None:
        """A naive ISO date or time is UTC; one with an offset is converted to UTC."""
        parsed = parse(gazetteer, since="2026-11-01", until="2026-11-02T03:00:00+03:00")
        assert parsed.since == datetime(2026, 11, 1, tzinfo=UTC)
        assert parsed.until == datetime(2026, 11, 2, 0, 0, tzinfo=UTC)

    @pytest.mark.parametrize("value", ["last week", "2026-13-01", "24 hours ago"])
    def test_garbage_is_refused_naming_the_value(self, gazetteer: Gazetteer, value: str) -> None:
        """A value that is neither a duration nor an ISO time is refused, quoting it."""
        error = refused(gazetteer, since=value)
        assert error.parameter == "since" and repr(value) in error.message

    @pytest.mark.parametrize("value", ["0001-01-01", "99999999999d"])
    def test_out_of_range_is_refused(self, gazetteer: Gazetteer, value: str) -> None:
        """Times before 1900 (or durations reaching there) are refused, not an overflow."""
        assert "out of range" in refused(gazetteer, until=value).message


class TestCountries:
    @pytest.mark.parametrize(
        ("value", "code"),
        [
            ("ve", "VE"),
            ("CU", "CU"),
            ("Venezuela", "VE"),
            ("Brasil", "BR"),
            ("brazil", "BR"),
            ("Куба", "CU"),
            ("México", "MX"),
            ("Перу", "PE"),
        ],
    )
    def test_codes_and_names_resolve(self, gazetteer: Gazetteer, value: str, code: str) -> None:
        """ISO codes and names in English, Spanish, Portuguese and Russian give the ISO code."""
        assert parse(gazetteer, country=value).country == code

    @pytest.mark.parametrize("value", ["Narnia", "US", "Russia"])
    def test_unknown_country_is_refused(self, gazetteer: Gazetteer, value: str) -> None:
        """A country the gazetteer does not know is an error naming it, never an empty list."""
        error = refused(gazetteer, country=value)
        assert error.parameter == "country" and repr(value) in error.message


class TestOtherFilters:
    @pytest.mark.parametrize(
        ("value", "topic"),
        [("energy", "energy"), ("Trade finance", "trade-finance"), ("petróleo", "energy")],
    )
    def test_topics_resolve(self, gazetteer: Gazetteer, value: str, topic: str) -> None:
        """A topic is given by its name (any case, spaces for hyphens) or by one of its terms."""
        assert parse(gazetteer, topic=value).topic == topic

    def test_unknown_topic_is_refused(self, gazetteer: Gazetteer) -> None:
        """A topic not in the gazetteer is refused with the list of topics."""
        error = refused(gazetteer, topic="astrology")
        assert error.parameter == "topic" and "'astrology'" in error.message
        assert "energy" in error.message

    def test_language_is_a_lower_case_code(self, gazetteer: Gazetteer) -> None:
        """`lang` accepts a two- or three-letter code in any case and refuses anything else."""
        assert parse(gazetteer, language="ES").language == "es"
        assert refused(gazetteer, language="spanish!").parameter == "lang"

    @pytest.mark.parametrize("name", ["text", "feed", "topic", "country"])
    def test_control_characters_are_refused(self, gazetteer: Gazetteer, name: str) -> None:
        """Free text with a NUL or another control character is refused (PostgreSQL fails)."""
        assert "control characters" in refused(gazetteer, **{name: "a\x00b"}).message


@pytest.fixture
def stored(sessions: sessionmaker[Session], tagger: Tagger) -> sessionmaker[Session]:
    store_corpus(sessions, tagger, NOW)
    return sessions


@pytest.fixture
def api(stored: sessionmaker[Session]) -> Iterator[TestClient]:
    """A tiny app whose one route lists matches under the shared query dependency."""
    app = FastAPI()
    app.state.context = ApiContext(
        settings=Settings(relevance=PROJECT_RELEVANCE),
        sessions=stored,
        token=None,
        state=None,
        search_embedder=None,
        clock=lambda: NOW,
    )

    @app.get("/matches")
    def matches(f: MatchQuery) -> list[str]:
        with stored() as session:
            return [m["title"] for m in list_matches_page(session, f, 100)]

    @app.get("/scope")
    def scope(f: SearchScope, q: str) -> dict[str, Any]:
        return {"text": f.text, "relevant": f.relevant, "country": f.country, "q": q}

    with TestClient(app) as client:
        yield client


def titles(api: TestClient, **params: Any) -> set[str]:
    response = api.get("/matches", params=params)
    assert response.status_code == 200, response.text
    return set(response.json())


def refusal(api: TestClient, **params: Any) -> dict[str, Any]:
    response = api.get("/matches", params=params)
    assert response.status_code == 422, response.text
    detail: dict[str, Any] = response.json()["detail"][0]
    return detail


class TestApiFilters:
    def test_relevant_only_unless_all(self, api: TestClient) -> None:
        """/matches lists relevant matches by default, all with all=true, rejects relevant=false."""
        assert titles(api) == RELEVANT
        assert titles(api, all="true") == {title for title, _, _ in CORPUS}
        assert titles(api, relevant="false") == {t for t, _, _ in CORPUS} - RELEVANT
        assert refusal(api, all="true", relevant="true")["loc"] == ["query", "all"]

    def test_durations_and_iso_times(self, api: TestClient) -> None:
        """since/until take 24h-style durations and ISO times, counted from the app's clock."""
        assert titles(api, since="24h") == {CORPUS[0][0], CORPUS[1][0]}
        assert titles(api, until="24h") == {CORPUS[3][0], CORPUS[4][0]}
        assert titles(api, since=(NOW - timedelta(hours=40)).isoformat(), until="24h") == {
            CORPUS[3][0]
        }

    def test_country_names_mean_their_code(self, api: TestClient) -> None:
        """country=Venezuela lists what country=VE lists; Куба and Brasil resolve too."""
        assert titles(api, country="Venezuela") == titles(api, country="VE")
        assert titles(api, country="VE") == {CORPUS[0][0], CORPUS[3][0]}
        assert titles(api, country="Куба") == {CORPUS[1][0]}
        assert titles(api, country="Brasil") == {CORPUS[4][0]}

    def test_unknown_country_and_topic_are_422(self, api: TestClient) -> None:
        """An unknown country or topic is a 422 naming the parameter and the value."""
        country = refusal(api, country="Narnia")
        assert country["loc"] == ["query", "country"] and "'Narnia'" in country["msg"]
        assert refusal(api, topic="astrology")["loc"] == ["query", "topic"]
        assert refusal(api, since="last week")["loc"] == ["query", "since"]

    def test_lang_filters_by_language(self, api: TestClient) -> None:
        """lang=es lists the Spanish matches only; lang=pt the Portuguese."""
        assert titles(api, lang="es") == {CORPUS[3][0]}
        assert titles(api, lang="PT") == {CORPUS[4][0]}

    def test_like_wildcards_are_literal(self, api: TestClient) -> None:
        """q=% and q=_ match only titles that contain those characters."""
        assert titles(api, q="%", all="true") == {CORPUS[2][0]}
        assert titles(api, q="_", all="true") == {CORPUS[5][0]}
        assert titles(api, q="100%", all="true") == {CORPUS[2][0]}

    def test_text_ignores_case_in_every_script(self, api: TestClient) -> None:
        """Case folds beyond ASCII on both databases: "COMÉRCIO" finds "comércio" (SQLite's
        own LIKE folds only A-Z, so the É would not have matched)."""
        assert titles(api, q="MOSCOU", all="true") == {CORPUS[4][0]}
        assert titles(api, q="COMÉRCIO", all="true") == {CORPUS[4][0]}
        assert titles(api, q="CoMéRcIo DE GRÃOS", all="true") == {CORPUS[4][0]}

    def test_search_scope_takes_q_as_the_question(self, api: TestClient) -> None:
        """/search's filter is the same but leaves `q` (the question) out of the text filter."""
        scope = api.get("/scope", params={"q": "oil deals", "country": "Cuba"}).json()
        assert scope == {"text": None, "relevant": True, "country": "CU", "q": "oil deals"}
