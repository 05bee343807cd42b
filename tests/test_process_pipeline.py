"""The pipelined processing stage: the next batch is claimed and encoded while one is assigned
and stored. It stores what processing one batch at a time stores; a batch claimed ahead is given
back when the run stops or fails; nothing is stored for an article another worker took over."""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import monitor.process
from monitor.collector import YOUNG_COLLECTION_OBJECTS
from monitor.embed import USE_MAX_CHARS, USE_MULTILINGUAL
from monitor.encoder_process import EncoderProcessError, ProcessEncoder
from monitor.process import EncodedBatch, Processor, switch_interval
from monitor.storage import migrate
from monitor.storage.engine import open_engine
from monitor.storage.schema import Article, Match, Story
from monitor.storage.stories import claim_pending_articles, count_pending_articles
from monitor.tagging import Tagger
from monitor.values import PendingArticle, ProcessSummary
from tests.conftest import SettingsFactory
from tests.test_process_window import (
    MODELS,
    NOW,
    Scene,
    crafted_processor,
    new_scene,
    round_entries,
    store_entries,
)

BATCH = 7  # small batches, so that a few dozen articles run through several of them


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor.process, "BATCH_ARTICLES", BATCH)


def migrated(make_settings: SettingsFactory, path: Path) -> sessionmaker[Session]:
    engine = open_engine(make_settings(database={"url": f"sqlite:///{path}"}).database)
    migrate.upgrade(engine)
    return sessionmaker(engine, expire_on_commit=False)


def stored(sessions: sessionmaker[Session]) -> list[tuple[object, ...]]:
    """Per article (by guid): event, seed duplicate, relevance and score as stored."""
    with sessions() as session:
        rows = session.execute(
            select(Article.guid, Article.story_id, Article.seed_duplicate, Match.relevant)
            .add_columns(Match.score, Match.story_id)
            .join(Match, Match.article_id == Article.id)
            .order_by(Article.guid)
        )
        return [tuple(row) for row in rows]


def one_batch_at_a_time(processor: Processor) -> int:
    """The stage without the pipeline: claim a batch, process it, claim the next."""
    done = 0
    while True:
        with processor.sessions.begin() as session:
            pending = claim_pending_articles(
                session, processor.clock(), processor.owner, 600, BATCH
            )
        if not pending:
            return done
        done += processor.process_batch(pending).articles


def counts(sessions: sessionmaker[Session]) -> tuple[int, int, int]:
    """Pending articles, pending ones still claimed by someone, events."""
    with sessions() as session:
        claimed = session.scalar(
            select(Article.id)
            .where(Article.processed_at.is_(None), Article.claimed_by.is_not(None))
            .limit(1)
        )
        events = len(list(session.scalars(select(Story.id))))
        return count_pending_articles(session), int(claimed is not None), events


def stage(
    sessions: sessionmaker[Session], tagger: Tagger, scene: Scene, clock: list[datetime]
) -> Processor:
    processor = crafted_processor(sessions, tagger, scene, clock, MODELS["fitted"])
    processor.pipeline = True
    return processor


class StopsAfterOneBatch(Processor):
    def finish_batch(self, encoded: EncodedBatch) -> ProcessSummary:
        done = super().finish_batch(encoded)
        self.stopping.set()
        return done


class NotesCollectorThreshold(Processor):
    thresholds: list[tuple[int, int, int]]

    def finish_batch(self, encoded: EncodedBatch) -> ProcessSummary:
        self.thresholds.append(gc.get_threshold())
        return super().finish_batch(encoded)


class FailsOnFirstBatch(Processor):
    def finish_batch(self, encoded: EncodedBatch) -> ProcessSummary:
        raise RuntimeError("the database went away")


