"""The processing stage's encoder in child processes: texts in, float32 vectors out.

Each child loads the configured model once and encodes with one BLAS thread; a call's texts are
cut into `PARTS_PER_CHILD` parts per child of about equal length, each child handed the next
part when it answers (the one that gets less of the CPU beside the stage does less), and
calls queued behind it go out the same way (`submit`), so that a child does not idle between
one batch and the next. A child has its own GIL, so the tokenizer's pure Python and the matrix
products run beside the stage's own Python (relevance, assignment, storage) instead of taking
turns with it; and on 2 cores two one-thread children encode faster than one process with two
BLAS threads, whose second thread spins while the tokenizer runs.

Children start with the first call (or `start()`, while warming up), never at construction, so
a processor that only re-scores starts none. A child that dies (killed, out of memory) fails
the call whose part it held with `EncoderProcessError` naming its exit code, and the next call
starts a new one; an error raised while encoding fails the call and leaves the child running.
`close()` stops them; they are daemons, so they end with this process too.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
import threading
import weakref
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as connection_wait
from multiprocessing.process import BaseProcess

import numpy as np

from monitor.errors import MonitorError
from monitor.vectors import Vectors

log = logging.getLogger(__name__)

START_TIMEOUT_S = 300.0  # loading a model; the multilingual USE takes about 2 s
CLOSE_TIMEOUT_S = 5.0  # a child asked to stop, before it is terminated
WARM_UP_TEXT = "warm-up"
# A call's texts are cut into this many parts per child, handed out as the children answer.
PARTS_PER_CHILD = 2


class EncoderProcessError(MonitorError):
    """An encoder child process died, could not start, or failed to encode a call's texts."""


def serve(conn: Connection, model: str, batch_size: int) -> None:
    """A child's loop: load the model (one BLAS thread), report its dimension, then encode each
    list of texts received until None (or the parent's end closes)."""
    from monitor.embed import open_embedder

    try:
        embedder = open_embedder(model, batch_size, threads=1)
        dim = int(embedder.embed([WARM_UP_TEXT]).shape[1])
    except Exception as error:
        send_error(conn, error)
        return
    conn.send(("ready", dim))
    while True:
        try:
            texts = conn.recv()
        except EOFError:  # the parent is gone
            return
        if texts is None:
            return
        try:
            reply = ("vectors", embedder.embed(texts))
        except Exception as error:
            send_error(conn, error)
            continue
        conn.send(reply)


def send_error(conn: Connection, error: Exception) -> None:
    """Send the error itself if it pickles, else its description."""
    try:
        conn.send(("error", error))
    except Exception:
        conn.send(("error", RuntimeError(repr(error))))


@dataclass(slots=True)
class Child:
    """One encoder process and this process's end of its pipe."""

    process: BaseProcess
    conn: Connection

    def exit_code(self) -> int | None:
        self.process.join(CLOSE_TIMEOUT_S)
        return self.process.exitcode

    def stop(self) -> None:
        """Ask the child to stop; terminate it if it does not."""
        with contextlib.suppress(OSError):  # already gone
            self.conn.send(None)
        self.process.join(CLOSE_TIMEOUT_S)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(CLOSE_TIMEOUT_S)
        self.conn.close()


@dataclass(slots=True, eq=False)
class EncoderJob:
    """One call's texts, cut into parts, and what has come back of them."""

    texts: Sequence[str]
    parts: list[slice]
    future: Future[Vectors]
    replies: list[Vectors | None]
    sent: int = 0  # parts handed out so far, in order
    in_hand: int = 0  # parts a child is encoding now
    failure: EncoderProcessError | None = None

    def wants_child(self) -> bool:
        return self.failure is None and self.sent < len(self.parts)

    def is_over(self) -> bool:
        return self.in_hand == 0 and (self.failure is not None or self.sent == len(self.parts))

    def count(self, part: int) -> int:
        return int(self.parts[part].stop - self.parts[part].start)


