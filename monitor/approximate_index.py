"""The window index's approximate mode: a day of vectors as 4-bit product-quantiser codes
scanned with faiss's fast scan, the candidates then scored exactly.

Why this and not a graph or inverted lists (1M clustered 512-dimension vectors as in
bench/scale.py: stories of a few articles around random centres): faiss IVF needed half its
lists probed (nlist 256, nprobe 128) and HNSW (M 16) an `ef` above 256, after a minute to build
100k, to agree with an exact scan on 99.9 % of same-story decisions, because a story's few
articles sit apart from everything else and no coarse partition follows them. A scan of
16-byte codes finds them (taking a day's best 16 codes, bench/scale.py at 1M decided as the
exact scan for all but 2 of 4,608 articles), at about 1.2 ms per article (batches of 256, one
thread, loaded machine) against about 9 ms for the exact product (two threads). The
candidates are then scored with the stored float16 vectors (the database's precision), so a
similarity it reports is exact.

A `CodedShard` holds one day: article ids, groups, first-seen times, float16 vectors and codes
in arrays grown ahead, plus the faiss index over the codes. Without its vectors
(`keeps_vectors` false: about 50 instead of 1,070 bytes a row) a shard scores by the codes
alone, and its owner re-scores what it keeps from the stored vectors (search does).
Rows that aged out are hidden at once (`hide_before`) and compacted away when they are many.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import faiss
import numpy as np
import numpy.typing as npt

from monitor.vectors import Vectors

SUBQUANTIZERS = 32  # codes of 32 × 4 bits = 16 bytes a vector (64 was 1.5× slower)
BITS_PER_SUBQUANTIZER = 4  # what faiss's fast scan runs on
MIN_TRAIN_ROWS = 2**BITS_PER_SUBQUANTIZER  # k-means needs a row per centroid at least
TRAIN_ROWS = 16_384  # sample the codebook is trained on (faiss uses 4,096 per subquantizer)
ENCODE_ROWS = 50_000  # rows encoded per call, so a float32 copy stays small
SCORE_QUERIES = 32  # queries re-scored together (bounds the gathered candidates' memory)
# Queries whose candidates are converted to float32 together, each distinct row once: the
# float16 conversion, not the product, was the cost (at a 100k window, 0.8 of the stage's
# 2.2 s in candidates), and a batch's queries share many candidates. Bounds that copy to
# CONVERT_QUERIES × fetch rows.
CONVERT_QUERIES = 256
# How many blocks of queries faiss's fast scan runs over the codes at once (its `qbs`, one
# count a hex digit, as faiss takes it). Against faiss's own choice, 256 queries over a day of
# 14,000 codes, one thread: 4.5 -> 3.6 ms a search, the same rows found (the estimates differ
# in the last bits of a float32; 0x3333 was no faster, 0x44 a little slower).
QUERY_BLOCKS = 0x4444
HIDDEN_SHARE_TO_COMPACT = 0.125  # compact a day once this share of its rows is hidden
GROWTH = 1.5
MIN_CAPACITY = 1_024
Int64s = npt.NDArray[np.int64]
Ints = Int64s
Float16s = npt.NDArray[np.float16]
Codes = npt.NDArray[np.uint8]


@contextmanager
def one_faiss_thread() -> Iterator[None]:
    """faiss on one OpenMP thread: on cores shared with the encoder a second thread was
    measured slower (spinning), as with BLAS in monitor.window_index."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


