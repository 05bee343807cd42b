from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, literal, select, text
from sqlalchemy.orm import Session, sessionmaker

from monitor.errors import StorageError
from monitor.storage import migrate
from monitor.storage.articles import count_articles, insert_articles
from monitor.storage.engine import (
    check_sqlite_header,
    open_engine,
    require_writable,
    sqlite_path,
)
from monitor.storage.feeds import add_feeds, list_feeds, remove_feed
from monitor.storage.schema import Base
from monitor.storage.text import unicode_lower
from monitor.values import FeedSpec
from tests.conftest import SettingsFactory
from tests.factories import NOW, make_entry

TABLES = {"feeds", "fetch_log", "articles"}


class TestMigrations:
    def test_up_down_up_and_models_match(
        self, database_url: str, make_settings: SettingsFactory
    ) -> None:
        """Migrations run up, down and up again; the migrated schema equals the models."""
        engine = open_engine(make_settings(database={"url": database_url}).database)
        try:
            migrate.upgrade(engine)
            assert set(inspect(engine).get_table_names()) >= TABLES
            migrate.downgrade(engine, "base")
            assert not TABLES & set(inspect(engine).get_table_names())
            migrate.upgrade(engine)
            assert migrate.current_revision(engine) == migrate.head_revision()
            with engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, Base.metadata) == []
        finally:
            engine.dispose()

    def test_unmigrated_database_is_refused_with_advice(
        self, make_settings: SettingsFactory
    ) -> None:
        """Commands on an unmigrated database say to run `monitor db upgrade`."""
        engine = open_engine(make_settings().database)
        try:
            with pytest.raises(Exception, match="monitor db upgrade"):
                migrate.require_current_schema(engine)
        finally:
            engine.dispose()


def add_two_feeds(sessions: sessionmaker[Session]) -> list[int]:
    with sessions.begin() as session:
        add_feeds(
            session,
            [FeedSpec("https://a.example/rss"), FeedSpec("https://b.example/rss")],
            900,
            NOW,
        )
        return [feed.id for feed in list_feeds(session)]


class TestExactDedup:
    def test_refetch_inserts_nothing(self, sessions: sessionmaker[Session]) -> None:
        """The same entries stored twice give one row each; the second pass counts duplicates."""
        feed_a, _ = add_two_feeds(sessions)
        entries = [
            make_entry("g1", "https://x.org/1", "Putin meets Lula in Brasilia for trade talks"),
            make_entry(
                "g2", "https://x.org/2", "Cuba receives Russian oil tanker in Matanzas port"
            ),
        ]
        with sessions.begin() as session:
            first = insert_articles(session, feed_a, entries, NOW)
        with sessions.begin() as session:
            second = insert_articles(session, feed_a, entries, NOW)
            assert count_articles(session) == 2
        assert (len(first.new_article_ids), first.duplicates) == (2, 0)
        assert (second.new_article_ids, second.duplicates) == ((), 2)

    def test_same_guid_same_feed(self, sessions: sessionmaker[Session]) -> None:
        """A guid repeated in one feed (even within one batch) is stored once."""
        feed_a, _ = add_two_feeds(sessions)
        entries = [
            make_entry("same", "https://x.org/1", "First headline about Russia and Peru ties"),
            make_entry("same", "https://x.org/2", "Second headline about Bolivia lithium deal"),
        ]
        with sessions.begin() as session:
            result = insert_articles(session, feed_a, entries, NOW)
        assert (len(result.new_article_ids), result.duplicates) == (1, 1)

    def test_same_guid_other_feed_is_new(self, sessions: sessionmaker[Session]) -> None:
        """Guids are only unique within their feed."""
        feed_a, feed_b = add_two_feeds(sessions)
        with sessions.begin() as session:
            insert_articles(
                session,
                feed_a,
                [make_entry("1", "https://a.org/1", "Alpha story about Cuba and Russia")],
                NOW,
            )
            result = insert_articles(
                session,
                feed_b,
                [make_entry("1", "https://b.org/1", "Beta story about Mexico energy policy")],
                NOW,
            )
        assert len(result.new_article_ids) == 1

    def test_same_canonical_url_any_feed(self, sessions: sessionmaker[Session]) -> None:
        """The same canonical URL from another feed is a duplicate."""
        feed_a, feed_b = add_two_feeds(sessions)
        with sessions.begin() as session:
            insert_articles(
                session,
                feed_a,
                [make_entry("a1", "https://w.org/s", "Headline one on Nicaragua and Moscow")],
                NOW,
            )
            result = insert_articles(
                session,
                feed_b,
                [make_entry("b1", "https://w.org/s", "Different words entirely about Chile")],
                NOW,
            )
        assert result.duplicates == 1

    def test_same_normalised_content_any_feed(self, sessions: sessionmaker[Session]) -> None:
        """A wire story re-published under another URL and guid is a duplicate."""
        feed_a, feed_b = add_two_feeds(sessions)
        with sessions.begin() as session:
            insert_articles(
                session,
                feed_a,
                [
                    make_entry(
                        "a1", "https://one.org/x", "Russia lends Venezuela $2.2 bln to buy weapons"
                    )
                ],
                NOW,
            )
            result = insert_articles(
                session,
                feed_b,
                [
                    make_entry(
                        "b9", "https://two.org/y", "RUSSIA LENDS VENEZUELA $2.2 BLN TO BUY WEAPONS!"
                    )
                ],
                NOW,
            )
        assert result.duplicates == 1

    def test_entries_without_url_are_kept(self, sessions: sessionmaker[Session]) -> None:
        """Missing URLs do not collide with each other."""
        feed_a, _ = add_two_feeds(sessions)
        with sessions.begin() as session:
            result = insert_articles(
                session,
                feed_a,
                [
                    make_entry("n1", None, "Argentina and Russia discuss nuclear plant"),
                    make_entry("n2", None, "Uruguay hosts Russian trade delegation this week"),
                ],
                NOW,
            )
        assert len(result.new_article_ids) == 2

    def test_removing_a_feed_removes_its_articles(self, sessions: sessionmaker[Session]) -> None:
        """Foreign keys cascade on both backends."""
        feed_a, _ = add_two_feeds(sessions)
        with sessions.begin() as session:
            insert_articles(session, feed_a, [make_entry()], NOW)
        with sessions.begin() as session:
            assert remove_feed(session, "https://a.example/rss")
            assert count_articles(session) == 0


