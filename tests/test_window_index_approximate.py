"""The window index's approximate mode (above `approximate_above`) against the exact one, on
crafted clustered vectors: the nearest article and its exact similarity, the time cut, allowed
ids, expiry, group updates, persistence, and the codes-only variant search uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from monitor.approximate_index import QUERY_BLOCKS, Codebook
from monitor.config import DEFAULT_APPROXIMATE_ABOVE
from monitor.storage.vectors import VectorRows
from monitor.vectors import normalise_rows
from monitor.window_index import WindowIndex, load_index

pytestmark = pytest.mark.unit

START = datetime(2026, 11, 20, tzinfo=UTC)
DIM = 64
CLUSTERS = 400
ROWS = 3_000


def clustered(count: int, seed: int = 0) -> tuple[VectorRows, np.ndarray]:
    """`count` float16-exact unit vectors around CLUSTERS random centres (group = cluster),
    first seen over 5 days, and the centres."""
    rng = np.random.default_rng(seed)
    centres = normalise_rows(rng.standard_normal((CLUSTERS, DIM)))
    clusters = rng.integers(0, CLUSTERS, count)
    vectors = normalise_rows(centres[clusters] + 0.5 * rng.standard_normal((count, DIM)) / 8)
    ids = np.arange(1, count + 1, dtype=np.int64)
    rows = VectorRows(
        ids,
        clusters.astype(np.int64),
        START.timestamp() + rng.uniform(0, 5 * 86_400, count),
        vectors.astype(np.float16).astype(np.float32),
        0,
    )
    return rows, centres


def queries_near(centres: np.ndarray, count: int, seed: int = 9) -> np.ndarray:
    """New articles of known clusters (each has a clear nearest neighbour)."""
    rng = np.random.default_rng(seed)
    picked = centres[rng.integers(0, len(centres), count)]
    return normalise_rows(picked + 0.5 * rng.standard_normal((count, DIM)) / 8)


def filled(rows: VectorRows, approximate_above: int, keep_vectors: bool = True) -> WindowIndex:
    index = WindowIndex(
        "model", DIM, approximate_above=approximate_above, keep_vectors=keep_vectors
    )
    for start in range(0, len(rows), 250):
        stop = start + 250
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


ROWS_AND_CENTRES = clustered(ROWS)
QUERIES = queries_near(ROWS_AND_CENTRES[1], 200)


@pytest.fixture
def pair() -> tuple[WindowIndex, WindowIndex]:
    """The same rows in an exact index and in one that turned approximate at 1,000 rows."""
    rows, _ = ROWS_AND_CENTRES
    return filled(rows, 10**9), filled(rows, 1_000)


class TestModes:
    def test_exact_below_the_size_approximate_above(self) -> None:
        """At or below `approximate_above` rows the index stays exact; one more row turns it."""
        rows, _ = ROWS_AND_CENTRES
        assert filled(rows, ROWS).mode == "exact"
        assert filled(rows, ROWS - 1).mode == "approximate"
        assert WindowIndex("model", DIM).approximate_above == DEFAULT_APPROXIMATE_ABOVE == 50_000

    def test_nearest_and_similarity_equal_the_exact_index(
        self, pair: tuple[WindowIndex, WindowIndex]
    ) -> None:
        """The approximate index finds the exact nearest article of every query, with the exact
        similarity (its candidates are scored from the float16 vectors)."""
        exact, approximate = pair
        assert len(approximate) == len(exact) == ROWS
        want, got = exact.nearest(QUERIES, 1), approximate.nearest(QUERIES, 1)
        assert (got.article_ids == want.article_ids).all()
        assert (got.groups == want.groups).all()
        assert np.allclose(got.similarities, want.similarities, atol=1e-5)
        assert approximate.scores_are_exact

    def test_best_five_are_mostly_the_exact_ones(
        self, pair: tuple[WindowIndex, WindowIndex]
    ) -> None:
        """Beyond the first, the approximate best five hold at least 95 % of the exact ones, and
        each similarity it reports is that article's exact one."""
        exact, approximate = pair
        want, got = exact.nearest(QUERIES, 5), approximate.nearest(QUERIES, 5)
        shared = [
            len(set(a) & set(b)) for a, b in zip(want.article_ids, got.article_ids, strict=True)
        ]
        assert sum(shared) >= 0.95 * want.article_ids.size
        rows, _ = ROWS_AND_CENTRES
        truth = rows.vectors[got.article_ids[0] - 1] @ QUERIES[0]
        assert np.allclose(got.similarities[0], truth, atol=1e-5)

    def test_since_and_allowed_equal_the_exact_index(
        self, pair: tuple[WindowIndex, WindowIndex]
    ) -> None:
        """A time cut inside a day and a list of allowed ids narrow both indexes alike."""
        exact, approximate = pair
        since = START + timedelta(days=2, hours=5)
        assert (
            approximate.nearest(QUERIES, 1, since).article_ids
            == exact.nearest(QUERIES, 1, since).article_ids
        ).all()
        allowed = np.arange(1, ROWS + 1, 5, dtype=np.int64)
        want = exact.nearest_where(QUERIES[:20], 3, None, allowed)
        got = approximate.nearest_where(QUERIES[:20], 3, None, allowed)
        assert (got.article_ids == want.article_ids).all()
        assert np.isin(got.article_ids, allowed).all()


