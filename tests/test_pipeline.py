"""The whole ingestion cycle with the real packaged multilingual model: feeds on 127.0.0.1 in
three languages → fetch → store → embed → stories → relevance → matches."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from monitor.cycle import JobReport, run_cycles
from monitor.loopback import FeedServer, Reply, item, rss
from monitor.runtime import open_runtime
from monitor.storage.feeds import add_feeds
from monitor.storage.stories import list_matches, list_stories
from monitor.values import FeedSpec
from tests.conftest import PROJECT_RELEVANCE, SettingsFactory

EN = (
    "Russia and Venezuela sign military cooperation agreement in Caracas",
    "Russian Deputy Prime Minister Yuri Borisov visited Caracas and signed a defence deal with Nicolás Maduro.",
)
ES = (
    "Rusia y Venezuela firman un acuerdo de cooperación militar en Caracas",
    "El viceprimer ministro ruso Yuri Borísov visitó Caracas y firmó un acuerdo de defensa con Nicolás Maduro.",
)
RU = (
    "Россия и Венесуэла подписали соглашение о военном сотрудничестве в Каракасе",
    "Вице-премьер Юрий Борисов посетил Каракас и подписал с Николасом Мадуро соглашение об обороне.",
)


def test_one_story_across_languages_and_relevance(
    feed_server: FeedServer, sqlite_sessions: sessionmaker[Session], make_settings: SettingsFactory
) -> None:
    """Three outlets' reports of one event in en/es/ru form one relevant story; other news doesn't."""
    urls = [
        feed_server.add(
            "/en",
            Reply(
                body=rss(
                    [
                        item(EN[0], "https://en.example/1", "1", summary=EN[1]),
                        item(
                            "Heavy snow closes schools across Ontario", "https://en.example/2", "2"
                        ),
                    ]
                )
            ),
        ),
        feed_server.add(
            "/es", Reply(body=rss([item(ES[0], "https://es.example/1", "1", summary=ES[1])]))
        ),
        feed_server.add(
            "/ru", Reply(body=rss([item(RU[0], "https://ru.example/1", "1", summary=RU[1])]))
        ),
    ]
    settings = make_settings(relevance=PROJECT_RELEVANCE)
    with sqlite_sessions.begin() as session:
        add_feeds(session, [FeedSpec(u) for u in urls], 900, datetime.now(UTC))
    results: list[JobReport] = []

    async def one_cycle() -> None:
        async with open_runtime(settings, sqlite_sessions) as runtime:
            await run_cycles(runtime, once=True, on_report=results.append)

    asyncio.run(one_cycle())
    [(cycle, processed)] = [(job.cycle, job.processed) for job in results]
    assert cycle.new_articles == 4 and processed is not None and processed.articles == 4
    with sqlite_sessions() as session:
        stories = list_stories(session)
        matches = list_matches(session)
    story = max(stories, key=lambda s: s["article_count"])
    assert (story["article_count"], story["outlets_count"], story["languages"]) == (
        3,
        3,
        ["en", "es", "ru"],
    )
    relevant = [m for m in matches if m["relevant"]]
    assert len(relevant) == 3 and {m["story_id"] for m in relevant} == {story["id"]}
    assert all(m["countries"] == ["VE"] and "defense" in m["topics"] for m in relevant)