class TestSQLite:
    def test_pragmas(self, sqlite_sessions: sessionmaker[Session]) -> None:
        """WAL, foreign keys and a busy timeout are on for every connection."""
        with sqlite_sessions() as session:
            assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert session.execute(text("PRAGMA busy_timeout")).scalar() == 10000

    def test_concurrent_writers_do_not_fail_on_lock_upgrade(
        self, sqlite_sessions: sessionmaker[Session]
    ) -> None:
        """Read-then-write transactions in many threads all succeed (BEGIN IMMEDIATE)."""
        feed_a, _ = add_two_feeds(sqlite_sessions)
        errors: list[BaseException] = []

        def writer(worker: int) -> None:
            try:
                for n in range(20):
                    with sqlite_sessions.begin() as session:
                        count_articles(session)  # read first: a deferred BEGIN would fail upgrading
                        insert_articles(
                            session,
                            feed_a,
                            [
                                make_entry(
                                    f"w{worker}-{n}",
                                    f"https://x.org/{worker}/{n}",
                                    f"Story number {n} from worker {worker} about Russia and Brazil",
                                )
                            ],
                            NOW,
                        )
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with sqlite_sessions() as session:
            assert count_articles(session) == 120


class TestFeedClaims:
    def test_claimed_feed_is_not_claimed_twice_until_its_lease_expires(
        self, sessions: sessionmaker[Session]
    ) -> None:
        """A second worker gets nothing while the lease holds; after it expires it gets the feed."""
        from datetime import timedelta

        from monitor.storage.feeds import claim_due_feeds

        add_two_feeds(sessions)
        with sessions.begin() as session:
            first = claim_due_feeds(session, NOW, "worker-a", 60)
        with sessions.begin() as session:
            second = claim_due_feeds(session, NOW, "worker-b", 60)
        with sessions.begin() as session:
            later = claim_due_feeds(session, NOW + timedelta(seconds=61), "worker-b", 60)
        assert len(first) == 2 and second == [] and len(later) == 2

    def test_concurrent_claimers_never_share_a_feed(self, sessions: sessionmaker[Session]) -> None:
        """Eight threads claiming at once split 200 feeds without overlap."""
        from monitor.storage.feeds import claim_due_feeds

        with sessions.begin() as session:
            add_feeds(
                session, [FeedSpec(f"https://f{n}.example/rss") for n in range(200)], 900, NOW
            )
        claimed: list[list[int]] = []
        errors: list[BaseException] = []

        def claim(worker: int) -> None:
            try:
                for _ in range(5):
                    with sessions.begin() as session:
                        claimed.append(
                            [
                                f.id
                                for f in claim_due_feeds(session, NOW, f"w{worker}", 60, limit=10)
                            ]
                        )
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ids = [i for batch in claimed for i in batch]
        assert errors == [] and len(ids) == len(set(ids)) == 200


