"""The processing stage's encoder in child processes: texts in, float32 vectors out.

Each child loads the configured model once and encodes with one BLAS thread; a call's texts are
split between the children by length. A child has its own GIL, so the tokenizer's pure Python
and the matrix products run beside the stage's own Python (relevance, assignment, storage)
instead of taking turns with it; and on 2 cores two one-thread children encode faster than one
process with two BLAS threads, whose second thread spins while the tokenizer runs.

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
from multiprocessing.process import BaseProcess

import numpy as np

from monitor.errors import MonitorError
from monitor.vectors import Vectors

log = logging.getLogger(__name__)

START_TIMEOUT_S = 300.0  # loading a model; the multilingual USE takes about 2 s
CLOSE_TIMEOUT_S = 5.0  # a child asked to stop, before it is terminated
WARM_UP_TEXT = "warm-up"


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
        self, model: str, model_id: str, max_chars: int, processes: int = 2, batch_size: int = 64
    ) -> None:
        if processes < 1:
            raise ValueError("an encoder pool needs at least one process")
        self.model, self.batch_size = model, batch_size
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
        with self.lock:
            self.start_missing()
            if not texts:
                return np.zeros((0, self.dim), dtype=np.float32)
            parts = split_by_length(texts, len(self.children), self.max_chars)
            asked = [
                (n, self.ask(n, list(texts[part])))
                for n, part in enumerate(parts)
                if part.stop > part.start
            ]
            replies = [self.answer(n, sent, len(texts[parts[n]])) for n, sent in asked]
        failures = [reply for reply in replies if isinstance(reply, BaseException)]
        if failures:
            raise failures[0]
        return np.vstack(replies).astype(np.float32, copy=False)  # type: ignore[arg-type]

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