class TestUpkeep:
    def test_expiry_equals_the_exact_index(self, pair: tuple[WindowIndex, WindowIndex]) -> None:
        """Expiring whole days and part of one drops the same rows from both, and the nearest
        articles stay the same; expiring again past everything empties the index."""
        exact, approximate = pair
        before = START + timedelta(days=2, hours=13)
        assert approximate.expire(before) == exact.expire(before)
        assert len(approximate) == len(exact)
        got, want = approximate.nearest(QUERIES, 1), exact.nearest(QUERIES, 1)
        assert (got.article_ids == want.article_ids).all()
        rows, _ = ROWS_AND_CENTRES
        assert (rows.seen_at[got.article_ids[:, 0] - 1] >= before.timestamp()).all()
        assert approximate.expire(START + timedelta(days=9)) == len(exact)
        assert len(approximate) == 0

    def test_many_small_expiries_keep_answers_exact(
        self, pair: tuple[WindowIndex, WindowIndex]
    ) -> None:
        """Expiry a few hours at a time (hidden rows, then compaction) never returns an expired
        article and agrees with the exact index after each step."""
        exact, approximate = pair
        for hours in range(6, 60, 6):
            before = START + timedelta(hours=hours)
            assert approximate.expire(before) == exact.expire(before)
            got, want = approximate.nearest(QUERIES, 1), exact.nearest(QUERIES, 1)
            assert (got.article_ids == want.article_ids).all()

    def test_adds_after_turning_approximate_are_found(self) -> None:
        """Rows added once approximate are found, with their groups, and group updates apply."""
        rows, _ = ROWS_AND_CENTRES
        index = filled(rows, 1_000)
        late, _ = clustered(50, seed=3)
        index.add(VectorRows(late.article_ids + 10_000, late.groups, late.seen_at, late.vectors, 0))
        found = index.nearest(late.vectors, 1)
        assert (found.article_ids[:, 0] == late.article_ids + 10_000).all()
        index.update_groups([10_001], [-7])
        assert index.nearest(late.vectors[:1], 1).groups[0, 0] == -7


class TestPersistence:
    def test_saved_approximate_index_loads_equal(
        self, pair: tuple[WindowIndex, WindowIndex], tmp_path: Path
    ) -> None:
        """Saved with its codes and codebook, the index loads approximate with its watermark
        and answers as before; loaded under a higher size it is exact and answers the same."""
        _, approximate = pair
        approximate.expire(START + timedelta(days=1, hours=3))
        approximate.watermark = 77
        approximate.save(tmp_path / "index")
        loaded = load_index(tmp_path / "index", "model", approximate_above=1_000)
        as_exact = load_index(tmp_path / "index", "model", approximate_above=10**9)
        assert loaded is not None and as_exact is not None
        assert loaded.mode == "approximate" and as_exact.mode == "exact"
        assert loaded.watermark == 77 and len(loaded) == len(approximate) == len(as_exact)
        before = approximate.nearest(QUERIES, 3)
        for other in (loaded, as_exact):
            after = other.nearest(QUERIES, 1)
            assert (after.article_ids[:, 0] == before.article_ids[:, 0]).all()
            assert (after.groups[:, 0] == before.groups[:, 0]).all()


class TestCodesOnly:
    def test_codes_only_finds_the_nearest_with_estimates(self) -> None:
        """Keeping only codes, the exact nearest article is among the best ten by the codes'
        estimates (search over-fetches and re-scores them); such an index is not saved."""
        rows, _ = ROWS_AND_CENTRES
        exact, codes_only = filled(rows, 10**9), filled(rows, 1_000, keep_vectors=False)
        assert not codes_only.scores_are_exact
        want, got = exact.nearest(QUERIES, 1), codes_only.nearest(QUERIES, 10)
        assert all(w in row for w, row in zip(want.article_ids[:, 0], got.article_ids, strict=True))
        truth = np.einsum("qd,qkd->qk", QUERIES, rows.vectors[got.article_ids - 1])
        assert not np.allclose(got.similarities, truth, atol=1e-3)  # estimates, not cosines
        allowed = np.arange(1, ROWS + 1, 3, dtype=np.int64)
        narrowed = codes_only.nearest_where(QUERIES[:10], 2, None, allowed)
        assert np.isin(narrowed.article_ids, allowed).all()
        with pytest.raises(ValueError, match="codes"):
            codes_only.save(Path("/nonexistent-never-written"))


class TestFastScanSettings:
    def test_the_query_blocks_find_the_rows_faiss_own_choice_finds(self) -> None:
        """QUERY_BLOCKS only changes how the scan is scheduled: the same rows come back, in
        the same order, with estimates equal to float32 rounding (many queries, and few)."""
        rows, _ = ROWS_AND_CENTRES
        codebook = Codebook.train(rows.vectors)
        scan = codebook.scan_index(codebook.encode(rows.vectors))
        assert scan.qbs == QUERY_BLOCKS
        for queries in (QUERIES, QUERIES[:5]):
            ours = scan.search(np.ascontiguousarray(queries, np.float32), 16)
            scan.qbs = 0  # faiss chooses
            theirs = scan.search(np.ascontiguousarray(queries, np.float32), 16)
            scan.qbs = QUERY_BLOCKS
            assert np.array_equal(ours[1], theirs[1])
            np.testing.assert_allclose(ours[0], theirs[0], rtol=0, atol=1e-6)