class ProcessEncoder:
    """An Embedder whose encoding runs in `processes` child processes (see the module).

    Calls may come from several threads: `submit` queues a call and returns at once, and a
    thread of this object's own (running while there is work) hands the parts of the queued
    calls to the children in order, each child the next part as soon as it answers, so that
    a child done with one call's last part starts on the next call's first instead of waiting
    for the thread that asked for it."""

    def __init__(
        self,
        model: str,
        model_id: str,
        max_chars: int,
        processes: int = 2,
        batch_size: int = 64,
        parts_per_child: int = PARTS_PER_CHILD,
    ) -> None:
        if processes < 1:
            raise ValueError("an encoder pool needs at least one process")
        self.model, self.batch_size = model, batch_size
        self.parts_per_child = parts_per_child
        self.model_id, self.max_chars = model_id, max_chars
        self.children: list[Child | None] = [None] * processes
        self.dim = 0
        # Guards the children and the queue; each child's pipe carries one part at a time.
        self.state = threading.Condition()
        self.jobs: deque[EncoderJob] = deque()
        self.busy: dict[int, tuple[EncoderJob, int]] = {}  # child → the job and part it holds
        self.dispatching = False
        self.wake_read, self.wake_write = os.pipe()  # a new call wakes the dispatching thread
        os.set_blocking(self.wake_write, False)  # a full pipe wakes it as well as one more byte
        self.context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        weakref.finalize(self, stop_children, self.children)  # an encoder dropped unclosed
        weakref.finalize(self, close_fds, self.wake_read, self.wake_write)

    def start(self) -> None:
        """Start every child not running and wait until each has loaded the model."""
        with self.state:
            self.start_missing()

    def embed(self, texts: Sequence[str]) -> Vectors:
        """The texts' vectors, in order (see `submit`)."""
        return self.submit(texts).result()

    def submit(self, texts: Sequence[str]) -> Future[Vectors]:
        """Queue the texts for encoding; the future gives their vectors, in order. The texts
        are cut into `parts_per_child` parts per child of about equal length. A child that
        dies fails the call whose part it held with `EncoderProcessError` (after the call's
        other parts in hand have come back: a pipe carries one part at a time), and the next
        call starts a new child; a call cancelled before any part went out is dropped.
        Starting the children (the first call, or one after a death) raises here."""
        future: Future[Vectors] = Future()
        with self.state:
            self.start_missing()
            if not texts:
                future.set_result(np.zeros((0, self.dim), dtype=np.float32))
                return future
            parts = split_by_length(
                texts, len(self.children) * self.parts_per_child, self.max_chars
            )
            parts = [part for part in parts if part.stop > part.start]
            self.jobs.append(EncoderJob(texts, parts, future, [None] * len(parts)))
            if self.dispatching:
                with contextlib.suppress(BlockingIOError):
                    os.write(self.wake_write, b"\0")
            else:
                self.dispatching = True
                threading.Thread(target=self.dispatch, name="encoder-dispatch", daemon=True).start()
        return future

    def dispatch(self) -> None:
        """Hand out parts and collect answers until no call is left (the thread's life)."""
        with self.state:
            try:
                while True:
                    self.hand_out()
                    self.settle()
                    if not self.busy:
                        if not any(job.wants_child() for job in self.jobs):
                            break
                        continue  # a child was started meanwhile: hand out again
                    child_of = {self.conn_of(n): n for n in self.busy}
                    self.state.release()
                    try:
                        ready = connection_wait([*child_of, self.wake_read])
                    finally:
                        self.state.acquire()
                    for source in ready:
                        if source == self.wake_read:
                            os.read(self.wake_read, 4096)
                        else:
                            self.collect(child_of[source])  # type: ignore[index]
            except BaseException as error:  # a defect here must not leave a caller waiting
                self.abandon(error)
                raise
            finally:
                self.dispatching = False
                self.state.notify_all()

    def hand_out(self) -> None:
        """Give idle children the next parts of the queued calls, oldest call first."""
        for job in list(self.jobs):
            if not job.wants_child():
                continue
            if not job.future.running() and not job.future.set_running_or_notify_cancel():
                self.jobs.remove(job)  # cancelled before it started
                continue
            if any(child is None for child in self.children) and not self.busy:
                try:
                    self.start_missing()  # children that died with an earlier call
                except EncoderProcessError as error:
                    job.failure = error
                    continue
            idle = [n for n, c in enumerate(self.children) if c is not None and n not in self.busy]
            while idle and job.wants_child():
                n, part = idle.pop(0), job.sent
                job.sent += 1
                if self.ask(n, list(job.texts[job.parts[part]])):
                    self.busy[n] = (job, part)
                    job.in_hand += 1
                else:  # its pipe is gone: the child is dead
                    failure = self.answer(n, False, job.count(part))
                    assert isinstance(failure, EncoderProcessError)
                    job.failure = failure
            if job.wants_child():
                return  # no child left idle: later calls wait their turn

    def collect(self, n: int) -> None:
        """Child n's answer, into the call it belongs to."""
        job, part = self.busy.pop(n)
        job.in_hand -= 1
        reply = self.answer(n, True, job.count(part))
        if isinstance(reply, EncoderProcessError):
            job.failure = job.failure or reply
        else:
            job.replies[part] = reply

    def settle(self) -> None:
        """Give each call that is over its vectors or its error."""
        for job in [job for job in self.jobs if job.is_over()]:
            self.jobs.remove(job)
            if job.failure is not None:
                job.future.set_exception(job.failure)
            else:
                vectors = np.vstack(job.replies)  # type: ignore[arg-type]
                job.future.set_result(vectors.astype(np.float32, copy=False))

    def abandon(self, error: BaseException) -> None:
        """Fail every queued call; stop the children that held parts (their answers would
        reach the next call)."""
        for job in self.jobs:
            if job.future.running() or job.future.set_running_or_notify_cancel():
                job.future.set_exception(error)
        self.jobs.clear()
        for n in list(self.busy):
            child = self.children[n]
            if child is not None:
                child.stop()
            self.children[n] = None
        self.busy.clear()

    def conn_of(self, n: int) -> Connection:
        child = self.children[n]
        assert child is not None
        return child.conn

    def close(self) -> None:
        """Stop every child (idempotent), once the calls in hand are over."""
        with self.state:
            self.state.wait_for(lambda: not self.dispatching)
            stop_children(self.children)

    def start_missing(self) -> None:
        started = {n: self.spawn() for n, child in enumerate(self.children) if child is None}
        failures: list[EncoderProcessError] = []
        for n, child in started.items():
            try:
                self.dim = self.wait_ready(child)
                self.children[n] = child
            except EncoderProcessError as error:
                child.stop()
                failures.append(error)
        if failures:
            raise failures[0]

    def spawn(self) -> Child:
        ours, theirs = self.context.Pipe()
        process = self.context.Process(
            target=serve,
            args=(theirs, self.model, self.batch_size),
            name="monitor-encoder",
            daemon=True,
        )
        process.start()
        theirs.close()  # so that the child's death reads as end of file here
        return Child(process, ours)

    def wait_ready(self, child: Child) -> int:
        try:
            if not child.conn.poll(START_TIMEOUT_S):
                raise EncoderProcessError(
                    f"the encoder process for {self.model} was not ready within "
                    f"{START_TIMEOUT_S:.0f} s"
                )
            kind, value = child.conn.recv()
        except (EOFError, OSError):
            raise EncoderProcessError(
                f"the encoder process for {self.model} exited with code {child.exit_code()} "
                "while loading the model"
            ) from None
        if kind == "error":
            raise EncoderProcessError(
                f"the encoder process could not load {self.model}: {value}"
            ) from value
        return int(value)

    def ask(self, n: int, texts: list[str]) -> bool:
        """Send texts to child n; False if it is gone."""
        child = self.children[n]
        assert child is not None
        try:
            child.conn.send(texts)
            return True
        except OSError:
            return False

    def answer(self, n: int, sent: bool, count: int) -> Vectors | EncoderProcessError:
        """Child n's vectors, or the error that stands for them (a dead child is dropped, to be
        started again by the next call)."""
        child = self.children[n]
        assert child is not None
        try:
            if sent:
                kind, value = child.conn.recv()
                if kind == "vectors":
                    return value  # type: ignore[no-any-return]
                error = EncoderProcessError(f"the encoder process failed on {count} texts: {value}")
                error.__cause__ = value
                return error
        except (EOFError, OSError):
            pass
        self.children[n] = None
        child.conn.close()
        code = child.exit_code()
        log.error("encoder process died", extra={"exit_code": code, "texts": count})
        return EncoderProcessError(
            f"the encoder process exited with code {code} while encoding {count} texts "
            "(a new one starts with the next call)"
        )


def close_fds(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def stop_children(children: list[Child | None]) -> None:
    for n, child in enumerate(children):
        if child is not None:
            child.stop()
            children[n] = None


def split_by_length(texts: Sequence[str], parts: int, max_chars: int) -> list[slice]:
    """`parts` contiguous slices of about equal total length (as the encoder clips them), in
    order; some are empty when there are fewer texts than parts."""
    if not texts:
        return [slice(0, 0)] * parts
    ends = np.cumsum([min(len(text), max_chars) + 1 for text in texts])
    cuts = np.searchsorted(ends, ends[-1] * np.arange(1, parts) / parts).tolist()
    bounds = [0, *(min(int(c) + 1, len(texts)) for c in cuts), len(texts)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]
