"""A small stored corpus for the query tests: matches in several languages, processed with the
real gazetteer and weights and the in-memory embedder."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import StorySettings
from monitor.filters import MatchFilter
from monitor.process import Processor
from monitor.storage.articles import insert_articles
from monitor.storage.feeds import add_feeds, get_feed
from monitor.storage.queries import list_matches_page
from monitor.tagging import Tagger
from monitor.values import FeedSpec
from tests.factories import make_entry

# (title, language, hours before now it was first seen); four are relevant.
CORPUS = [
    ("Russia and Venezuela sign a military cooperation agreement in Caracas", "en", 1),
    ("Lavrov meets Cuban foreign minister in Havana to discuss oil supplies", "en", 2),
    ("Heavy snow closes 100% of schools across Ontario", "en", 3),
    ("Rusia y Venezuela firman un acuerdo militar en Caracas", "es", 30),
    ("Putin recebe Lula em Moscou para falar de comércio de grãos e fertilizantes", "pt", 50),
    ("Rain_fall warning for Toronto commuters", "en", 4),
]
RELEVANT = {CORPUS[i][0] for i in (0, 1, 3, 4)}


def store_corpus(
    sessions: sessionmaker[Session], tagger: Tagger, now: datetime, copies: range = range(1)
) -> dict[str, int]:
    """Store and process CORPUS once per copy, one feed per item (copy 1 adds " (1)" to each
    title, and so on); returns title → match id."""
    items = [(c, n, item) for c in copies for n, item in enumerate(CORPUS)]
    for copy, n, (original, language, hours) in items:
        title = f"{original} ({copy})" if copy else original
        seen = now - timedelta(hours=hours)
        url = f"https://outlet{n}-{copy}.example/rss"
        with sessions.begin() as session:
            add_feeds(session, [FeedSpec(url, f"Outlet {n}")], 900, seen)
            feed = get_feed(session, url)
            assert feed is not None
            entry = replace(
                make_entry(f"g{n}", f"https://o.example/{n}/{copy}", title), language=language
            )
            insert_articles(session, feed.id, [entry], seen)
    Processor(
        sessions, tagger, StorySettings(same_story_threshold=0.7), lambda: now
    ).process_pending()
    with sessions() as session:
        records = list_matches_page(session, MatchFilter(), 10_000)
    return {record["title"]: record["id"] for record in reversed(records)}
