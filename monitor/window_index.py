"""The window index: stored vectors kept in memory across batches, searched exactly up to a
size and approximately above it.

One index holds the vectors of one embedding model, sharded by UTC day of first sighting (a
window of N days is N shards; expiry drops whole shards and trims the oldest one). A shard is a
list of blocks of at most `BLOCK_ROWS` float32 rows, so adding a batch never copies the
window, and a search multiplies the queries with one block at a time, keeping only the best
`k` per query: the whole queries × window matrix is never built.

Above `approximate_above` rows the index turns approximate (monitor.approximate_index): each
day becomes float16 vectors plus 4-bit product-quantiser codes, a fast scan of the codes picks
candidates per day and those are scored exactly, so the similarities reported stay exact and
only a neighbour the codes rank too low can be missed (bench/scale.py measures how often).
It stays approximate until rebuilt.

The database stays the only source of truth. `refresh_from` reads what was stored since the
index's watermark (see monitor.storage.vectors) and `rebuild` reads everything again; `save`
and `load_index` keep the vectors and watermark on disk so a restart reads only the rest.

Not thread-safe: the owner holds a lock around refresh + search (the processor: its story
lock; search: the index's own lock in monitor.search).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from monitor.approximate_index import (
    MIN_TRAIN_ROWS,
    SUBQUANTIZERS,
    TRAIN_ROWS,
    Codebook,
    CodedShard,
)
from monitor.config import DEFAULT_APPROXIMATE_ABOVE
from monitor.storage.vectors import VectorRows, stream_vectors
from monitor.vectors import Vectors

BLOCK_ROWS = 16_384  # rows per block: a 256-query product with it is 16 MB of float32
FIRST_BLOCK_ROWS = 256  # a new block's first allocation; doubled as it fills
SECONDS_PER_DAY = 86_400
NO_ARTICLE = -1
INDEX_FORMAT = 1
# Candidates a day's code scan hands to the exact scoring, at least (more when `k` is larger):
# with 8 the exact nearest was among them for every one of 5,000 articles at 1M (bench).
MIN_FETCH_PER_DAY = 16
Int64s = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Neighbours:
    """The `k` nearest indexed articles per query, best first; where fewer exist the rest of
    a row is `NO_ARTICLE` with similarity -inf."""

    article_ids: Int64s
    groups: Int64s
    similarities: Vectors


@dataclass(slots=True)
class Block:
    """Up to BLOCK_ROWS rows; the arrays are allocated ahead and filled to `size`."""

    ids: Int64s
    groups: Int64s
    seen_at: npt.NDArray[np.float64]
    vectors: Vectors
    size: int = 0

    @classmethod
    def empty(cls, capacity: int, dim: int) -> Block:
        return cls(
            np.empty(capacity, dtype=np.int64),
            np.empty(capacity, dtype=np.int64),
            np.empty(capacity, dtype=np.float64),
            np.empty((capacity, dim), dtype=np.float32),
        )

    @property
    def room(self) -> int:
        return BLOCK_ROWS - self.size

    def append(self, rows: VectorRows, start: int, stop: int) -> None:
        count = stop - start
        if self.size + count > len(self.ids):
            self.grow(min(BLOCK_ROWS, max(2 * len(self.ids), self.size + count)))
        end = self.size + count
        self.ids[self.size : end] = rows.article_ids[start:stop]
        self.groups[self.size : end] = rows.groups[start:stop]
        self.seen_at[self.size : end] = rows.seen_at[start:stop]
        self.vectors[self.size : end] = rows.vectors[start:stop]
        self.size = end

    def grow(self, capacity: int) -> None:
        self.ids = np.resize(self.ids, capacity)
        self.groups = np.resize(self.groups, capacity)
        self.seen_at = np.resize(self.seen_at, capacity)
        grown = np.empty((capacity, self.vectors.shape[1]), dtype=np.float32)
        grown[: self.size] = self.vectors[: self.size]
        self.vectors = grown

    def keep(self, mask: npt.NDArray[np.bool_]) -> None:
        """Keep only the filled rows where `mask` is true (compacting the block)."""
        kept = int(mask.sum())
        for name in ("ids", "groups", "seen_at", "vectors"):
            array = getattr(self, name)
            array[:kept] = array[: self.size][mask]
        self.size = kept


@dataclass(slots=True)
class WindowIndex:
    """Vectors of one model by day, with article ids, groups (story ids) and first-seen times."""

    model_id: str
    dim: int
    watermark: int = 0
    shards: dict[int, list[Block]] = field(default_factory=dict)  # day number → blocks
    # Ids added by hand (`add`) since the last refresh, so a refresh does not add them twice.
    added_locally: set[int] = field(default_factory=set)
    # Above this many rows the index may answer approximately; at or below it, exactly.
    approximate_above: int = field(default=DEFAULT_APPROXIMATE_ABOVE, kw_only=True)
    # The approximate mode: the codebook and the days as coded shards (`shards` is then empty).
    codebook: Codebook | None = field(default=None, kw_only=True)
    coded: dict[int, CodedShard] = field(default_factory=dict, kw_only=True)
    # False: once approximate, keep only the codes (similarities are then the codes' estimates;
    # search re-scores its candidates from the stored vectors).
    keep_vectors: bool = field(default=True, kw_only=True)
    subquantizers: int = field(default=SUBQUANTIZERS, kw_only=True)  # 4-bit codes of this many

    def __len__(self) -> int:
        exact = sum(block.size for block in self.blocks())
        return exact + sum(shard.live() for shard in self.coded.values())

    @property
    def scores_are_exact(self) -> bool:
        """Whether the similarities `nearest` reports are exact (else the codes' estimates)."""
        return self.codebook is None or self.keep_vectors

    @property
    def mode(self) -> str:
        """ "approximate" once the index has grown past `approximate_above`, else "exact"."""
        return "exact" if self.codebook is None else "approximate"

    def blocks(self, since: float | None = None) -> Iterator[Block]:
        """Every block of the shards that can hold rows first seen at or after `since`."""
        first_day = -(2**62) if since is None else int(since // SECONDS_PER_DAY)
        for day in sorted(self.shards):
            if day >= first_day:
                yield from self.shards[day]

    def sample(self, count: int) -> dict[int, Vectors]:
        """Up to `count` indexed rows spread over the index, article id → its vector (float32):
        what a saved copy is checked against the database with."""
        parts: list[tuple[Int64s, npt.NDArray[Any]]] = [
            (b.ids[: b.size], b.vectors[: b.size]) for b in self.blocks()
        ] + [(c.ids[: c.size], c.vectors[: c.size]) for c in self.coded.values() if c.keeps_vectors]
        parts = [(ids, vectors) for ids, vectors in parts if len(ids) and len(vectors)]
        if not parts:
            return {}
        ids = np.concatenate([p[0] for p in parts])
        vectors = np.concatenate([p[1].astype(np.float32) for p in parts])
        picked = np.unique(np.linspace(0, len(ids) - 1, num=min(count, len(ids))).astype(np.intp))
        return {int(ids[i]): vectors[i] for i in picked}

    def add(self, rows: VectorRows) -> None:
        """Index these rows (by hand; rows read by `refresh_from` are added there)."""
        self.insert(rows)
        self.added_locally.update(int(i) for i in rows.article_ids)

    def insert(self, rows: VectorRows) -> None:
        if not len(rows):
            return
        if self.dim == 0:
            self.dim = rows.vectors.shape[1]
        if rows.vectors.shape[1] != self.dim:
            raise ValueError(f"vectors of {rows.vectors.shape[1]} dimensions, index has {self.dim}")
        days = (rows.seen_at // SECONDS_PER_DAY).astype(np.int64)
        for day in np.unique(days):
            picked = rows_at(rows, np.flatnonzero(days == day))
            if self.codebook is None:
                self.append_to_shard(int(day), picked)
            else:
                self.append_coded(int(day), picked, None)
        if self.codebook is None and len(self) > max(self.approximate_above, MIN_TRAIN_ROWS):
            self.become_approximate()

    def append_coded(self, day: int, rows: VectorRows, codes: npt.NDArray[np.uint8] | None) -> None:
        assert self.codebook is not None
        shard = self.coded.get(day)
        if shard is None:
            shard = self.coded[day] = CodedShard.empty(self.codebook, self.keep_vectors)
        shard.append(rows.article_ids, rows.groups, rows.seen_at, rows.vectors, codes)

    def become_approximate(self) -> None:
        """Train a codebook on a sample of the rows and turn every day into a coded shard."""
        blocks = list(self.blocks())
        total = sum(block.size for block in blocks)
        sample = sample_rows(blocks, max(1, total // TRAIN_ROWS), self.dim)
        self.codebook = Codebook.train(sample, self.subquantizers)
        for day in sorted(self.shards):
            for block in self.shards.pop(day):
                self.append_coded(day, block_rows(block), None)

    def append_to_shard(self, day: int, rows: VectorRows) -> None:
        blocks = self.shards.setdefault(day, [])
        start = 0
        while start < len(rows):
            if not blocks or blocks[-1].room == 0:
                blocks.append(Block.empty(min(FIRST_BLOCK_ROWS, len(rows) - start), self.dim))
            stop = min(len(rows), start + blocks[-1].room)
            blocks[-1].append(rows, start, stop)
            start = stop

    def expire(self, before: datetime) -> int:
        """Drop the rows first seen before `before`; returns how many were dropped."""
        cut = before.timestamp()
        cut_day = int(cut // SECONDS_PER_DAY)
        dropped = 0
        for day in [d for d in self.shards if d < cut_day]:
            dropped += sum(block.size for block in self.shards.pop(day))
        for block in self.shards.get(cut_day, []):
            mask = block.seen_at[: block.size] >= cut
            dropped += block.size - int(mask.sum())
            block.keep(mask)
        for day in [d for d in self.coded if d < cut_day]:
            dropped += self.coded.pop(day).live()
        if cut_day in self.coded:
            dropped += self.coded[cut_day].hide_before(cut)
        return dropped

    def update_groups(self, article_ids: Iterable[int], groups: Iterable[int]) -> None:
        """Record that these articles now belong to these groups (a reassignment)."""
        new_group = dict(zip(article_ids, groups, strict=True))
        wanted = np.fromiter(new_group, dtype=np.int64)
        for block in self.blocks():
            hits = np.flatnonzero(np.isin(block.ids[: block.size], wanted))
            for row in hits:
                block.groups[row] = new_group[int(block.ids[row])]
        for shard in self.coded.values():
            hits = np.flatnonzero(np.isin(shard.ids[: shard.size], wanted))
            for row in hits:
                shard.groups[row] = new_group[int(shard.ids[row])]

    def nearest(self, queries: Vectors, k: int = 1, since: datetime | None = None) -> Neighbours:
        """The `k` indexed articles most similar (cosine of normalised rows) to each query, among
        those first seen at or after `since`; computed block by block."""
        return self.nearest_where(queries, k, since, None)

    def nearest_where(
        self,
        queries: Vectors,
        k: int,
        since: datetime | None,
        allowed: Int64s | None,
    ) -> Neighbours:
        """`nearest`, restricted to the article ids in `allowed` when given."""
        count = len(queries)
        best = Neighbours(
            np.full((count, k), NO_ARTICLE, dtype=np.int64),
            np.full((count, k), NO_ARTICLE, dtype=np.int64),
            np.full((count, k), -np.inf, dtype=np.float32),
        )
        cut = None if since is None else since.timestamp()
        with one_blas_thread():
            best = self.scan(queries, k, cut, allowed, best)
            if self.coded:
                best = self.scan_coded(
                    np.ascontiguousarray(queries, np.float32), k, cut, allowed, best
                )
        missing = np.isneginf(best.similarities)
        best.article_ids[missing] = NO_ARTICLE
        best.groups[missing] = NO_ARTICLE
        return best

    def scan(
        self, queries: Vectors, k: int, cut: float | None, allowed: Int64s | None, best: Neighbours
    ) -> Neighbours:
        for block in self.blocks(cut):
            excluded = excluded_rows(block, cut, allowed)
            if excluded is not None and excluded.all():
                continue
            # Queries × rows: the best k are then taken along each contiguous row (taking
            # them down the columns of rows × queries cost 10× the product itself).
            scores = block_scores(block, queries)
            if excluded is not None:
                scores[:, excluded] = -np.inf
            best = merge_best(best, block, scores, k)
        return best

    def scan_coded(
        self, queries: Vectors, k: int, cut: float | None, allowed: Int64s | None, best: Neighbours
    ) -> Neighbours:
        """The approximate mode's search: per day the best codes, scored exactly (or, for an
        `allowed` list, those rows scored exactly)."""
        floor = -np.inf if cut is None else cut
        first_day = -(2**62) if cut is None else int(cut // SECONDS_PER_DAY)
        fetch = max(k, MIN_FETCH_PER_DAY)
        for day in sorted(d for d in self.coded if d >= first_day):
            shard = self.coded[day]
            if allowed is not None:
                rows = shard.rows_of(allowed, floor)
                for start in range(0, len(rows), BLOCK_ROWS):  # bounded float32 copies
                    part = rows[start : start + BLOCK_ROWS]
                    scores = queries @ shard.rows_vectors(part).T
                    ids = np.broadcast_to(shard.ids[part], scores.shape)
                    groups = np.broadcast_to(shard.groups[part], scores.shape)
                    best = merge_candidates(best, ids, groups, scores, k)
                continue
            positions, scores = shard.candidates(queries, fetch, floor)
            safe = np.where(positions >= 0, positions, 0)
            best = merge_candidates(best, shard.ids[safe], shard.groups[safe], scores, k)
        return best

    def rebuild(self, session: Session, since: datetime | None) -> None:
        """Forget everything and read every stored vector since `since` again."""
        self.shards.clear()
        self.coded.clear()
        self.codebook = None
        self.added_locally.clear()
        self.watermark = 0
        self.refresh_from(session, since)

    def refresh_from(
        self,
        session: Session,
        since: datetime | None,
        read: Callable[..., Iterator[VectorRows]] = stream_vectors,
    ) -> int:
        """Add what the database stored after the watermark (first seen since `since`), moving
        the watermark on; returns how many rows were added."""
        added = 0
        for rows in read(session, self.model_id, since, self.watermark):
            fresh = rows
            if self.added_locally:
                known = np.fromiter(self.added_locally, dtype=np.int64)
                fresh = rows_at(rows, np.flatnonzero(~np.isin(rows.article_ids, known)))
            self.insert(fresh)
            added += len(fresh)
            self.watermark = max(self.watermark, rows.watermark)
        self.added_locally.clear()
        return added

    def save(self, directory: Path) -> None:
        """Write the index and its watermark under `directory` (replacing an earlier save)."""
        directory.mkdir(parents=True, exist_ok=True)
        partial = directory / "vectors.tmp.npz"
        if self.codebook is None:
            blocks = list(self.blocks())
            np.savez(
                partial,
                ids=joined([b.ids[: b.size] for b in blocks], np.int64),
                groups=joined([b.groups[: b.size] for b in blocks], np.int64),
                seen_at=joined([b.seen_at[: b.size] for b in blocks], np.float64),
                vectors=joined(
                    [b.vectors[: b.size].astype("<f2") for b in blocks], "<f2", self.dim
                ),
                watermark=np.array(self.watermark, dtype=np.int64),
            )
        elif not self.keep_vectors:
            raise ValueError("an index that keeps only codes is not saved (rebuild it instead)")
        else:
            shards = [self.coded[day] for day in sorted(self.coded)]
            for shard in shards:
                shard.compact()
            np.savez(
                partial,
                ids=joined([s.ids[: s.size] for s in shards], np.int64),
                groups=joined([s.groups[: s.size] for s in shards], np.int64),
                seen_at=joined([s.seen_at[: s.size] for s in shards], np.float64),
                vectors=joined([s.vectors[: s.size] for s in shards], "<f2", self.dim),
                codes=np.concatenate([s.codes[: s.size] for s in shards]),
                centroids=self.codebook.centroids,
                subquantizers=np.array(self.codebook.subquantizers),
                watermark=np.array(self.watermark, dtype=np.int64),
            )
        # The watermark travels inside the vectors' file, so a save cut short between the two
        # files still pairs every vector file with its own watermark.
        partial.replace(directory / "vectors.npz")
        meta = {"format": INDEX_FORMAT, "model_id": self.model_id, "dim": self.dim}
        meta["watermark"] = self.watermark
        partial_meta = directory / "index.tmp.json"
        partial_meta.write_text(json.dumps(meta), encoding="utf-8")
        partial_meta.replace(directory / "index.json")


@functools.cache
def blas_threads() -> ThreadpoolController:
    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager[object]:
    """BLAS on one thread while the index multiplies: the products are memory-bound, and a
    threaded OpenBLAS on cores busy with the encoder or the API was measured 20–100× slower
    on a lone query (and no faster on a batch)."""
    limit: AbstractContextManager[object] = blas_threads().limit(limits=1, user_api="blas")
    return limit


def excluded_rows(
    block: Block, cut: float | None, allowed: Int64s | None
) -> npt.NDArray[np.bool_] | None:
    """Rows of `block` a search must skip (too old, or not allowed); None when none is."""
    excluded = None
    if cut is not None and block.size and block.seen_at[: block.size].min() < cut:
        excluded = block.seen_at[: block.size] < cut
    if allowed is not None:
        outside = ~np.isin(block.ids[: block.size], allowed)
        excluded = outside if excluded is None else excluded | outside
    return excluded


def joined(parts: list[npt.NDArray[Any]], dtype: Any, dim: int | None = None) -> npt.NDArray[Any]:
    """The parts concatenated (an empty array of the right shape when there are none)."""
    empty = np.zeros((0,) if dim is None else (0, dim), dtype=dtype)
    return np.concatenate([empty, *parts]).astype(dtype, copy=False)


def sample_rows(blocks: list[Block], step: int, dim: int) -> Vectors:
    """Every `step`-th row of the blocks, as float32."""
    parts = [np.zeros((0, dim), np.float32)]
    offset = 0
    for block in blocks:
        first = (-offset) % step
        parts.append(block.vectors[first : block.size : step])
        offset += block.size
    sample: Vectors = np.concatenate(parts)
    return sample


def block_rows(block: Block) -> VectorRows:
    return VectorRows(
        block.ids[: block.size],
        block.groups[: block.size],
        block.seen_at[: block.size],
        block.vectors[: block.size],
        0,
    )


def merge_candidates(
    best: Neighbours, ids: Int64s, groups: Int64s, scores: Vectors, k: int
) -> Neighbours:
    """The best `k` per query of `best` and of these candidates (queries × candidates)."""
    all_ids = np.concatenate([best.article_ids, ids], axis=1)
    all_groups = np.concatenate([best.groups, groups], axis=1)
    similarities = np.concatenate([best.similarities, scores.astype(np.float32)], axis=1)
    order = np.argsort(-similarities, axis=1, kind="stable")[:, :k]
    return Neighbours(
        np.take_along_axis(all_ids, order, axis=1),
        np.take_along_axis(all_groups, order, axis=1),
        np.take_along_axis(similarities, order, axis=1),
    )


def block_scores(block: Block, queries: Vectors) -> Vectors:
    """Queries × block rows; a lone query is a matrix-vector product (20× faster)."""
    rows = block.vectors[: block.size]
    if len(queries) == 1:
        single: Vectors = (rows @ queries[0])[None, :]
        return single
    scores: Vectors = queries @ rows.T
    return scores


def merge_best(best: Neighbours, block: Block, scores: Vectors, k: int) -> Neighbours:
    """The best `k` per query of `best` and of `scores` (queries × block rows)."""
    rows = scores.shape[1]
    if k == 1:
        top = scores.argmax(axis=1)[:, None]
    elif rows > k:
        top = np.argpartition(scores, rows - k, axis=1)[:, rows - k :]
    else:
        top = np.broadcast_to(np.arange(rows)[None, :], scores.shape)
    top_scores = np.take_along_axis(scores, top, axis=1)
    ids = np.concatenate([best.article_ids, block.ids[top]], axis=1)
    groups = np.concatenate([best.groups, block.groups[top]], axis=1)
    similarities = np.concatenate([best.similarities, top_scores], axis=1)
    order = np.argsort(-similarities, axis=1, kind="stable")[:, :k]
    return Neighbours(
        np.take_along_axis(ids, order, axis=1),
        np.take_along_axis(groups, order, axis=1),
        np.take_along_axis(similarities, order, axis=1),
    )


def rows_at(rows: VectorRows, positions: npt.NDArray[np.intp]) -> VectorRows:
    return VectorRows(
        rows.article_ids[positions],
        rows.groups[positions],
        rows.seen_at[positions],
        rows.vectors[positions],
        rows.watermark,
    )


def load_index(
    directory: Path, model_id: str, *, approximate_above: int = DEFAULT_APPROXIMATE_ABOVE
) -> WindowIndex | None:
    """The index saved under `directory` for `model_id`, or None when there is none (or it is
    of another model or format: then the caller rebuilds from the database)."""
    try:
        meta = json.loads((directory / "index.json").read_text(encoding="utf-8"))
        if meta.get("format") != INDEX_FORMAT or meta.get("model_id") != model_id:
            return None
        with np.load(directory / "vectors.npz") as saved:
            ids, groups, seen_at = saved["ids"], saved["groups"], saved["seen_at"]
            vectors = saved["vectors"]
            coded = "codes" in saved.files and len(ids) > approximate_above
            codes = saved["codes"] if coded else None
            centroids = saved["centroids"] if coded else None
            subquantizers = int(saved["subquantizers"]) if coded else SUBQUANTIZERS
            watermark = int(saved["watermark"])
    except (OSError, ValueError, KeyError):
        return None
    index = WindowIndex(model_id, int(meta["dim"]), approximate_above=approximate_above)
    if codes is not None and centroids is not None:
        index.codebook = Codebook(index.dim, centroids.astype(np.float32), subquantizers)
        index.subquantizers = subquantizers
        restore_coded(index, VectorRows(ids, groups, seen_at, vectors, 0), codes)
        index.watermark = watermark
        return index
    for start in range(0, len(ids), BLOCK_ROWS):
        stop = start + BLOCK_ROWS
        index.insert(
            VectorRows(
                ids[start:stop],
                groups[start:stop],
                seen_at[start:stop],
                vectors[start:stop].astype(np.float32),
                0,
            )
        )
    index.watermark = watermark
    return index


def restore_coded(index: WindowIndex, rows: VectorRows, codes: npt.NDArray[np.uint8]) -> None:
    """Saved rows and their codes back into day shards, without encoding again."""
    days = (rows.seen_at // SECONDS_PER_DAY).astype(np.int64)
    order = np.argsort(days, kind="stable")
    if not np.array_equal(order, np.arange(len(order))):
        rows, codes, days = rows_at(rows, order), codes[order], days[order]
    starts = np.flatnonzero(np.diff(days, prepend=days[:1] - 1))
    for start, stop in zip(starts, [*starts[1:], len(days)], strict=True):
        picked = VectorRows(
            rows.article_ids[start:stop],
            rows.groups[start:stop],
            rows.seen_at[start:stop],
            rows.vectors[start:stop],
            0,
        )
        index.append_coded(int(days[start]), picked, codes[start:stop])
