"""A dispatcher process killed with SIGKILL loses nothing: leases expire, another run delivers,
and the receiver sees the same webhook-id again (its idempotency key).

Each kill is aimed at a request in flight (the receiver holds every answer for a while), and the
test checks from the outbox that it landed there: deliveries the killed process had claimed and
sent, still pending under its lease."""

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
from monitor.values import DeliveryRow, DeliveryStatus
from tests.alert_support import new_secret, store_alerts
from tests.conftest import PROJECT_ROOT

LEASE_S = 1.0
ANSWER_DELAY_S = 0.2


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


def all_deliveries(sessions: sessionmaker[Session]) -> list[DeliveryRow]:
    with sessions() as session:
        return list_deliveries(session, limit=1000)


def cut_mid_delivery(
    sessions: sessionmaker[Session], sink: WebhookSink, earlier_owners: set[str]
) -> list[DeliveryRow]:
    """Deliveries a just-killed dispatcher had claimed and sent but not settled: pending, under
    a lease no earlier process held, their webhook-id already at the receiver."""
    received = {r.headers["webhook-id"] for r in sink.received}
    return [
        d
        for d in all_deliveries(sessions)
        if d.status is DeliveryStatus.PENDING
        and d.lease_owner is not None
        and d.lease_owner not in earlier_owners
        and d.webhook_id in received
    ]


def wait_for_requests(sink: WebhookSink, count: int, timeout_s: float = 30) -> bool:
    """Poll the receiver (the dispatcher is another process) until it has `count` requests."""
    started = time.monotonic()
    while len(sink.received) < count:
        if time.monotonic() - started > timeout_s:
            return False
        time.sleep(0.01)
    return True


def drain(
    config: Path, secret: str, sessions: sessionmaker[Session], deadline_s: float = 60
) -> None:
    """Run the dispatcher until every delivery is delivered (after leases expire)."""
    time.sleep(LEASE_S + 0.2)
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        start_dispatcher(config, secret, "--once").wait(timeout=60)
        if all(d.status is DeliveryStatus.DELIVERED for d in all_deliveries(sessions)):
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
        [cut] = cut_mid_delivery(sessions, sink, set())
        drain(config, secret, sessions)
        ids = [r.headers["webhook-id"] for r in sink.received]
        [delivered] = all_deliveries(sessions)
    assert delivered.status is DeliveryStatus.DELIVERED and delivered.attempts == 1
    assert ids == [cut.webhook_id, cut.webhook_id]


@pytest.mark.slow
def test_hundred_deliveries_with_random_kills_lose_nothing(tmp_path: Path) -> None:
    """100 deliveries, six dispatchers each killed at a random request while it is in flight:
    every kill cuts deliveries mid-way, and every delivery still arrives, under its own id."""
    secret = new_secret()
    rng = random.Random(20261122)
    with WebhookSink(lambda r: Reply(200, chunk_delay_s=ANSWER_DELAY_S)) as sink:
        config = write_config(tmp_path, sink.url())
        sessions = open_sessions(config)
        store_alerts(sessions, 100)
        owners: set[str] = set()
        cuts = []
        for _ in range(6):
            undelivered = sum(
                d.status is not DeliveryStatus.DELIVERED for d in all_deliveries(sessions)
            )
            target = len(sink.received) + rng.randint(1, max(1, min(60, undelivered)))
            process = start_dispatcher(config, secret)
            wait_for_requests(sink, target)
            time.sleep(rng.uniform(0, ANSWER_DELAY_S / 2))
            assert process.poll() is None, "the dispatcher exited before it was killed"
            process.send_signal(signal.SIGKILL)
            process.wait()
            cut = cut_mid_delivery(sessions, sink, owners)
            cuts.append(len(cut))
            owners |= {d.lease_owner for d in cut if d.lease_owner}
        drain(config, secret, sessions)
        deliveries = all_deliveries(sessions)
        received = {r.headers["webhook-id"] for r in sink.received}
    assert all(cuts), f"a kill landed outside any delivery: {cuts}"
    assert len(deliveries) == 100 and received == {d.webhook_id for d in deliveries}
    assert all(d.status is DeliveryStatus.DELIVERED for d in deliveries)
    assert len(sink.received) > 100  # the cut deliveries were sent again


def test_settings_file_is_valid(tmp_path: Path) -> None:
    """The crash tests' settings file is a valid monitor config."""
    from monitor.config import load_settings

    settings = load_settings(write_config(tmp_path, "http://127.0.0.1:9/hook"))
    assert isinstance(settings, Settings) and settings.alerts.lease_s == LEASE_S
