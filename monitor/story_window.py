"""The processor's story window: an in-memory window index (monitor.window_index) kept for the
life of the process, and from it the few stored articles each batch is compared with.

Under the story lock a batch drops what aged out of the window, reads what any worker stored
since the index's watermark (so an article committed a second ago by another process is a
candidate), takes each batch article's nearest stored articles and reads only their rows
(event, thread, time, text, vector) to build the exact index `monitor.stories` decides over.
The batch's own articles are read by the next batch's refresh, once they are committed.

Assignment weighs at most `CANDIDATES` window articles per batch article, the most similar
ones at or above `CANDIDATE_FLOOR`, so reading each article's best `CANDIDATES + NEAR_TIE_MARGIN`
gives the full scan's decisions; an index neighbour that is not in the window (its event was
deleted) is made up for from the rest of the `NEAREST_PER_ARTICLE`, and when even those run out
the batch reads the whole window. Events and threads always come from the database at that
moment: the groups the index holds may be stale (a split, a merge) and are never used here.

Each candidate's evidence (`monitor.story_evidence`) is kept for the life of the process, up to
`EVIDENCE_CACHE` articles, least recently used dropped first: the same window articles are
candidates batch after batch, and gathering their evidence anew was a third of assignment.

The index is saved when the process stops and loaded at the next start if the database still
holds exactly what it was read from (else rebuilt); a file lock lets processes share the folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import DEFAULT_APPROXIMATE_ABOVE
from monitor.storage.stories import (
    WindowRows,
    count_window_vectors,
    select_story_window,
    select_window_texts,
)
from monitor.storage.vectors import decode_blobs, vectors_of_articles
from monitor.stories import CANDIDATE_FLOOR, CANDIDATES, BruteForceIndex
from monitor.story_evidence import Evidence, gather_evidence
from monitor.vectors import Vectors
from monitor.window_index import Neighbours, WindowIndex, load_index

log = logging.getLogger(__name__)

# Neighbours taken per batch article: `CANDIDATES` are weighed, the rest stand in for index
# entries the window query does not return. The search cost barely depends on it (the product
# with every window vector dominates; keeping 32 instead of 8 best per block adds a sort of
# 256 × 64 per 16k rows), and the rows read stay `CANDIDATES + NEAR_TIE_MARGIN` per article.
NEAREST_PER_ARTICLE = 32
# Extra neighbours read beyond `CANDIDATES`: the index and the exact product rank with float32
# products of different shapes, which may order two near-equal cosines differently.
NEAR_TIE_MARGIN = 4
# Cosines this close under the floor are read too, for the same reason.
FLOOR_SLACK = 1e-4
# Candidates whose evidence is kept (about 3.4 kB each: some 170 MB when full). A batch reads
# at most BATCH_ARTICLES x read_per_article() rows, mostly of the same recent events.
EVIDENCE_CACHE = 50_000
SAVED_SAMPLE_ARTICLES = 64  # checked against the database before a saved index is used
SAVE_WAIT_S = 10.0  # how long saving at shutdown waits for a batch in hand to finish


def empty_window() -> BruteForceIndex:
    return BruteForceIndex((), (), np.zeros((0, 0), dtype=np.float32))


@dataclass
class EvidenceCache:
    """Articles' evidence by article id, the `limit` most recently used; an entry is used only
    while the article's text is the one it was gathered from."""

    limit: int = EVIDENCE_CACHE
    entries: OrderedDict[int, tuple[tuple[str, str], Evidence]] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return len(self.entries)

    def of(self, article_ids: Sequence[int], texts: Sequence[tuple[str, str]]) -> list[Evidence]:
        """Each article's `gather_evidence(title, summary)`, gathered only when not kept."""
        with self.lock:
            return [self.one(i, text) for i, text in zip(article_ids, texts, strict=True)]

    def get(self, article_id: int, text: tuple[str, str]) -> Evidence:
        """One article's evidence (`of` for one)."""
        with self.lock:
            return self.one(article_id, text)

    def one(self, article_id: int, text: tuple[str, str]) -> Evidence:
        kept = self.entries.get(article_id)
        if kept is not None and kept[0] == text:
            self.entries.move_to_end(article_id)
            return kept[1]
        evidence = gather_evidence(*text)
        self.entries[article_id] = (text, evidence)
        self.entries.move_to_end(article_id)
        while len(self.entries) > self.limit:
            self.entries.popitem(last=False)
        return evidence