@dataclass(frozen=True, slots=True)
class Codebook:
    """A trained product quantiser (its centroids, as saved)."""

    dim: int
    centroids: npt.NDArray[np.float32]
    subquantizers: int = SUBQUANTIZERS

    @classmethod
    def train(cls, sample: Vectors, subquantizers: int = SUBQUANTIZERS) -> Codebook:
        subquantizers = fitting_subquantizers(sample.shape[1], subquantizers)
        quantiser = faiss.IndexPQ(
            sample.shape[1], subquantizers, BITS_PER_SUBQUANTIZER, faiss.METRIC_INNER_PRODUCT
        )
        with one_faiss_thread():
            quantiser.train(np.ascontiguousarray(sample, dtype=np.float32))
        centroids = faiss.vector_to_array(quantiser.pq.centroids).astype(np.float32)
        return cls(sample.shape[1], centroids, subquantizers)

    def empty_index(self) -> faiss.IndexPQ:
        quantiser = faiss.ProductQuantizer(self.dim, self.subquantizers, BITS_PER_SUBQUANTIZER)
        faiss.copy_array_to_vector(self.centroids, quantiser.centroids)
        index = faiss.IndexPQ(
            self.dim, self.subquantizers, BITS_PER_SUBQUANTIZER, faiss.METRIC_INNER_PRODUCT
        )
        index.pq = quantiser
        index.is_trained = True
        return index

    def encode(self, vectors: npt.NDArray[np.floating]) -> Codes:
        index = self.empty_index()
        parts = [np.zeros((0, index.sa_code_size()), dtype=np.uint8)]
        with one_faiss_thread():
            for start in range(0, len(vectors), ENCODE_ROWS):
                chunk = np.ascontiguousarray(vectors[start : start + ENCODE_ROWS], np.float32)
                parts.append(index.sa_encode(chunk))
        codes: Codes = np.concatenate(parts)
        return codes

    def scan_index(self, codes: Codes) -> faiss.IndexPQFastScan:
        """A fast-scan index over these codes (packed, not re-encoded)."""
        index = self.empty_index()
        if len(codes):
            index.add_sa_codes(np.ascontiguousarray(codes))
        scan = faiss.IndexPQFastScan(index)  # type: ignore[arg-type]  # stubs lack this overload
        scan.qbs = QUERY_BLOCKS
        return scan


def fitting_subquantizers(dim: int, wanted: int) -> int:
    """The most subquantizers up to `wanted` that split `dim` evenly (faiss needs it)."""
    return next(m for m in range(min(wanted, dim), 0, -1) if dim % m == 0)


def grown(array: npt.NDArray[np.generic], size: int, needed: int) -> npt.NDArray[np.generic]:
    """`array` (filled to `size`) with room for `needed` rows."""
    if needed <= len(array):
        return array
    capacity = max(needed, int(len(array) * GROWTH), MIN_CAPACITY)
    bigger = np.empty((capacity, *array.shape[1:]), dtype=array.dtype)
    bigger[:size] = array[:size]
    return bigger


