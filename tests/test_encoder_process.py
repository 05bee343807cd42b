"""The encoder in child processes, with the packaged multilingual encoder: the vectors the stage's
own process would compute, in order; a child that dies or fails is a clear error and the next
call works again; close stops every child."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from monitor.embed import USE_MAX_CHARS, USE_MULTILINGUAL, UniversalSentenceEncoder
from monitor.encoder_process import EncoderProcessError, ProcessEncoder, split_by_length

TEXTS = [
    "Lula recibe a Putin en Brasilia para hablar de energía",
    "Russia and Venezuela sign an oil agreement in Caracas.",
    "Кубинский министр посетил Москву",
    "O banco central do Brasil mantém os juros",
    "A football friendly between Mexico and Argentina ends in a draw, with two late goals.",
]


@pytest.fixture(scope="module")
def encoder() -> Iterator[ProcessEncoder]:
    pool = ProcessEncoder(USE_MULTILINGUAL, USE_MULTILINGUAL, USE_MAX_CHARS, processes=2)
    yield pool
    pool.close()


def live_pids(pool: ProcessEncoder) -> list[int]:
    return [c.process.pid for c in pool.children if c is not None and c.process.pid is not None]


@contextlib.contextmanager
def first_child_held(
    parts_per_child: int, kind: type[ProcessEncoder] = ProcessEncoder
) -> Iterator[tuple[ProcessEncoder, int]]:
    """Two started children, the first stopped (SIGSTOP) until the block ends (or resumed, or
    killed, inside it); the pool closed after."""
    pool = kind(
        USE_MULTILINGUAL,
        USE_MULTILINGUAL,
        USE_MAX_CHARS,
        processes=2,
        parts_per_child=parts_per_child,
    )
    try:
        pool.start()
        held = live_pids(pool)[0]
        os.kill(held, signal.SIGSTOP)
        try:
            yield pool, held
        finally:
            if held in live_pids(pool):  # not killed (and reaped) inside the block
                os.kill(held, signal.SIGCONT)
    finally:
        pool.close()


@pytest.mark.slow
class TestProcessEncoder:
    def test_vectors_equal_those_of_the_encoder_in_this_process(
        self, encoder: ProcessEncoder
    ) -> None:
        """Split over two children, each text gets the vector this process's encoder gives it
        (same row order; as stored, in float16, at most one unit in the last place apart: a child
        runs one BLAS thread, this process two, and a sum in another order can round a value that
        sits on a float16 boundary the other way), and none of them is empty."""
        here = UniversalSentenceEncoder(threads=2).embed(TEXTS)
        there = encoder.embed(TEXTS)
        assert there.dtype == np.float32 and there.shape == here.shape == (len(TEXTS), 512)
        assert np.allclose(there, here, atol=1e-5)
        stored_here, stored_there = here.astype("<f2"), there.astype("<f2")
        apart = np.abs(stored_there.astype(np.float32) - stored_here.astype(np.float32))
        assert np.all(apart <= np.spacing(np.abs(stored_here)).astype(np.float32))
        assert np.mean(stored_there == stored_here) > 0.99
        assert encoder.embed([]).shape == (0, 512)

    def test_a_killed_child_is_a_clear_error_and_the_next_call_starts_a_new_one(
        self, encoder: ProcessEncoder
    ) -> None:
        """A child killed between calls fails the next call with its exit code; the call after
        that encodes again, with a new child in its place."""
        encoder.embed(TEXTS)
        victim = live_pids(encoder)[0]
        os.kill(victim, signal.SIGKILL)
        with pytest.raises(EncoderProcessError, match=r"exited with code -9"):
            encoder.embed(TEXTS)
        assert encoder.embed(TEXTS[:2]).shape == (2, 512)
        assert victim not in live_pids(encoder) and len(live_pids(encoder)) == 2

    def test_an_error_while_encoding_fails_the_call_and_keeps_the_child(
        self, encoder: ProcessEncoder
    ) -> None:
        """A text the model cannot take fails the call with the child's error; the same
        children encode the next call."""
        encoder.start()
        before = live_pids(encoder)
        with pytest.raises(EncoderProcessError, match="failed on") as raised:
            encoder.embed([b"not text", b"either"])  # type: ignore[list-item]
        assert isinstance(raised.value.__cause__, AttributeError)
        assert encoder.embed(TEXTS).shape == (len(TEXTS), 512)
        assert live_pids(encoder) == before

    def test_parts_go_to_the_child_that_is_free(self) -> None:
        """A child held up (stopped for a while) keeps the one part it was handed; the other
        child encodes all the others as it answers; the vectors come back in the texts' order."""
        handed: list[int] = []

        class Counting(ProcessEncoder):
            def ask(self, n: int, texts: list[str]) -> bool:
                handed.append(n)
                return super().ask(n, texts)

        texts = [f"{text} ({n})" for n in range(8) for text in TEXTS]
        with first_child_held(4, Counting) as (pool, held):
            resume = threading.Timer(2.0, os.kill, (held, signal.SIGCONT))
            resume.start()
            try:
                vectors = pool.embed(texts)
            finally:
                resume.join()
        assert handed == [0, 1, 1, 1, 1, 1, 1, 1]
        assert np.allclose(vectors, UniversalSentenceEncoder(threads=1).embed(texts), atol=1e-5)

    def test_a_queued_call_goes_on_while_an_earlier_one_waits_for_a_held_child(self) -> None:
        """Two calls queued while one child is held up: the free child encodes the rest of the
        first call and then the whole second, which is answered first; a third call cancelled
        before any part of it went out is dropped; all vectors in order."""
        first, second = TEXTS * 2, [f"{text}!" for text in TEXTS]
        with first_child_held(2) as (pool, held):
            one = pool.submit(first)
            two = pool.submit(second)
            three = pool.submit(TEXTS)
            assert three.cancel()
            later = two.result(timeout=60)
            assert not one.done()
            os.kill(held, signal.SIGCONT)
            here = UniversalSentenceEncoder(threads=1)
            assert np.allclose(one.result(timeout=60), here.embed(first), atol=1e-5)
            assert np.allclose(later, here.embed(second), atol=1e-5)
            assert three.cancelled()
            assert pool.embed(TEXTS[:1]).shape == (1, 512)

    def test_a_child_killed_holding_a_part_fails_only_that_call(self) -> None:
        """The call whose part a killed child held fails with its exit code (once its other
        parts are back); a call queued behind it is encoded by the other child."""
        with first_child_held(2) as (pool, held):
            one = pool.submit(TEXTS * 2)
            two = pool.submit(TEXTS)
            assert two.result(timeout=60).shape == (len(TEXTS), 512)
            os.kill(held, signal.SIGKILL)
            with pytest.raises(EncoderProcessError, match=r"exited with code -9"):
                one.result(timeout=60)
            assert pool.embed(TEXTS).shape == (len(TEXTS), 512)
            assert held not in live_pids(pool) and len(live_pids(pool)) == 2

    def test_close_stops_every_child(self) -> None:
        """After close no child process is left running; closing again does nothing."""
        pool = ProcessEncoder(USE_MULTILINGUAL, USE_MULTILINGUAL, USE_MAX_CHARS, processes=2)
        pool.start()
        processes = [c.process for c in pool.children if c is not None]
        assert len(processes) == 2 and all(p.is_alive() for p in processes)
        pool.close()
        pool.close()
        assert not any(p.is_alive() for p in processes)
        assert pool.children == [None, None]

    def test_a_model_that_cannot_load_is_a_clear_error(self) -> None:
        """A model folder that does not exist fails the start with the loader's message."""
        pool = ProcessEncoder("/no/such/model", "x", 100, processes=1)
        with pytest.raises(EncoderProcessError, match="could not load /no/such/model"):
            pool.embed(TEXTS)
        assert pool.children == [None]


class TestSplitByLength:
    def test_parts_are_contiguous_cover_every_text_and_weigh_about_the_same(self) -> None:
        """Slices in order, end to end over all texts, each part's clipped length within one
        text of an even share."""
        texts = ["x" * n for n in (5, 300, 40, 40, 900, 10, 10, 2500, 60, 70)]
        parts = split_by_length(texts, 3, 1000)
        assert parts[0].start == 0 and parts[-1].stop == len(texts)
        assert all(a.stop == b.start for a, b in itertools.pairwise(parts))
        weights = [sum(min(len(t), 1000) + 1 for t in texts[p]) for p in parts]
        share = sum(weights) / 3
        assert all(abs(w - share) <= 1001 for w in weights)

    def test_fewer_texts_than_parts_leave_some_parts_empty(self) -> None:
        """One text goes to one part; no text, no part with anything."""
        parts = split_by_length(["only"], 2, 100)
        assert [p.stop - p.start for p in parts] == [1, 0]
        assert [p.stop - p.start for p in split_by_length([], 2, 100)] == [0, 0]
