"""The processor's window index: the window articles it reads per batch give the decisions of
the full-window scan, it follows what other workers store, and it is saved and loaded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import DEFAULT_APPROXIMATE_ABOVE, StorySettings
from monitor.cycle import process_pending
from monitor.embed import Vectors, normalise_rows
from monitor.events import StoryModels, cosine_only_models
from monitor.normalize import content_fingerprint
from monitor.process import Processor, stored_form
from monitor.runtime import LazyEmbedder, open_runtime
from monitor.storage import migrate
from monitor.storage.articles import insert_articles
from monitor.storage.engine import open_engine
from monitor.storage.feeds import add_feeds, list_feeds
from monitor.storage.schema import Article
from monitor.storage.stories import count_window_vectors, select_story_window
from monitor.stories import BatchArticle, StoryDecision, assign_events
from monitor.story_evidence import gather_evidence
from monitor.story_files import load_story_models
from monitor.story_window import (
    EVIDENCE_CACHE,
    NEAREST_PER_ARTICLE,
    EvidenceCache,
    StoryWindow,
    model_folder,
    window_of,
)
from monitor.tagging import Tagger
from monitor.values import FeedSpec, ParsedEntry
from tests.conftest import PROJECT_RELEVANCE, PROJECT_ROOT, SettingsFactory
from tests.fakes import DIMENSIONS, BagOfWordsEmbedder

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NAMES = ["Lavrov", "Maduro", "Lula", "Petro", "Ortega", "Milei", "Boric", "Sheinbaum", "Putin"]
MODELS = {
    "cosine": cosine_only_models(0.54, 48, 168),
    "fitted": load_story_models(PROJECT_ROOT / "config" / "stories.toml", 48, 168),
}


class CraftedEmbedder:
    """Each text's vector is set by the test: the first word of the title names it."""

    model_id = "crafted"
    max_chars = 10_000

    def __init__(self) -> None:
        self.vectors: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> Vectors:
        return np.vstack([self.vectors[text.split()[0]] for text in texts]).astype(np.float32)


@dataclass
class Scene:
    """Clustered crafted articles: a cluster is a centre; a member the centre plus noise."""

    embedder: CraftedEmbedder
    rng: np.random.Generator
    centres: list[np.ndarray]
    count: int = 0

    def cluster(self) -> int:
        centre = self.rng.standard_normal(DIMENSIONS)
        self.centres.append(centre / np.linalg.norm(centre))
        return len(self.centres) - 1

    def article(self, cluster: int, spread: float, published: datetime) -> ParsedEntry:
        """A member at cosine about 1 / (1 + spread²) with other members of its cluster."""
        self.count += 1
        key = f"a{self.count}"
        noise = self.rng.standard_normal(DIMENSIONS) / np.sqrt(DIMENSIONS)
        self.embedder.vectors[key] = normalise_rows(
            (self.centres[cluster] + spread * noise)[None, :].astype(np.float32)
        )[0]
        first, second = NAMES[cluster % len(NAMES)], NAMES[(cluster * 5 + 2) % len(NAMES)]
        number = [str(cluster * 13 % 97), str(self.count)][int(self.rng.random() < 0.3)]
        title = f"{key} {first} meets {second} over {number} tonnes of grain"
        return ParsedEntry(
            key,
            f"https://o.example/{key}",
            title,
            "",
            "en",
            published,
            (),
            content_fingerprint(title, ""),
        )


def new_scene() -> Scene:
    return Scene(CraftedEmbedder(), np.random.default_rng(11), [])


def crafted_processor(
    sessions: sessionmaker[Session],
    tagger: Tagger,
    scene: Scene,
    clock: list[datetime],
    models: StoryModels | None = None,
    index_dir: Path | None = None,
    approximate_above: int = 200_000,
) -> Processor:
    return Processor(
        sessions,
        replace(tagger, embedder=scene.embedder),
        StorySettings(window_days=7, approximate_above=approximate_above),
        lambda: clock[0],
        models=models or MODELS["cosine"],
        index_dir=index_dir,
    )


