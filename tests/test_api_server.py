"""The API on a real socket: the port is bound when the server is made (a port in use is one
line and exit 2), and a huge upload is refused without the server's memory growing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitor.api.server import api_server
from monitor.config import Settings
from monitor.embed import Vectors
from monitor.errors import ConfigError
from monitor.health import ServiceState
from tests.conftest import PROJECT_ROOT
from tests.fakes import BagOfWordsEmbedder

TOKEN = "server-token"
UPLOAD_BYTES = 150_000_000
# Peak resident memory the server may gain while refusing the uploads: a fraction of one.
MAX_GROWTH_BYTES = 30_000_000


@pytest.fixture
def occupied_port() -> Iterator[int]:
    """A port another process (here, a plain socket) listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


class TestBinding:
    def test_a_port_in_use_is_a_config_error(
        self, sqlite_sessions: sessionmaker[Session], occupied_port: int
    ) -> None:
        """Making the server on a taken port raises one ConfigError line naming the fix."""
        settings = Settings(api={"host": "127.0.0.1", "port": occupied_port})
        with pytest.raises(ConfigError) as raised:
            api_server(settings, sqlite_sessions, None)
        assert str(raised.value) == (
            f"127.0.0.1:{occupied_port} is already in use: stop the other process or set [api] port"
        )

    def test_the_port_is_bound_before_serving(self, sqlite_sessions: sessionmaker[Session]) -> None:
        """The socket listens as soon as the server is made; serving answers on it with the
        service's state, and stopping releases it."""
        server = api_server(Settings(api={"port": 0}), sqlite_sessions, None)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5):
            pass  # the listen backlog accepts before anything serves
        loop = asyncio.new_event_loop()
        task = loop.create_task(server(ServiceState(scheduler_running=True)))

        def serve_until_cancelled() -> None:
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(task)

        thread = threading.Thread(target=serve_until_cancelled, daemon=True)
        thread.start()
        try:
            response = httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=10)
            assert response.status_code == 200 and response.json()["service"] is True
        finally:
            loop.call_soon_threadsafe(task.cancel)
            thread.join(timeout=10)
            loop.close()
        with socket.socket() as again:
            again.bind(("127.0.0.1", server.port))

    def test_cancelling_lets_requests_in_flight_finish(
        self, sqlite_sessions: sessionmaker[Session]
    ) -> None:
        """When the service cancels the API, it stops listening but answers the request it
        is handling before it stops."""
        entered, release = threading.Event(), threading.Event()

        class SlowEmbedder(BagOfWordsEmbedder):
            def embed(self, texts: Sequence[str]) -> Vectors:
                entered.set()
                release.wait(timeout=30)
                return super().embed(texts)

        embedder = SlowEmbedder()
        server = api_server(Settings(api={"port": 0}), sqlite_sessions, lambda: embedder)
        loop = asyncio.new_event_loop()
        task = loop.create_task(server(None))
        outcome: list[BaseException | None] = []

        def serve() -> None:
            try:
                loop.run_until_complete(task)
            except BaseException as exc:
                outcome.append(exc)

        serving = threading.Thread(target=serve, daemon=True)
        serving.start()
        answers: list[int] = []
        url = f"http://127.0.0.1:{server.port}/search?q=oil&all=true"
        asking = threading.Thread(
            target=lambda: answers.append(httpx.get(url, timeout=30).status_code)
        )
        asking.start()
        assert entered.wait(timeout=30)
        loop.call_soon_threadsafe(task.cancel)
        while is_listening(server.port):
            time.sleep(0.02)
        release.set()
        asking.join(timeout=30)
        serving.join(timeout=30)
        loop.close()
        assert answers == [200]
        assert len(outcome) == 1 and isinstance(outcome[0], asyncio.CancelledError)

    def test_monitor_run_on_a_port_in_use_prints_one_line_and_exits_2(
        self, tmp_path: Path, occupied_port: int
    ) -> None:
        """`monitor run` stops before the service starts: one line on stderr, exit code 2."""
        config = tmp_path / "monitor.toml"
        config.write_text(
            f'[database]\nurl = "sqlite:///{tmp_path / "m.db"}"\n'
            f'[api]\nhost = "127.0.0.1"\nport = {occupied_port}\n',
            encoding="utf-8",
        )
        result = subprocess.run(
            [sys.executable, "-m", "monitor", "--config", str(config), "run", "--no-process"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            check=False,
        )
        assert result.returncode == 2, result.stderr
        # Log records (JSON lines, as stderr is no terminal) are not the user's message.
        lines = [line for line in result.stderr.splitlines() if line and line[0] != "{"]
        assert len(lines) == 1 and lines[0].startswith("monitor: "), result.stderr
        assert lines[0].endswith(
            f"127.0.0.1:{occupied_port} is already in use: stop the other process or set [api] port"
        )
        assert "Traceback" not in result.stderr


SERVER = """
import asyncio, sys
from sqlalchemy.orm import sessionmaker
from monitor.api.server import api_server
from monitor.config import Settings
from monitor.storage import migrate
from monitor.storage.engine import open_engine

settings = Settings(database={"url": sys.argv[1]}, api={"port": 0})
engine = open_engine(settings.database)
migrate.upgrade(engine)
serve = api_server(settings, sessionmaker(engine), None)
print(serve.port, flush=True)
asyncio.run(serve(None))
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A real uvicorn serving the API in its own process: (pid, port)."""
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, f"sqlite:///{tmp_path / 'server.db'}"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, "MONITOR_API_TOKEN": TOKEN},
    )
    try:
        assert process.stdout is not None
        yield process.pid, int(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(timeout=20)
        if process.stdout is not None:
            process.stdout.close()


def is_listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set (VmHWM), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def upload(port: int, headers: str, total: int, chunked: bool) -> tuple[int, bool]:
    """POST `total` bytes to /feeds over a raw socket, reading the answer while sending;
    return its status and whether the whole body could be sent before the server closed."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    answer = bytearray()

    def read() -> None:
        try:
            while chunk := sock.recv(65536):
                answer.extend(chunk)
        except OSError:
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    sock.sendall(
        "POST /feeds HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        "Content-Type: application/json\r\n"
        f"{framing}\r\n{headers}\r\n".encode()
    )
    piece = b"x" * 1_000_000
    sent_all = False
    try:
        for _ in range(total // len(piece)):
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        sent_all = True
    except OSError:
        pass  # the server closed the connection: it refused the rest
    reader.join(timeout=30)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 "), bytes(answer[:200])
    return int(answer.split(b" ", 2)[1]), sent_all


@pytest.mark.slow
class TestHugeUploads:
    def test_150_mb_uploads_are_refused_without_memory_growth(
        self, server: tuple[int, int]
    ) -> None:
        """150 MB bodies, declared or chunked, with or without the token, are answered 413
        or 401 while the server's peak memory grows by far less than one body."""
        pid, port = server
        auth = f"Authorization: Bearer {TOKEN}\r\n"
        # Warm up every code path first, so the baseline includes what they import.
        assert upload(port, auth, 0, chunked=False)[0] == 422
        assert upload(port, "", 0, chunked=True)[0] == 401
        baseline = peak_rss_bytes(pid)
        refused = [
            upload(port, "", UPLOAD_BYTES, chunked=False),
            upload(port, "", UPLOAD_BYTES, chunked=True),
            upload(port, auth, UPLOAD_BYTES, chunked=True),
            upload(port, auth, UPLOAD_BYTES, chunked=False),
        ]
        # Each is answered and its connection closed long before 150 MB could be sent.
        assert refused == [(413, False), (401, False), (413, False), (413, False)]
        growth = peak_rss_bytes(pid) - baseline
        assert growth < MAX_GROWTH_BYTES, f"peak memory grew by {growth / 1e6:.0f} MB"