@dataclass(slots=True)
class CodedShard:
    """One day of the approximate index."""

    codebook: Codebook
    ids: Int64s
    groups: Int64s
    seen_at: npt.NDArray[np.float64]
    vectors: Float16s
    codes: Codes
    keeps_vectors: bool = True
    size: int = 0
    hidden_before: float = -np.inf  # rows first seen before this are expired, not yet removed
    hidden_rows: int = 0
    scan: faiss.IndexPQFastScan | None = field(default=None, repr=False)

    @classmethod
    def empty(cls, codebook: Codebook, keeps_vectors: bool = True) -> CodedShard:
        code_bytes = codebook.empty_index().sa_code_size()
        return cls(
            codebook,
            np.empty(0, dtype=np.int64),
            np.empty(0, dtype=np.int64),
            np.empty(0, dtype=np.float64),
            np.empty((0, codebook.dim), dtype=np.float16),
            np.empty((0, code_bytes), dtype=np.uint8),
            keeps_vectors,
        )

    def append(
        self,
        ids: Int64s,
        groups: Int64s,
        seen_at: npt.NDArray[np.float64],
        vectors: npt.NDArray[np.floating],
        codes: Codes | None = None,
    ) -> None:
        """Add rows (encoded here unless their codes are given)."""
        count, end = len(ids), self.size + len(ids)
        if codes is None:
            codes = self.codebook.encode(vectors)
        self.ids = grown(self.ids, self.size, end)  # type: ignore[assignment]
        self.groups = grown(self.groups, self.size, end)  # type: ignore[assignment]
        self.seen_at = grown(self.seen_at, self.size, end)  # type: ignore[assignment]
        if self.keeps_vectors:
            self.vectors = grown(self.vectors, self.size, end)  # type: ignore[assignment]
            self.vectors[self.size : end] = vectors
        self.codes = grown(self.codes, self.size, end)  # type: ignore[assignment]
        self.ids[self.size : end] = ids
        self.groups[self.size : end] = groups
        self.seen_at[self.size : end] = seen_at
        self.hidden_rows += int((seen_at < self.hidden_before).sum())
        self.codes[self.size : end] = codes
        if self.scan is not None and count:  # fast scan takes vectors only: encoded again
            with one_faiss_thread():
                self.scan.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.size = end

    def fast_scan(self) -> faiss.IndexPQFastScan:
        if self.scan is None:
            self.scan = self.codebook.scan_index(self.codes[: self.size])
        return self.scan

    def hide_before(self, cut: float) -> int:
        """Hide the rows first seen before `cut` (removing them once they are many); returns
        how many became hidden."""
        seen = self.seen_at[: self.size]
        newly = int(((seen < cut) & (seen >= self.hidden_before)).sum())
        self.hidden_before = max(self.hidden_before, cut)
        self.hidden_rows += newly
        if self.hidden_rows >= HIDDEN_SHARE_TO_COMPACT * self.size:
            self.compact()
        return newly

    def compact(self) -> None:
        """Remove the hidden rows now."""
        seen = self.seen_at[: self.size]
        if (seen < self.hidden_before).any():
            self.keep(seen >= self.hidden_before)

    def keep(self, mask: npt.NDArray[np.bool_]) -> None:
        """Keep only the rows where `mask` is true; the scan index is packed again."""
        kept = int(mask.sum())
        for name in ("ids", "groups", "seen_at", "codes", *["vectors"][: self.keeps_vectors]):
            array = getattr(self, name)
            array[:kept] = array[: self.size][mask]
        self.size = kept
        self.hidden_rows = int((self.seen_at[:kept] < self.hidden_before).sum())
        self.scan = None

    def live(self) -> int:
        return self.size - self.hidden_rows

    def candidates(self, queries: Vectors, fetch: int, cut: float) -> tuple[Ints, Vectors]:
        """Row positions of the `fetch` best codes per query (-1 where there are fewer) and
        their cosines: exact from the float16 vectors when the shard keeps them, else as the
        codes estimate them; -inf for a missing row or one first seen before `cut` or hidden."""
        with one_faiss_thread():
            estimates, positions = self.fast_scan().search(np.ascontiguousarray(queries), fetch)
        found: Ints = positions.astype(np.int64, copy=False)
        safe = np.where(found >= 0, found, 0)
        if self.keeps_vectors:
            scores = np.empty(found.shape, dtype=np.float32)
            for start in range(0, len(queries), CONVERT_QUERIES):
                stop = start + CONVERT_QUERIES
                scores[start:stop] = self.exact_scores(queries[start:stop], safe[start:stop])
        else:
            scores = estimates.astype(np.float32, copy=False)
        scores[(found < 0) | (self.seen_at[safe] < max(cut, self.hidden_before))] = -np.inf
        return found, scores

    def exact_scores(self, queries: Vectors, rows: Ints) -> Vectors:
        """Each query's cosine with the kept vectors of its rows (queries × candidates)."""
        distinct, where = np.unique(rows, return_inverse=True)
        vectors = self.vectors[distinct].astype(np.float32)
        where = where.reshape(rows.shape)
        scores = np.empty(rows.shape, dtype=np.float32)
        for start in range(0, len(queries), SCORE_QUERIES):
            stop = start + SCORE_QUERIES
            gathered = vectors[where[start:stop]]
            scores[start:stop] = np.einsum("qd,qcd->qc", queries[start:stop], gathered)
        return scores

    def rows_vectors(self, rows: npt.NDArray[np.intp]) -> Vectors:
        """The vectors of these rows as float32 (decoded from the codes when not kept)."""
        if self.keeps_vectors:
            kept: Vectors = self.vectors[rows].astype(np.float32)
            return kept
        decoded: Vectors = self.codebook.empty_index().sa_decode(
            np.ascontiguousarray(self.codes[rows])
        )
        return decoded

    def rows_of(self, allowed: Int64s, cut: float) -> npt.NDArray[np.intp]:
        """Positions of the live rows among `allowed` article ids, first seen at `cut` or after."""
        floor = max(cut, self.hidden_before)
        ids = self.ids[: self.size]
        mask = np.isin(ids, allowed) & (self.seen_at[: self.size] >= floor)
        return np.flatnonzero(mask)