class TestPipeline:
    def test_pipelined_run_stores_what_one_batch_at_a_time_stores(
        self, tmp_path: Path, make_settings: SettingsFactory, tagger: Tagger
    ) -> None:
        """Over three cycles of clustered articles in batches of 7, the pipelined stage and
        the batch-at-a-time stage store the same events, matches and seed duplicates."""
        scene = new_scene()
        pipelined = migrated(make_settings, tmp_path / "pipelined.db")
        serial = migrated(make_settings, tmp_path / "serial.db")
        clock = [NOW]
        processors = stage(pipelined, tagger, scene, clock), stage(serial, tagger, scene, clock)
        for day in range(3):
            seen = NOW - timedelta(days=3 - day)
            clock[0] = seen + timedelta(minutes=5)
            entries = round_entries(scene, list(range(len(scene.centres))), seen)
            store_entries(pipelined, entries, seen)
            store_entries(serial, entries, seen)
            assert processors[0].process_pending().articles == len(entries)
            assert one_batch_at_a_time(processors[1]) == len(entries)
        assert stored(pipelined) == stored(serial)
        events = {row[1] for row in stored(pipelined)}
        assert 3 < len(events) < len(stored(pipelined))  # some joined, some started

    def test_a_batch_claimed_ahead_is_given_back_when_stopping(
        self, sqlite_sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """Stopping during a batch: that batch is stored, those claimed ahead are released at
        once (another worker takes them without waiting for the lease)."""
        scene, clock = new_scene(), [NOW]
        entries = round_entries(scene, [], NOW - timedelta(minutes=5))
        store_entries(sqlite_sessions, entries, NOW - timedelta(minutes=5))
        first = StopsAfterOneBatch(**vars_of(stage(sqlite_sessions, tagger, scene, clock)))
        first.pipeline = True
        assert first.process_pending().articles == BATCH
        assert counts(sqlite_sessions)[:2] == (len(entries) - BATCH, 0)
        other = stage(sqlite_sessions, tagger, scene, clock)
        assert other.process_pending().articles == len(entries) - BATCH

    def test_an_error_gives_back_the_batch_claimed_ahead(
        self, sqlite_sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """A batch that fails keeps its lease (retried when it runs out, not at once); the
        batches claimed ahead of it are released, so another worker processes them now."""
        scene, clock = new_scene(), [NOW]
        entries = round_entries(scene, [], NOW - timedelta(minutes=5))
        store_entries(sqlite_sessions, entries, NOW - timedelta(minutes=5))
        failing = FailsOnFirstBatch(**vars_of(stage(sqlite_sessions, tagger, scene, clock)))
        failing.pipeline = True
        with pytest.raises(RuntimeError, match="went away"):
            failing.process_pending()
        with sqlite_sessions() as session:
            claimed = set(
                session.scalars(select(Article.claimed_by).where(Article.claimed_by.is_not(None)))
            )
        assert claimed == {failing.owner}
        other = stage(sqlite_sessions, tagger, scene, clock)
        assert other.process_pending().articles == len(entries) - BATCH
        clock[0] = NOW + timedelta(seconds=other.settings.processing_lease_s + 1)
        assert other.process_pending().articles == BATCH

    @pytest.mark.slow
    @pytest.mark.parametrize("pipeline", [True, False])
    def test_a_dead_encoder_process_is_a_clear_error_and_its_batch_is_given_back(
        self, sqlite_sessions: sessionmaker[Session], tagger: Tagger, pipeline: bool
    ) -> None:
        """The encoder's child process killed: the run fails with EncoderProcessError, the
        batch it was encoding is released at once (not left to its lease) and nothing is lost:
        another worker processes every article now; the processor's next run encodes again."""
        scene, clock = new_scene(), [NOW]
        entries = round_entries(scene, [], NOW - timedelta(minutes=5))
        store_entries(sqlite_sessions, entries, NOW - timedelta(minutes=5))
        broken = stage(sqlite_sessions, tagger, scene, clock)
        broken.pipeline = pipeline
        broken.encoder = ProcessEncoder(USE_MULTILINGUAL, "fake", USE_MAX_CHARS, processes=1)
        try:
            broken.start_encoder()
            child = broken.encoder.children[0]
            assert child is not None and child.process.pid is not None
            os.kill(child.process.pid, signal.SIGKILL)
            with pytest.raises(EncoderProcessError, match="exited with code -9"):
                broken.process_pending()
            assert counts(sqlite_sessions)[:2] == (len(entries), 0)
            assert broken.encoder.embed(["again"]).shape == (1, 512)
        finally:
            broken.close()
        assert broken.encoder.children == [None]
        other = stage(sqlite_sessions, tagger, scene, clock)
        assert other.process_pending().articles == len(entries)

    def test_articles_another_worker_took_over_are_not_stored_twice(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """A worker whose lease ran out while its batch was in hand stores nothing for the
        articles another worker has since claimed and processed; those nobody took over it
        still processes."""
        scene, clock = new_scene(), [NOW]
        entries = round_entries(scene, [], NOW - timedelta(minutes=5))
        store_entries(sessions, entries, NOW - timedelta(minutes=5))
        slow = stage(sessions, tagger, scene, clock)
        with sessions.begin() as session:
            pending = claim_pending_articles(session, NOW, slow.owner, 600, len(entries))
        clock[0] = NOW + timedelta(seconds=601)
        with sessions.begin() as session:  # another worker takes over the first few
            taken = claim_pending_articles(session, clock[0], "other", 600, 5)
        other = stage(sessions, tagger, scene, clock)
        other.owner = "other"
        assert other.process_batch(taken).articles == 5
        with sessions() as session:
            guids = set(session.scalars(select(Article.guid).where(Article.id.in_(ids(taken)))))
        before = [row for row in stored(sessions) if row[0] in guids]
        assert slow.process_batch(pending).articles == len(entries) - 5
        after = stored(sessions)
        assert len(after) == len(entries)  # one match per article, none stored twice
        assert [row for row in after if row[0] in guids] == before  # the other's stand
        assert counts(sessions)[:2] == (0, 0)


def ids(pending: Sequence[PendingArticle]) -> list[int]:
    return [a.id for a in pending]


def vars_of(processor: Processor) -> dict[str, object]:
    """A processor's constructor arguments (to build the same one as a subclass)."""
    return {
        name: getattr(processor, name)
        for name in ("sessions", "tagger", "settings", "clock", "models", "index_dir")
    }


class TestSwitchInterval:
    def test_set_for_the_block_and_restored_after_it_even_on_an_error(self) -> None:
        """The stage's shorter turns between threads last as long as the block."""
        before = sys.getswitchinterval()
        with pytest.raises(RuntimeError), switch_interval(before / 4):
            assert sys.getswitchinterval() == pytest.approx(before / 4)
            raise RuntimeError
        assert sys.getswitchinterval() == before


class TestYoungCollections:
    def test_batches_are_finished_under_it(
        self, sqlite_sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        scene = new_scene()
        clock = [NOW]
        store_entries(sqlite_sessions, round_entries(scene, [], NOW), NOW)
        before = gc.get_threshold()
        noting = NotesCollectorThreshold(**vars_of(stage(sqlite_sessions, tagger, scene, clock)))
        noting.thresholds = []
        assert noting.process_pending().articles > 0
        assert noting.thresholds
        assert {t[0] for t in noting.thresholds} == {YOUNG_COLLECTION_OBJECTS}
        assert gc.get_threshold() == before
