"""The in-memory window index against an exact scan, on crafted vectors: adds, expiry, group
updates, the time cut, persistence (pure numpy, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from monitor.storage.vectors import VectorRows
from monitor.vectors import normalise_rows
from monitor.window_index import BLOCK_ROWS, NO_ARTICLE, WindowIndex, load_index

START = datetime(2026, 11, 20, tzinfo=UTC)
DIM = 32


def crafted(count: int, seed: int = 0, days: float = 5.0) -> VectorRows:
    """`count` unit vectors with ids 1000+, groups id // 3, first seen over `days` days."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1000, 1000 + count, dtype=np.int64)
    return VectorRows(
        ids,
        ids // 3,
        START.timestamp() + rng.uniform(0, days * 86_400, count),
        normalise_rows(rng.standard_normal((count, DIM))),
        0,
    )


def exact_top(rows: VectorRows, queries: np.ndarray, k: int, keep: np.ndarray | None = None):
    """The reference: the whole product at once, best first (ids and similarities)."""
    similarity = queries @ rows.vectors.T
    if keep is not None:
        similarity[:, ~keep] = -np.inf
    order = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return rows.article_ids[order], np.take_along_axis(similarity, order, axis=1)


def filled(rows: VectorRows, batch: int = 300) -> WindowIndex:
    index = WindowIndex("model", DIM)
    for start in range(0, len(rows), batch):
        stop = start + batch
        index.add(
            VectorRows(
                rows.article_ids[start:stop],
                rows.groups[start:stop],
                rows.seen_at[start:stop],
                rows.vectors[start:stop],
                0,
            )
        )
    return index


QUERIES = normalise_rows(np.random.default_rng(7).standard_normal((40, DIM)))


class TestNearest:
    def test_added_batches_match_the_exact_scan(self) -> None:
        """After many small adds (several blocks, several days) the best 5 equal the exact ones."""
        rows = crafted(BLOCK_ROWS + 3000)
        index = filled(rows)
        found = index.nearest(QUERIES, 5)
        ids, similarities = exact_top(rows, QUERIES, 5)
        assert len(index) == len(rows)
        assert (found.article_ids == ids).all()
        assert np.allclose(found.similarities, similarities, atol=1e-6)
        assert (found.groups == found.article_ids // 3).all()

    def test_fewer_articles_than_k(self) -> None:
        """With 3 articles and k=5 the last two places are empty (no id, similarity -inf)."""
        found = filled(crafted(3)).nearest(QUERIES[:2], 5)
        assert (found.article_ids[:, 3:] == NO_ARTICLE).all()
        assert np.isneginf(found.similarities[:, 3:]).all()
        assert (found.article_ids[:, :3] != NO_ARTICLE).all()

    def test_empty_index_finds_nothing(self) -> None:
        """An empty index answers every query with an empty place."""
        found = WindowIndex("model", DIM).nearest(QUERIES[:2], 1)
        assert (found.article_ids == NO_ARTICLE).all()

    def test_since_leaves_older_articles_out(self) -> None:
        """A time cut within a day excludes exactly the rows first seen before it."""
        rows = crafted(5000)
        since = START + timedelta(days=2, hours=7)
        found = filled(rows).nearest(QUERIES, 3, since=since)
        ids, _ = exact_top(rows, QUERIES, 3, rows.seen_at >= since.timestamp())
        assert (found.article_ids == ids).all()

    def test_allowed_ids_restrict_the_ranking(self) -> None:
        """nearest_where ranks only the allowed articles."""
        rows = crafted(4000)
        allowed = rows.article_ids[::7]
        found = filled(rows).nearest_where(QUERIES, 4, None, allowed)
        ids, _ = exact_top(rows, QUERIES, 4, np.isin(rows.article_ids, allowed))
        assert (found.article_ids == ids).all()


class TestUpkeep:
    def test_expiry_drops_old_rows_and_days(self) -> None:
        """Expiring before a time removes every older row, whole days and part of one."""
        rows = crafted(6000)
        index = filled(rows)
        before = START + timedelta(days=3, hours=5)
        kept = rows.seen_at >= before.timestamp()
        assert index.expire(before) == int((~kept).sum())
        assert len(index) == int(kept.sum())
        assert min(index.shards) == int(before.timestamp() // 86_400)
        ids, _ = exact_top(rows, QUERIES, 5, kept)
        assert (index.nearest(QUERIES, 5).article_ids == ids).all()

    def test_group_update_is_seen_by_the_next_search(self) -> None:
        """A reassigned article is found with its new group."""
        rows = crafted(2000)
        index = filled(rows)
        target = int(index.nearest(QUERIES[:1], 1).article_ids[0, 0])
        index.update_groups([target], [-42])
        assert index.nearest(QUERIES[:1], 1).groups[0, 0] == -42

    def test_other_dimensions_are_refused(self) -> None:
        """Vectors of another size cannot enter the index."""
        rows = crafted(2)
        wrong = VectorRows(
            rows.article_ids, rows.groups, rows.seen_at, np.zeros((2, 8), np.float32), 0
        )
        with pytest.raises(ValueError, match="dimensions"):
            filled(rows).add(wrong)


class TestPersistence:
    def test_saved_index_loads_equal(self, tmp_path: Path) -> None:
        """A saved index loads with its watermark and answers as before (float16 on disk is what
        the database holds, so nothing changes)."""
        rows = crafted(3000)
        rows = VectorRows(
            rows.article_ids,
            rows.groups,
            rows.seen_at,
            rows.vectors.astype(np.float16).astype(np.float32),
            0,
        )
        index = filled(rows)
        index.watermark = 1234
        index.save(tmp_path / "index")
        loaded = load_index(tmp_path / "index", "model")
        assert loaded is not None and loaded.watermark == 1234 and len(loaded) == len(rows)
        before, after = index.nearest(QUERIES, 5), loaded.nearest(QUERIES, 5)
        assert (before.article_ids == after.article_ids).all()
        assert (before.groups == after.groups).all()

    def test_other_model_or_nothing_saved_gives_none(self, tmp_path: Path) -> None:
        """A saved index of another model, or no saved index, is not used."""
        filled(crafted(10)).save(tmp_path / "index")
        assert load_index(tmp_path / "index", "other-model") is None
        assert load_index(tmp_path / "missing", "model") is None