@dataclass(frozen=True, slots=True)
class CachedWindow(BruteForceIndex):
    """The exact index over window rows, whose evidence comes from the cache when assignment
    first asks for it: only the candidates it weighs (at most `CANDIDATES` above the floor per
    batch article, about three in four of the rows read) are gathered, not every row read."""

    cache: EvidenceCache = field(default_factory=EvidenceCache, compare=False, repr=False)

    def evidence_of(self, position: int) -> Evidence:
        return self.cache.get(self.article_ids[position], self.texts[position])


def window_of(rows: WindowRows, cache: EvidenceCache | None = None) -> BruteForceIndex:
    """The exact index `assign_events` reads, over these rows (taking their evidence from
    `cache` as it is asked for, when given)."""
    if not rows.article_ids:
        return empty_window()
    columns = (
        tuple(rows.article_ids),
        tuple(rows.event_ids),
        decode_blobs(rows.vectors),
        tuple(rows.thread_ids),
        tuple(rows.times),
        tuple(rows.texts),
    )
    if cache is None:
        return BruteForceIndex(*columns)
    return CachedWindow(*columns, cache=cache)


def read_per_article() -> int:
    return CANDIDATES + NEAR_TIE_MARGIN


def above_floor(found: Neighbours) -> npt.NDArray[np.bool_]:
    """Which neighbours can matter (best first, so a prefix of each row)."""
    return np.asarray(found.similarities >= CANDIDATE_FLOOR - FLOOR_SLACK)


def first_wanted(found: Neighbours) -> list[int]:
    """Each article's best `read_per_article()` neighbours above the floor."""
    head = slice(0, read_per_article())
    return sorted({int(i) for i in found.article_ids[:, head][above_floor(found)[:, head]]})


def present_in(found: Neighbours, read: set[int]) -> npt.NDArray[np.bool_]:
    wanted = above_floor(found)
    ids = np.fromiter(read, dtype=np.int64, count=len(read))
    return wanted & np.isin(found.article_ids, ids)


def short_rows(found: Neighbours, read: set[int]) -> npt.NDArray[np.bool_]:
    """Articles with fewer than `read_per_article()` of their neighbours read, though more
    neighbours above the floor are there to try."""
    wanted = above_floor(found).sum(axis=1)
    got = present_in(found, read).sum(axis=1)
    return np.asarray((got < read_per_article()) & (wanted > read_per_article()))


def is_exhausted(found: Neighbours, read: set[int]) -> bool:
    """Whether some article's window neighbours may lie beyond the `k` the index gave: all `k`
    are above the floor, yet fewer than `read_per_article()` of them are in the window."""
    if not found.article_ids.shape[1]:
        return False
    got = present_in(found, read).sum(axis=1)
    full = above_floor(found)[:, -1]
    return bool(np.any(full & (got < read_per_article())))


