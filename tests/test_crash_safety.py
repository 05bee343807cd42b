"""A dispatcher process killed with SIGKILL loses nothing: leases expire, another run delivers,
and the receiver sees the same webhook-id again (its idempotency key)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings
from monitor.loopback import Received, Reply, WebhookSink
from monitor.storage import migrate
from monitor.storage.alerts import list_deliveries
from monitor.storage.engine import open_engine
from tests.alert_support import new_secret, store_alerts
from tests.conftest import PROJECT_ROOT

LEASE_S = 1.0


def write_config(tmp_path: Path, hook_url: str) -> Path:
    config = tmp_path / "monitor.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "crash.db"}"\n'
        '[network]\nallow_cidrs = ["127.0.0.0/8"]\n'
        f"[alerts]\nlease_s = {LEASE_S}\nretry_schedule_s = [0.1]\nmax_attempts = 50\n"
        '[[alerts.webhooks]]\nname = "ops"\n'
        f'url = "{hook_url}"\nsecret_env = "MONITOR_TEST_HOOK_SECRET"\n'
        '[[alerts.rules]]\nname = "relevant"\nchannels = ["ops"]\n'
    )
    return config


def start_dispatcher(config: Path, secret: str, *extra: str) -> subprocess.Popen[bytes]:
    environ = {**os.environ, "MONITOR_TEST_HOOK_SECRET": secret}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor",
            "--config",
            str(config),
            "alerts",
            "dispatch",
            "--interval",
            "0.1",
            *extra,
        ],
        cwd=PROJECT_ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def open_sessions(config: Path) -> sessionmaker[Session]:
    from monitor.config import load_settings

    engine = open_engine(load_settings(config).database)
    migrate.upgrade(engine)
    return sessionmaker(engine, expire_on_commit=False)


def drain(
    config: Path, secret: str, sessions: sessionmaker[Session], deadline_s: float = 60
) -> None:
    """Run the dispatcher until every delivery is delivered (after leases expire)."""
    time.sleep(LEASE_S + 0.2)
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        start_dispatcher(config, secret, "--once").wait(timeout=60)
        with sessions() as session:
            if all(d.status == "delivered" for d in list_deliveries(session, limit=1000)):
                return
        time.sleep(0.3)
    pytest.fail("deliveries still pending after the deadline")


@pytest.mark.slow
def test_killed_after_claim_before_mark_is_redelivered_with_same_id(tmp_path: Path) -> None:
    """SIGKILL while the request is in flight; after restart the receiver gets the same webhook-id."""
    in_flight = threading.Event()

    def hang_first(request: Received) -> Reply:
        if len(sink.received) == 1:
            in_flight.set()
            return Reply(200, chunk_delay_s=10)
        return Reply(200)

    secret = new_secret()
    with WebhookSink(hang_first) as sink:
        config = write_config(tmp_path, sink.url())
        sessions = open_sessions(config)
        store_alerts(sessions, 1)
        process = start_dispatcher(config, secret)
        assert in_flight.wait(30), "the dispatcher never sent the delivery"
        process.send_signal(signal.SIGKILL)
        process.wait()
        with sessions() as session:
            assert [d.status for d in list_deliveries(session)] == ["pending"]
        drain(config, secret, sessions)
        ids = [r.headers["webhook-id"] for r in sink.received]
    assert len(ids) == 2 and ids[0] == ids[1]


@pytest.mark.slow
def test_hundred_deliveries_with_random_kills_lose_nothing(tmp_path: Path) -> None:
    """100 deliveries, a dispatcher killed at random moments: every one arrives at least once."""
    secret = new_secret()
    rng = random.Random(20261122)
    with WebhookSink(lambda r: Reply(200, chunk_delay_s=0.2)) as sink:
        config = write_config(tmp_path, sink.url())
        sessions = open_sessions(config)
        store_alerts(sessions, 100)
        kills = 0
        for _ in range(6):
            process = start_dispatcher(config, secret)
            time.sleep(rng.uniform(0.8, 2.0))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait()
        drain(config, secret, sessions)
        with sessions() as session:
            expected = {d.id for d in list_deliveries(session, limit=1000)}
            webhook_ids = {row for row in _webhook_ids(session)}
        received = {r.headers["webhook-id"] for r in sink.received}
    assert kills >= 3
    assert len(expected) == 100 and received == webhook_ids


def _webhook_ids(session: Session) -> list[str]:
    from sqlalchemy import select

    from monitor.storage.schema import Delivery

    return list(session.scalars(select(Delivery.webhook_id)))


def test_settings_file_is_valid(tmp_path: Path) -> None:
    """The crash tests' settings file is a valid monitor config."""
    from monitor.config import load_settings

    settings = load_settings(write_config(tmp_path, "http://127.0.0.1:9/hook"))
    assert isinstance(settings, Settings) and settings.alerts.lease_s == LEASE_S
