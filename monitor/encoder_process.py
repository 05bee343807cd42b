"""The processing stage's encoder in child processes: texts in, float32 vectors out.

Each child loads the configured model once and encodes with one BLAS thread; a call's texts are
cut into `PARTS_PER_CHILD` parts per child of about equal length, each child handed the next
part when it answers (the one that gets less of the CPU beside the stage does less). A child
has its own GIL, so the tokenizer's pure Python and the matrix products run beside the stage's
own Python (relevance, assignment, storage) instead of taking turns with it; and on 2 cores two
one-thread children encode faster than one process with two BLAS threads, whose second thread
spins while the tokenizer runs.

Children start with the first call (or `start()`, while warming up), never at construction, so
a processor that only re-scores starts none. A child that dies (killed, out of memory) fails the
call in hand with `EncoderProcessError` naming its exit code, and the next call starts a new
one; an error raised while encoding fails the call and leaves the child running. `close()`
stops them; they are daemons, so they end with this process too.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import threading
import weakref
from collections.abc import Sequence
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


class ProcessEncoder:
    """An Embedder whose encoding runs in `processes` child processes (see the module)."""

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
        self.lock = threading.Lock()  # one call at a time: each child's pipe carries one
        self.context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        weakref.finalize(self, stop_children, self.children)  # an encoder dropped unclosed

    def start(self) -> None:
        """Start every child not running and wait until each has loaded the model."""
        with self.lock:
            self.start_missing()

    def embed(self, texts: Sequence[str]) -> Vectors:
        """The texts' vectors, in order. The texts are cut into `parts_per_child` parts per
        child, of about equal length, and each child is handed the next part as soon as it
        answers: a child that gets less of the CPU (beside this process's own work) takes
        fewer parts instead of keeping the other waiting. After a failure no part is handed
        out; those in hand are still answered (a pipe carries one call at a time), then the
        call fails."""
        with self.lock:
            self.start_missing()
            if not texts:
                return np.zeros((0, self.dim), dtype=np.float32)
            parts = split_by_length(
                texts, len(self.children) * self.parts_per_child, self.max_chars
            )
            parts = [part for part in parts if part.stop > part.start]
            replies: list[Vectors | EncoderProcessError | None] = [None] * len(parts)
            unsent = list(range(len(parts)))[::-1]  # popped from the end: in order
            busy: dict[int, int] = {}  # child → the part it is encoding
            failed = False
            idle = list(range(len(self.children)))
            while unsent or busy:
                while idle and unsent and not failed:
                    n, part = idle.pop(0), unsent.pop()
                    if self.ask(n, list(texts[parts[part]])):
                        busy[n] = part
                    else:  # its pipe is gone: the child is dead
                        replies[part] = self.answer(n, False, len(texts[parts[part]]))
                        failed = True
                if not busy:
                    break
                child_of = {self.conn_of(n): n for n in busy}
                for conn in connection_wait(list(child_of)):
                    n = child_of[conn]  # type: ignore[index]
                    part = busy.pop(n)
                    reply = self.answer(n, True, len(texts[parts[part]]))
                    replies[part] = reply
                    if isinstance(reply, BaseException):
                        failed = True
                    elif self.children[n] is not None:
                        idle.append(n)
        failures = [reply for reply in replies if isinstance(reply, BaseException)]
        if failures:
            raise failures[0]
        return np.vstack(replies).astype(np.float32, copy=False)  # type: ignore[arg-type]

    def conn_of(self, n: int) -> Connection:
        child = self.children[n]
        assert child is not None
        return child.conn

    def close(self) -> None:
        """Stop every child (idempotent)."""
        with self.lock:
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
