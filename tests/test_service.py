"""End to end: `monitor run` as a subprocess with a loopback feed server and webhook receiver."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import feedparser
import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from monitor.loopback import FeedServer, Received, Reply, WebhookSink, item, rss
from tests.alert_support import new_secret
from tests.conftest import DEFAULT_PROCESSES_ENV, PROJECT_ROOT

GRACE_S = 10
TITLE = "Putin and Maduro sign a strategic partnership treaty in Moscow"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check, timeout_s: float = 90):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail("timed out waiting for the service")


@pytest.mark.slow
def test_article_becomes_signed_webhook_and_is_queryable(tmp_path: Path) -> None:
    """Publish → signed webhook → /matches, /stories/{id}, /search, /matches.atom; SIGTERM → 0."""
    secret = new_secret()
    verified: list[dict[str, object]] = []

    def receive(request: Received) -> Reply:
        verified.append(Webhook(secret).verify(request.body, request.headers))
        return Reply(204)

    with FeedServer() as feeds, WebhookSink(receive) as sink:
        published: list[str] = []
        feeds.add("/news", lambda _h: Reply(200, {}, rss(published)))
        port = free_port()
        config = tmp_path / "monitor.toml"
        config.write_text(
            f'[database]\nurl = "sqlite:///{tmp_path / "svc.db"}"\n[network]\nallow_cidrs = ["127.0.0.0/8"]\n'
            "[fetch]\nmin_poll_interval_s = 1\nmax_poll_interval_s = 1\n"
            f'[feeds]\nfile = "{tmp_path / "feeds.toml"}"\n[api]\nport = {port}\n'
            f"[service]\npoll_every_s = 1\nprocess_every_s = 1\ndispatch_every_s = 1\nshutdown_grace_s = {GRACE_S}\n"
            f'[[alerts.webhooks]]\nname = "ops"\nurl = "{sink.url()}"\nsecret_env = "MONITOR_TEST_HOOK_SECRET"\n'
            '[[alerts.rules]]\nname = "relevant"\nmin_score = 0.5\nchannels = ["ops"]\n'
        )
        (tmp_path / "feeds.toml").write_text(
            f'[[feeds]]\nname = "news"\nurl = "{feeds.url("/news")}"\nlanguage = "en"\npoll_interval_s = 30\n'
        )
        environ = {**os.environ, **DEFAULT_PROCESSES_ENV, "MONITOR_TEST_HOOK_SECRET": secret}
        service = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            cwd=PROJECT_ROOT,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: httpx.get(base + "/healthz").json()["status"] == "ok")
            published.append(
                item(
                    TITLE,
                    "https://news.example/1",
                    "n1",
                    summary="Russia and Venezuela deepen cooperation in energy and defense.",
                )
            )
            httpx.post(
                base + "/feeds", json={"url": feeds.url("/news")}
            )  # no token: refused, harmless
            wait_for(lambda: verified, timeout_s=120)
            alert = verified[0]
            assert alert["type"] == "match.created" and alert["story"]["title"] == TITLE  # type: ignore[index]

            matches = httpx.get(base + "/matches", params={"relevant": True}).json()["items"]
            assert [m["title"] for m in matches] == [TITLE]
            story = httpx.get(base + f"/stories/{matches[0]['story_id']}").json()
            assert story["articles"][0]["url"] == "https://news.example/1"
            found = httpx.get(base + "/search", params={"q": "Russia Venezuela treaty"}).json()[
                "items"
            ]
            assert found[0]["title"] == TITLE
            atom = feedparser.parse(httpx.get(base + "/matches.atom").content)
            assert [e.title for e in atom.entries] == [TITLE]
        finally:
            started = time.monotonic()
            service.send_signal(signal.SIGTERM)
            code = service.wait(timeout=GRACE_S + 5)
            stopped_s = time.monotonic() - started
            stderr = service.stderr.read().decode() if service.stderr else ""
    assert code == 0, stderr[-2000:]
    assert stopped_s < GRACE_S
    assert json.loads(stderr.strip().splitlines()[-1])["message"] == "stopped"