def store_entries(
    sessions: sessionmaker[Session], entries: Sequence[ParsedEntry], seen: datetime
) -> None:
    with sessions.begin() as session:
        if not list_feeds(session):
            add_feeds(session, [FeedSpec("https://outlet.example/rss")], 900, seen)
        insert_articles(session, list_feeds(session)[0].id, list(entries), seen)


def round_entries(scene: Scene, known: Sequence[int], seen: datetime) -> list[ParsedEntry]:
    """One cycle's articles: members of known clusters (published up to three days before
    `seen`), several of one new cluster (so they meet within the batch) and strangers."""
    entries = []
    for _ in range(24):
        cluster = known[int(scene.rng.integers(len(known)))] if known else scene.cluster()
        back = timedelta(hours=float(scene.rng.uniform(0, 72)))
        entries.append(scene.article(cluster, float(scene.rng.uniform(0.5, 1.3)), seen - back))
    fresh = scene.cluster()
    entries += [scene.article(fresh, 0.8, seen - timedelta(hours=n)) for n in range(6)]
    entries += [scene.article(scene.cluster(), 1.0, seen) for _ in range(4)]
    order = scene.rng.permutation(len(entries))
    return [entries[i] for i in order]


def batch_of(
    scene: Scene, entries: Sequence[ParsedEntry], seen: datetime
) -> tuple[list[BatchArticle], Vectors]:
    batch = [
        BatchArticle(1_000_000 + n, e.title, e.summary, min(e.published_at or seen, seen))
        for n, e in enumerate(entries)
    ]
    _, vectors = stored_form(scene.embedder.embed([e.title for e in entries]))
    return batch, vectors


def same_decisions(a: Sequence[StoryDecision], b: Sequence[StoryDecision]) -> bool:
    """Equal events, threads and nearest articles; the nearest cosine equal to float32
    rounding (products of matrices of other shapes may differ in the last bit)."""
    return len(a) == len(b) and all(
        replace(x, similarity=0.0) == replace(y, similarity=0.0)
        and abs(x.similarity - y.similarity) < 1e-5
        for x, y in zip(a, b, strict=True)
    )


def both_ways(
    sessions: sessionmaker[Session],
    window: StoryWindow,
    batch: Sequence[BatchArticle],
    vectors: Vectors,
    now: datetime,
    models: StoryModels,
) -> tuple[list[StoryDecision], list[StoryDecision], int, int]:
    """Decisions over the narrowed window and over the full scan, and both windows' sizes."""
    with sessions.begin() as session:
        full = window_of(select_story_window(session, window.since(now), window.model_id))
        narrowed = window.candidates(session, vectors, now)
    seeds = [None] * len(batch)
    return (
        assign_events(batch, vectors, narrowed, seeds, models, 0.85),
        assign_events(batch, vectors, full, seeds, models, 0.85),
        len(narrowed.article_ids),
        len(full.article_ids),
    )


def build_window(
    sessions: sessionmaker[Session],
    processor: Processor,
    scene: Scene,
    clock: list[datetime],
    rounds: int,
    check: bool,
) -> list[tuple[list[StoryDecision], list[StoryDecision], int, int]]:
    """Store and process `rounds` cycles a day apart; with `check`, compare both ways on each
    cycle's batch first."""
    compared = []
    for day in range(rounds):
        seen = NOW - timedelta(days=rounds - day)
        clock[0] = seen + timedelta(minutes=5)
        entries = round_entries(scene, list(range(len(scene.centres))), seen)
        if check:
            batch, vectors = batch_of(scene, entries, seen)
            models = processor.story_models()
            compared.append(both_ways(sessions, processor.window, batch, vectors, clock[0], models))
        store_entries(sessions, entries, seen)
        processor.process_pending()
    return compared


