"""Writes of several feeds in one transaction (monitor.ingest.WriteBatcher) keep each feed's
write whole or absent, on SQLite and PostgreSQL; and the HTTP edge reuses its connections
(a 304 read to its end, a server-closed connection noticed). Real databases, loopback servers."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from ipaddress import ip_network

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import NetworkSettings
from monitor.fetch import (
    Validators,
    fetch_feed,
    open_client,
)
from monitor.ingest import WriteBatcher

pytestmark = pytest.mark.integration


def create_scratch_table(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.execute(text("CREATE TABLE scratch_writes (name VARCHAR(20) UNIQUE NOT NULL)"))


def stored_names(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        rows = session.execute(text("SELECT name FROM scratch_writes ORDER BY name"))
        return [row[0] for row in rows]


def insert(name: str) -> Callable[[Session], str]:
    def write(session: Session) -> str:
        session.execute(text("INSERT INTO scratch_writes (name) VALUES (:n)"), {"n": name})
        return name

    return write


class TestWriteBatcher:
    def test_a_failing_write_is_rolled_back_alone(self, sessions: sessionmaker[Session]) -> None:
        """Writes queued together share a transaction; the one that raises (a duplicate key)
        gets its exception and leaves nothing, the others are committed."""
        create_scratch_table(sessions)

        async def run() -> list[object]:
            batcher = WriteBatcher(sessions, ThreadPoolExecutor(1))
            writes = [insert(n) for n in ("a", "b", "a", "c")]
            return await asyncio.gather(
                *(batcher.write(w) for w in writes),
                return_exceptions=True,
            )

        outcomes = asyncio.run(run())

        assert outcomes[:2] == ["a", "b"] and outcomes[3] == "c"
        assert isinstance(outcomes[2], Exception)
        assert stored_names(sessions) == ["a", "b", "c"]

    def test_savepoints_only_for_a_batch_with_a_failing_write(
        self, sessions: sessionmaker[Session]
    ) -> None:
        """A batch whose writes all succeed runs them in one transaction without a savepoint;
        a batch with a failing write is rolled back and run again, each write in a savepoint."""
        create_scratch_table(sessions)
        statements: list[str] = []
        engine = sessions.kw["bind"]

        def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            statements.append(statement.split()[0].upper())

        event.listen(engine, "before_cursor_execute", record)

        async def run(names: tuple[str, ...]) -> list[object]:
            batcher = WriteBatcher(sessions, ThreadPoolExecutor(1))
            return await asyncio.gather(
                *(batcher.write(insert(n)) for n in names), return_exceptions=True
            )

        try:
            assert asyncio.run(run(("a", "b", "c"))) == ["a", "b", "c"]
            clean = statements.count("SAVEPOINT")
            statements.clear()
            outcomes = asyncio.run(run(("d", "a", "e")))
        finally:
            event.remove(engine, "before_cursor_execute", record)

        assert clean == 0
        assert outcomes[0] == "d" and outcomes[2] == "e" and isinstance(outcomes[1], Exception)
        assert statements.count("SAVEPOINT") == 3
        assert stored_names(sessions) == ["a", "b", "c", "d", "e"]

    def test_cancelled_write_is_not_run(self, sessions: sessionmaker[Session]) -> None:
        create_scratch_table(sessions)
        started = threading.Event()
        release = threading.Event()

        def slow(session: Session) -> str:
            started.set()
            release.wait(10)
            return insert("first")(session)

        async def run() -> None:
            batcher = WriteBatcher(sessions, ThreadPoolExecutor(1))
            first = asyncio.create_task(batcher.write(slow))
            while not started.is_set():
                await asyncio.sleep(0.001)
            queued: asyncio.Task[str] = asyncio.create_task(batcher.write(insert("never")))
            await asyncio.sleep(0)
            queued.cancel()
            release.set()
            assert await first == "first"
            with pytest.raises(asyncio.CancelledError):
                await queued
            await batcher.write(insert("after"))

        asyncio.run(run())

        assert stored_names(sessions) == ["after", "first"]


class CountingServer:
    """A raw HTTP/1.1 server on 127.0.0.1 answering every request with `reply`; it counts
    the connections it accepts and, with `close_after_reply`, closes each connection after one
    reply without saying so (a server dropping an idle keep-alive connection)."""

    def __init__(self, reply: bytes, close_after_reply: bool = False) -> None:
        self.reply = reply
        self.close_after_reply = close_after_reply
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self.serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/feed"

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.answer, args=(connection,), daemon=True).start()

    def answer(self, connection: socket.socket) -> None:
        with connection:
            buffer = b""
            while True:
                data = connection.recv(65536)
                if not data:
                    return
                buffer += data
                while b"\r\n\r\n" in buffer:
                    _, buffer = buffer.split(b"\r\n\r\n", 1)
                    connection.sendall(self.reply)
                    if self.close_after_reply:
                        return


@pytest.fixture
def not_modified_server() -> Iterator[CountingServer]:
    server = CountingServer(b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n')
    server.thread.start()
    yield server
    server.listener.close()


@pytest.fixture
def dropping_server() -> Iterator[CountingServer]:
    body = b"<rss version='2.0'><channel><title>t</title></channel></rss>"
    server = CountingServer(
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
        close_after_reply=True,
    )
    server.thread.start()
    yield server
    server.listener.close()


def fetch_times(url: str, times: int, pause_s: float) -> list[int]:
    settings = NetworkSettings(allow_cidrs=(ip_network("127.0.0.0/8"),), total_deadline_s=10.0)

    async def run() -> list[int]:
        statuses = []
        async with open_client(settings) as client:
            for _ in range(times):
                fetched = await fetch_feed(client, url, Validators(etag='"v1"'), settings)
                statuses.append(fetched.status)
                await asyncio.sleep(pause_s)
        return statuses

    return asyncio.run(run())


class TestConnections:
    def test_304s_share_one_connection(self, not_modified_server: CountingServer) -> None:
        assert fetch_times(not_modified_server.url, 5, 0) == [304] * 5
        assert not_modified_server.connections == 1

    def test_connection_the_server_closed_is_replaced(
        self, dropping_server: CountingServer
    ) -> None:
        """The server drops each connection after one reply; every next fetch (after the
        readable check's few milliseconds) notices it and opens a new one, none fails."""
        assert fetch_times(dropping_server.url, 4, 0.05) == [200] * 4
        assert dropping_server.connections == 4
