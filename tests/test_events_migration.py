"""Migration 20261202_0500 on both databases: every existing story becomes an event in a thread
of its own, and new threads are numbered after them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from monitor.storage import migrate
from monitor.storage.engine import open_engine
from tests.conftest import SettingsFactory

NOW = datetime(2026, 12, 1, tzinfo=UTC)


class TestEventsMigration:
    def test_existing_stories_get_threads_and_downgrade_drops_them(
        self, database_url: str, make_settings: SettingsFactory
    ) -> None:
        """Two stories before the migration are two one-event threads after it; the next
        thread id follows theirs; downgrading drops the new tables."""
        engine = open_engine(make_settings(database={"url": database_url}).database)
        migrate.upgrade(engine, "20261202_0400")
        with engine.begin() as connection:
            for title in ("Warships in Havana", "Maduro in Moscow"):
                connection.execute(
                    text(
                        "INSERT INTO stories (title, first_seen_at, last_seen_at, article_count,"
                        " outlets_count, languages) VALUES (:t, :n, :n, 3, 2, 'en')"
                    ),
                    {"t": title, "n": NOW},
                )
        migrate.upgrade(engine)
        with engine.begin() as connection:
            threads = connection.execute(
                text("SELECT id, title, event_count, outlets_count FROM threads ORDER BY id")
            ).all()
            links = connection.execute(
                text("SELECT story_id, thread_id FROM event_threads ORDER BY story_id")
            ).all()
            stories = connection.execute(text("SELECT id FROM stories ORDER BY id")).all()
            new_id = connection.execute(
                text(
                    "INSERT INTO threads (title, first_seen_at, last_seen_at, event_count,"
                    " article_count, outlets_count) VALUES ('x', :n, :n, 0, 0, 0) RETURNING id"
                ),
                {"n": NOW},
            ).scalar_one()
        assert [(t[1], t[2], t[3]) for t in threads] == [
            ("Warships in Havana", 1, 2),
            ("Maduro in Moscow", 1, 2),
        ]
        assert [tuple(link) for link in links] == [(s[0], s[0]) for s in stories]
        assert new_id > max(t[0] for t in threads)
        migrate.downgrade(engine, "20261202_0400")
        with engine.begin() as connection:
            names = {
                r[0]
                for r in connection.execute(
                    text(
                        "SELECT name FROM sqlite_master WHERE type='table'"
                        if engine.dialect.name == "sqlite"
                        else "SELECT tablename FROM pg_tables WHERE schemaname='public'"
                    )
                )
            }
        assert not {"threads", "event_threads", "article_outlets"} & names
        engine.dispose()