class TestNarrowedWindow:
    @pytest.mark.parametrize("models", sorted(MODELS))
    def test_decisions_equal_the_full_window_scan(
        self, sessions: sessionmaker[Session], tagger: Tagger, models: str
    ) -> None:
        """Cycle after cycle, the candidates the index picks give each batch article the event
        and thread the full-window scan gives, within-batch joins included."""
        scene, clock = new_scene(), [NOW]
        processor = crafted_processor(sessions, tagger, scene, clock, MODELS[models])
        compared = build_window(sessions, processor, scene, clock, 6, check=True)
        for narrowed, full, _, _ in compared:
            assert same_decisions(narrowed, full)
        decisions = [d for narrowed, _, _, _ in compared for d in narrowed]
        assert any(d.story_id > 0 for d in decisions)  # joined a stored event
        assert any(d.story_id < 0 and not d.starts_story for d in decisions)  # within the batch
        assert any(d.starts_story for d in decisions)
        assert all(n < f for _, _, n, f in compared[2:])  # it did read fewer rows
        assert processor.window.full_reads == 0
        assert len(processor.window.evidence) > 0  # the narrowed windows' evidence was kept

    def test_an_approximate_index_still_finds_the_candidates(
        self, sqlite_sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """Past `approximate_above` the index answers from its codes; on a window this small
        (each day's best codes are nearly all of it) the decisions are still the full scan's."""
        scene, clock = new_scene(), [NOW]
        processor = crafted_processor(sqlite_sessions, tagger, scene, clock, approximate_above=50)
        compared = build_window(sqlite_sessions, processor, scene, clock, 6, check=True)
        assert processor.window.index is not None
        assert processor.window.index.mode == "approximate"
        for narrowed, full, _, _ in compared:
            assert same_decisions(narrowed, full)
        assert sum(d.story_id > 0 for narrowed, _, _, _ in compared for d in narrowed) > 20

    def test_neighbours_missing_from_the_window_are_made_up_for(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """Indexed articles that left the window (their event gone) do not displace the next
        nearest ones; when too few of the nearest are left, the batch reads the whole window."""
        scene, clock = new_scene(), [NOW]
        processor = crafted_processor(sessions, tagger, scene, clock)
        build_window(sessions, processor, scene, clock, 2, check=False)
        seen = NOW - timedelta(hours=6)
        thinned, dense = scene.cluster(), scene.cluster()
        entries = [scene.article(thinned, 0.7, seen) for _ in range(20)]
        entries += [scene.article(dense, 0.2, seen) for _ in range(NEAREST_PER_ARTICLE + 10)]
        store_entries(sessions, entries, seen)
        clock[0] = seen + timedelta(minutes=1)
        processor.process_pending()
        gone = [e.guid for e in entries[:10]] + [e.guid for e in entries[20:50]]
        with sessions.begin() as session:
            session.execute(update(Article).where(Article.guid.in_(gone)).values(story_id=None))
        window = processor.window
        for cluster, full_reads in ((thinned, 0), (dense, 1)):
            later = [scene.article(cluster, 0.7 if cluster == thinned else 0.2, seen)]
            batch, vectors = batch_of(scene, later, seen)
            narrowed, full, _, _ = both_ways(
                sessions, window, batch, vectors, clock[0], processor.story_models()
            )
            assert same_decisions(narrowed, full) and narrowed[0].story_id > 0
            assert window.full_reads == full_reads

    def test_batch_articles_are_indexed_once_by_the_next_refresh(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """After several batches the index holds each processed article once: exactly the
        stored window."""
        scene, clock = new_scene(), [NOW]
        processor = crafted_processor(sessions, tagger, scene, clock)
        build_window(sessions, processor, scene, clock, 3, check=False)
        window = processor.window
        with sessions.begin() as session:
            window.candidates(session, np.zeros((0, DIMENSIONS), np.float32), clock[0])
            stored = select_story_window(session, window.since(clock[0]), window.model_id)
        assert window.index is not None
        ids = np.concatenate([b.ids[: b.size] for b in window.index.blocks()])
        assert sorted(ids.tolist()) == stored.article_ids and len(ids) == 3 * 34


class TestEvidenceCache:
    def test_kept_evidence_is_reused_and_equals_gathering_it(self) -> None:
        """An article's evidence is gathered once and then returned as kept, equal to what
        gathering it anew gives."""
        cache = EvidenceCache()
        text = ("Lavrov meets Maduro in Caracas", "The ministers signed 12 agreements.")
        first = cache.of([7], [text])[0]
        assert first == gather_evidence(*text)
        assert cache.of([7], [text])[0] is first

    def test_a_changed_text_is_gathered_again(self) -> None:
        """An entry gathered from another text of the article is not used."""
        cache = EvidenceCache()
        cache.of([7], [("Lavrov in Caracas", "")])
        changed = ("Lula in Brasilia", "")
        assert cache.of([7], [changed])[0] == gather_evidence(*changed)
        assert len(cache) == 1

    def test_the_cache_keeps_the_most_recently_used_up_to_its_limit(self) -> None:
        """Past the limit the least recently used article is dropped."""
        cache = EvidenceCache(limit=2)
        texts = {i: (f"Title {i} Maduro", "") for i in range(3)}
        cache.of([0, 1], [texts[0], texts[1]])
        cache.of([0], [texts[0]])  # 1 is now the least recently used
        cache.of([2], [texts[2]])
        assert list(cache.entries) == [0, 2]
        assert EvidenceCache().limit == EVIDENCE_CACHE > 0

    def test_window_rows_give_each_rows_evidence_from_the_cache_when_asked(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """The index built from window rows with a cache gives each row's evidence, gathered
        into the cache only for the rows asked for."""
        scene, clock = new_scene(), [NOW]
        processor = crafted_processor(sessions, tagger, scene, clock, MODELS["fitted"])
        build_window(sessions, processor, scene, clock, 2, check=False)
        with sessions.begin() as session:
            rows = select_story_window(session, NOW - timedelta(days=7), "crafted")
        cache = EvidenceCache()
        index = window_of(rows, cache)
        assert len(rows.article_ids) > 2
        assert index.evidence_of(1) == gather_evidence(*rows.texts[1])
        assert list(cache.entries) == [rows.article_ids[1]]
        assert [index.evidence_of(n) for n in range(len(rows.texts))] == [
            gather_evidence(*t) for t in rows.texts
        ]
        assert len(cache) == len(rows.article_ids)

    def test_opening_the_window_gathers_the_newest_articles_evidence(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """A processor warming up (open_window) finds the evidence of its stored window's
        newest articles (up to the cache's limit) kept, equal to gathering it anew; a window
        opened by a first batch gathers none ahead."""
        scene, clock = new_scene(), [NOW]
        builder = crafted_processor(sessions, tagger, scene, clock, MODELS["fitted"])
        build_window(sessions, builder, scene, clock, 2, check=False)
        with sessions.begin() as session:
            rows = select_story_window(session, NOW - timedelta(days=7), "crafted")
        fresh = crafted_processor(sessions, tagger, scene, clock, MODELS["fitted"])
        fresh.window.evidence.limit = limit = len(rows.article_ids) // 2
        fresh.open_window()
        newest = dict(zip(rows.article_ids[-limit:], rows.texts[-limit:], strict=True))
        kept = fresh.window.evidence.entries
        assert list(kept) == sorted(newest)  # the newest one the most recently used
        assert all(kept[i] == (text, gather_evidence(*text)) for i, text in newest.items())
        one_shot = crafted_processor(sessions, tagger, scene, clock, MODELS["fitted"])
        one_shot.window.open(sessions, clock[0])  # as a first batch opens it
        assert one_shot.window.index is not None and not one_shot.window.evidence.entries


class TestSavedWindow:
    def test_saved_index_is_loaded_and_then_refreshed(
        self,
        sqlite_sessions: sessionmaker[Session],
        tagger: Tagger,
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A saved index is loaded at the next start when the database still matches it, and
        catches up with what was stored after the save."""
        scene, clock = new_scene(), [NOW]
        first = crafted_processor(sqlite_sessions, tagger, scene, clock, index_dir=tmp_path)
        build_window(sqlite_sessions, first, scene, clock, 2, check=False)
        assert first.save_window() and first.window.index is not None
        saved = sorted(i for b in first.window.index.blocks() for i in b.ids[: b.size].tolist())
        assert (tmp_path / model_folder("crafted") / "index.json").is_file()
        build_window(sqlite_sessions, first, scene, clock, 1, check=False)  # after the save
        second = crafted_processor(sqlite_sessions, tagger, scene, clock, index_dir=tmp_path)
        with caplog.at_level(logging.INFO, logger="monitor.story_window"):
            second.open_window()
        assert "window index loaded" in caplog.text
        assert second.window.index is not None
        loaded = sorted(i for b in second.window.index.blocks() for i in b.ids[: b.size].tolist())
        assert loaded == saved and len(saved) == 34  # the last batch was not read back yet
        with sqlite_sessions.begin() as session:
            second.window.candidates(session, np.zeros((0, DIMENSIONS), np.float32), clock[0])
        assert len(second.window.index) == 3 * 34

    def test_index_saved_from_another_database_is_rebuilt(
        self,
        make_settings: SettingsFactory,
        sqlite_sessions: sessionmaker[Session],
        tagger: Tagger,
        tmp_path: Path,
    ) -> None:
        """A saved index that does not match the database (another database, deleted
        articles) is not used: the index is read from the database instead."""
        scene, clock = new_scene(), [NOW]
        first = crafted_processor(sqlite_sessions, tagger, scene, clock, index_dir=tmp_path)
        build_window(sqlite_sessions, first, scene, clock, 2, check=False)
        first.save_window()
        other_url = f"sqlite:///{tmp_path / 'other.db'}"
        engine = open_engine(make_settings(database={"url": other_url}).database)
        migrate.upgrade(engine)
        other = sessionmaker(engine, expire_on_commit=False)
        store_entries(other, round_entries(scene, [0, 1], NOW - timedelta(hours=2)), NOW)
        crafted_processor(other, tagger, scene, clock).process_pending()
        second = crafted_processor(other, tagger, scene, clock, index_dir=tmp_path)
        second.open_window()
        with other() as session:
            stored = count_window_vectors(session, "crafted", second.window.since(clock[0]), 10**9)
        assert second.window.index is not None and len(second.window.index) == stored == 34
        engine.dispose()

    def test_runtime_saves_the_index_when_it_closes(
        self,
        make_settings: SettingsFactory,
        sqlite_sessions: sessionmaker[Session],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """`[stories] index_dir` is where the runtime saves the processor's index on the way
        out; with "" nothing is saved."""

        async def run(settings_dir: str) -> None:
            monkeypatch.setenv("MONITOR_STORIES__INDEX_DIR", settings_dir)  # beats any default
            settings = make_settings(
                stories={"model_file": str(PROJECT_ROOT / "config" / "stories.toml")},
                relevance=PROJECT_RELEVANCE,
            )
            assert settings.stories.index_dir == settings_dir
            embedder = LazyEmbedder(settings, BagOfWordsEmbedder())
            async with open_runtime(settings, sqlite_sessions, embedder=embedder) as runtime:
                await process_pending(runtime)

        scene = new_scene()
        store_entries(sqlite_sessions, round_entries(scene, [], NOW), NOW)
        asyncio.run(run(str(tmp_path / "index")))
        assert (tmp_path / "index" / model_folder("fake-bag-of-words") / "vectors.npz").is_file()
        workdir = tmp_path / "work"
        workdir.mkdir()
        monkeypatch.chdir(workdir)
        store_entries(sqlite_sessions, round_entries(scene, [], NOW), NOW)
        asyncio.run(run(""))
        assert not list(workdir.iterdir())


@pytest.mark.postgres
class TestTwoWorkers:
    def test_an_article_stored_by_another_worker_is_a_candidate(
        self, postgres_url: str, make_settings: SettingsFactory, tagger: Tagger
    ) -> None:
        """Worker B's index, open since its first batch, finds the article worker A stored a
        moment ago, and B's copy of it joins A's event."""
        engines = [
            open_engine(make_settings(database={"url": postgres_url}).database) for _ in range(2)
        ]
        migrate.upgrade(engines[0])
        a_sessions, b_sessions = (sessionmaker(e, expire_on_commit=False) for e in engines)
        scene, clock = new_scene(), [NOW]
        worker_a = crafted_processor(a_sessions, tagger, scene, clock)
        worker_b = crafted_processor(b_sessions, tagger, scene, clock)
        store_entries(a_sessions, round_entries(scene, [], NOW - timedelta(hours=3)), NOW)
        assert worker_b.process_pending().articles == 34  # B's index is open and up to date
        story = scene.cluster()
        store_entries(a_sessions, [scene.article(story, 0.3, NOW)], NOW)
        assert worker_a.process_pending().articles == 1
        with a_sessions() as session:
            [(original, event)] = session.execute(
                select(Article.id, Article.story_id).where(Article.guid == f"a{scene.count}")
            ).all()
        store_entries(a_sessions, [scene.article(story, 0.3, NOW)], NOW)
        assert worker_b.process_pending().joined_stories == 1
        assert worker_b.window.index is not None
        assert original in {int(i) for b in worker_b.window.index.blocks() for i in b.ids[: b.size]}
        with b_sessions() as session:
            copy = session.get(Article, original + 1)
            assert copy is not None and copy.story_id == event
        for engine in engines:
            engine.dispose()


class TestStorySettings:
    def test_index_settings_defaults_and_empty_dir(self) -> None:
        """The index is saved under var/index by default; "" turns saving off."""
        assert StorySettings().index_path == Path("var/index")
        assert StorySettings(index_dir="").index_path is None
        assert StorySettings().approximate_above == DEFAULT_APPROXIMATE_ABOVE == 50_000
        with pytest.raises(ValueError, match="approximate_above"):
            StorySettings(approximate_above=0)

    def test_approximate_above_reaches_the_index(
        self, sqlite_sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """`[stories] approximate_above` is the processor's window index's."""
        scene = new_scene()
        processor = Processor(
            sqlite_sessions,
            replace(tagger, embedder=scene.embedder),
            StorySettings(approximate_above=5),
            lambda: NOW,
        )
        processor.open_window()
        assert processor.window.index is not None
        assert processor.window.index.approximate_above == 5


def test_index_saved_from_another_database_with_as_many_articles_is_rebuilt(
    make_settings: SettingsFactory, tagger: Tagger, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Databases A and B hold the same number of window vectors up to the watermark (the count
    check passes) but different vectors: A's saved index is not loaded into B, so B's next
    batch decides as B's full scan does."""

    def database(name: str) -> sessionmaker[Session]:
        url = f"sqlite:///{tmp_path / name}"
        engine = open_engine(make_settings(database={"url": url}).database)
        migrate.upgrade(engine)
        return sessionmaker(engine, expire_on_commit=False)

    a, b = database("a.db"), database("b.db")
    scene_a = Scene(CraftedEmbedder(), np.random.default_rng(11), [])
    scene_b = Scene(CraftedEmbedder(), np.random.default_rng(99), [])
    clock = [NOW]
    saving = crafted_processor(a, tagger, scene_a, clock, index_dir=tmp_path / "index")
    build_window(a, saving, scene_a, clock, 2, check=False)
    assert saving.save_window()
    clock = [NOW]
    build_window(b, crafted_processor(b, tagger, scene_b, clock), scene_b, clock, 2, check=False)
    second = crafted_processor(b, tagger, scene_b, clock, index_dir=tmp_path / "index")
    with caplog.at_level(logging.INFO, logger="monitor.story_window"):
        second.open_window()
    assert "window index loaded" not in caplog.text
    clock[0] = NOW + timedelta(minutes=5)
    entries = round_entries(scene_b, list(range(len(scene_b.centres))), NOW)
    batch, vectors = batch_of(scene_b, entries, NOW)
    narrowed, full, _, _ = both_ways(b, second.window, batch, vectors, clock[0], MODELS["cosine"])
    assert [d.story_id for d in narrowed] == [d.story_id for d in full]