def model_folder(model_id: str) -> str:
    """A folder name for a model id (which may be a path)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("._")[:60]
    return f"{readable}-{hashlib.sha256(model_id.encode()).hexdigest()[:10]}"


@contextmanager
def folder_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock on `directory` among processes (saves and loads do not interleave)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class StoryWindow:
    """One model's window index for one processor, with the lock its users take."""

    model_id: str
    window_days: int
    directory: Path | None = None  # where the index is saved (None: never)
    # Window vectors above which the index may answer approximately (then a batch article
    # may miss a neighbour the full scan would weigh).
    approximate_above: int = DEFAULT_APPROXIMATE_ABOVE
    index: WindowIndex | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    full_reads: int = 0  # batches that had to read the whole window
    evidence: EvidenceCache = field(default_factory=EvidenceCache)

    @property
    def folder(self) -> Path | None:
        return self.directory / model_folder(self.model_id) if self.directory else None

    def since(self, now: datetime) -> datetime:
        return now - timedelta(days=self.window_days)

    def open(
        self, sessions: sessionmaker[Session], now: datetime, warm: bool = False
    ) -> WindowIndex:
        """The index, loaded on first use: the saved copy if the database still holds what
        it was read from, else rebuilt from the database (outside the story lock: the
        refresh under it reads whatever was committed in between). `warm`: a long-running
        process warming up also gathers the evidence of the newest articles (`warm_evidence`);
        a one-shot run's first batch does not pay for it."""
        with self.lock:
            if self.index is None:
                with sessions() as session:
                    self.index = self.load_or_rebuild(session, self.since(now))
                    if warm:
                        self.warm_evidence(session, self.since(now))
            return self.index

    def warm_evidence(self, session: Session, since: datetime) -> None:
        """Gather the evidence of the newest window articles (as many as the cache keeps) at
        start, so the first batches do not gather their candidates' one by one: in a running
        process the window's articles are mostly its own batches', whose evidence is kept when
        they are encoded."""
        rows = select_window_texts(session, since, self.model_id, self.evidence.limit)
        self.evidence.of([i for i, _ in rows], [text for _, text in rows])

    def load_or_rebuild(self, session: Session, since: datetime) -> WindowIndex:
        saved = self.load_saved()
        if saved is not None:
            saved.expire(since)
            expected = count_window_vectors(session, self.model_id, since, saved.watermark)
            if expected == len(saved) and holds_same_vectors(session, saved):
                log.info("window index loaded", extra={"vectors": len(saved)})
                return saved
            log.info(
                "saved window index does not match the database; rebuilding",
                extra={"saved": len(saved), "database": expected},
            )
        index = WindowIndex(self.model_id, 0, approximate_above=self.approximate_above)
        index.rebuild(session, since)
        return index

    def load_saved(self) -> WindowIndex | None:
        folder = self.folder
        if folder is None or not (folder / "index.json").is_file():
            return None
        with folder_lock(folder):
            return load_index(folder, self.model_id, approximate_above=self.approximate_above)

    def candidates(self, session: Session, vectors: Vectors, now: datetime) -> BruteForceIndex:
        """The window articles `assign_events` may weigh for these batch vectors, read from
        the database; call it holding the story lock (and `open` before, outside it)."""
        since = self.since(now)
        with self.lock:
            if self.index is None:
                self.index = self.load_or_rebuild(session, since)
            index = self.index
            index.expire(since)
            index.refresh_from(session, since)
            if not len(index) or not len(vectors):
                return empty_window()
            found = index.nearest(vectors, NEAREST_PER_ARTICLE, since)
        rows = self.read_candidates(session, found, since)
        if rows is None:
            self.full_reads += 1
            rows = select_story_window(session, since, self.model_id)
        return window_of(rows, self.evidence)

    def read_candidates(
        self, session: Session, found: Neighbours, since: datetime
    ) -> WindowRows | None:
        """The rows of each article's best neighbours in the window; None when they may not
        cover what the full scan would weigh."""
        rows = select_story_window(session, since, self.model_id, first_wanted(found))
        read = set(rows.article_ids)
        short = short_rows(found, read)
        if short.any():  # some neighbours are not in the window: read the rest of theirs
            extra = found.article_ids[short][above_floor(found)[short]]
            wanted = read | {int(i) for i in extra}
            rows = select_story_window(session, since, self.model_id, sorted(wanted))
            read = set(rows.article_ids)
        return None if is_exhausted(found, read) else rows

    def save(self) -> bool:
        """Write the index to its folder (if it has one and was opened); False when nothing
        was saved."""
        folder = self.folder
        if folder is None or self.index is None:
            return False
        if not self.lock.acquire(timeout=SAVE_WAIT_S):
            log.warning("window index busy; not saved")
            return False
        try:
            with folder_lock(folder):
                self.index.save(folder)
        finally:
            self.lock.release()
        log.info("window index saved", extra={"vectors": len(self.index), "folder": str(folder)})
        return True


def holds_same_vectors(session: Session, saved: WindowIndex) -> bool:
    """Whether articles spread over a saved index still carry, in this database, the vectors
    the index holds for them: a copy saved from another database with as many articles (a
    restored backup, another install sharing the folder) is caught here."""
    sample = saved.sample(SAVED_SAMPLE_ARTICLES)
    stored = vectors_of_articles(session, sorted(sample))
    for article_id, vector in sample.items():
        blob = stored.get(article_id)
        if blob is None or not np.allclose(decode_blobs([blob])[0], vector, atol=1e-3):
            return False
    return True