class TestFigures:
    def test_metrics_figures_on_both_backends(self, sessions: sessionmaker[Session]) -> None:
        """The figures behind /metrics are read with one query set that works on both backends."""
        from monitor.storage.queries import read_figures

        add_two_feeds(sessions)
        with sessions() as session:
            figures = read_figures(session, NOW)
        assert figures.feeds_by_status == {"new": 2}
        assert figures.articles == 0 and figures.outbox_backlog == 0


class TestSchemaChecks:
    def test_head_read_from_files_equals_alembics(self) -> None:
        """The revision graph read from versions/ names the same head as alembic does."""
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(migrate.alembic_config())
        assert migrate.head_revision() == script.get_current_head()
        assert set(migrate.revision_graph()) == {r.revision for r in script.walk_revisions()}

    def test_empty_database_gets_the_schema(
        self, database_url: str, make_settings: SettingsFactory
    ) -> None:
        """ensure_schema migrates a database with no tables at all."""
        engine = open_engine(make_settings(database={"url": database_url}).database)
        try:
            migrate.ensure_schema(engine)
            assert migrate.current_revision(engine) == migrate.head_revision()
        finally:
            engine.dispose()

    def test_newer_database_is_refused_without_upgrade_advice(
        self, sessions: sessionmaker[Session]
    ) -> None:
        """A database stamped by a newer monitor asks for that monitor, not for an upgrade."""
        with sessions.begin() as session:
            session.execute(text("UPDATE alembic_version SET version_num = '29991231_0000'"))
        with pytest.raises(StorageError, match="newer than this code's") as caught:
            migrate.ensure_schema(sessions.kw["bind"])
        assert "db upgrade" not in str(caught.value)


class TestWritable:
    def test_writable_database_passes(self, sessions: sessionmaker[Session]) -> None:
        """require_writable accepts an ordinary migrated database and changes nothing."""
        require_writable(sessions.kw["bind"])
        assert migrate.current_revision(sessions.kw["bind"]) == migrate.head_revision()

    def test_read_only_sqlite_is_refused(self, sqlite_sessions: sessionmaker[Session]) -> None:
        """An SQLite file opened read-only fails the check in one line naming the file."""
        path = sqlite_path(sqlite_sessions.kw["bind"].url)
        read_only = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
        try:
            with pytest.raises(StorageError, match="readonly") as caught:
                require_writable(read_only)
            assert str(path) in str(caught.value) and "\n" not in str(caught.value)
        finally:
            read_only.dispose()

    @pytest.mark.postgres
    def test_read_only_postgres_is_refused(self, postgres_url: str) -> None:
        """A PostgreSQL session in read-only transactions fails the check."""
        engine = create_engine(postgres_url)
        migrate.upgrade(engine)
        engine.dispose()
        read_only = create_engine(
            postgres_url, connect_args={"options": "-c default_transaction_read_only=on"}
        )
        try:
            with pytest.raises(StorageError, match="read-only transaction"):
                require_writable(read_only)
        finally:
            read_only.dispose()


class TestSQLiteHeader:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            (b"SQLite format 3\x00" + b"\x00" * 84, "impossible page size 0"),
            (b"SQLite format 3\x00", "not an SQLite header"),
            (b"PK\x03\x04" + b"\x00" * 200, "not an SQLite header"),
        ],
    )
    def test_impossible_headers_are_damage(
        self, tmp_path: Path, header: bytes, expected: str
    ) -> None:
        """Short, foreign or impossible headers are reported as damage, without opening the file."""
        path = tmp_path / "x.db"
        path.write_bytes(header)
        with pytest.raises(StorageError, match=expected):
            check_sqlite_header(path)

    def test_empty_and_missing_files_pass(self, tmp_path: Path) -> None:
        """A 0-byte file and a missing one are empty databases, not damaged ones."""
        (tmp_path / "empty.db").touch()
        check_sqlite_header(tmp_path / "empty.db")
        check_sqlite_header(tmp_path / "missing.db")
        assert not (tmp_path / "missing.db").exists()


def test_unicode_lower_folds_cyrillic_on_both_databases(sessions: sessionmaker[Session]) -> None:
    """`unicode_lower` folds Cyrillic and accented Latin like `str.lower` on each backend."""
    with sessions() as session:
        folded = session.scalar(select(unicode_lower(literal("ЛАВРОВ в ГАВАНЕ, SÃO PAULO"))))
    assert folded == "лавров в гаване, são paulo"
