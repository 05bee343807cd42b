"""The approximate window index kept up to date from a real database by its watermark, and
rebuilt from it, answers as the exact index does (SQLite and PostgreSQL)."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage.vectors import stream_vectors
from monitor.window_index import WindowIndex
from tests.test_vector_storage import MODEL, feed_sessions, store, unit_vectors

pytestmark = pytest.mark.integration
__all__ = ["feed_sessions"]  # the fixture, used by name below


def noisy(vectors: np.ndarray, seed: int) -> np.ndarray:
    """Queries near stored vectors, so each has one clear nearest article."""
    rng = np.random.default_rng(seed)
    shifted = vectors + 0.05 * rng.standard_normal(vectors.shape)
    return (shifted / np.linalg.norm(shifted, axis=1, keepdims=True)).astype(np.float32)


class TestRefreshAndRebuild:
    def test_refresh_and_rebuild_equal_the_exact_index(
        self, feed_sessions: sessionmaker[Session]
    ) -> None:
        """Read past `approximate_above` the index turns approximate (24 dimensions: 24 codes);
        rows stored after it are read by the next refresh and found; a rebuild gives the same
        answers; all equal the exact index's."""
        first, later = unit_vectors(300, 1), unit_vectors(60, 2)
        with feed_sessions.begin() as session:
            store(session, range(1, 301), first)
        approximate = WindowIndex(MODEL, 0, approximate_above=100)
        exact = WindowIndex(MODEL, 0, approximate_above=10**9)
        with feed_sessions() as session:
            assert approximate.refresh_from(session, None) == 300
            exact.refresh_from(session, None)
        assert approximate.mode == "approximate" and exact.mode == "exact"
        with feed_sessions.begin() as session:
            store(session, range(301, 361), later)
        with feed_sessions() as session:
            assert approximate.refresh_from(session, None) == 60
            exact.refresh_from(session, None)
        queries = noisy(np.vstack([first[::10], later]), 3)
        want = exact.nearest(queries, 1)
        got = approximate.nearest(queries, 1)
        assert (got.article_ids == want.article_ids).all()
        assert np.allclose(got.similarities, want.similarities, atol=1e-5)
        with feed_sessions() as session:
            approximate.rebuild(session, None)
            stored = sum(len(c) for c in stream_vectors(session, MODEL, None, 0))
        assert len(approximate) == stored == 360 and approximate.mode == "approximate"
        assert (approximate.nearest(queries, 1).article_ids == want.article_ids).all()
