"""`monitor alerts …` and alert configuration errors as a user meets them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from monitor.loopback import Received, Reply, WebhookSink
from tests.alert_support import new_secret
from tests.conftest import PROJECT_ROOT

HOOK = '[[alerts.webhooks]]\nname = "ops"\nurl = "{url}"\nsecret_env = "MONITOR_TEST_HOOK_SECRET"\n'


def run(config: Path, *args: str, secret: str | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "MONITOR_TEST_HOOK_SECRET"}
    if secret:
        environ["MONITOR_TEST_HOOK_SECRET"] = secret
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=environ,
    )


def config_file(tmp_path: Path, alerts: str) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "a.db"}"\n'
        '[network]\nallow_cidrs = ["127.0.0.0/8"]\n' + alerts
    )
    return path


class TestConfigErrors:
    @pytest.mark.parametrize(
        ("alerts", "expected"),
        [
            (
                HOOK.format(url="https://h.example/x")
                + '[[alerts.rules]]\nname = "r"\nchannels = ["nope"]\n',
                "alerts: Value error, rule 'r' names unknown channel 'nope'",
            ),
            (
                HOOK.format(url="https://h.example/x")
                + '[[alerts.rules]]\nname = "r"\nchannels = ["ops"]\ndigest_every = "soon"\n',
                "alerts.rules.0.digest_every: Value error, not a duration like 30m, 6h or 1d: 'soon'",
            ),
        ],
    )
    def test_bad_alert_config_exits_2(self, tmp_path: Path, alerts: str, expected: str) -> None:
        """Unknown channels and bad durations: one line naming file and key, exit 2."""
        result = run(config_file(tmp_path, alerts), "alerts", "list")
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert expected in result.stderr

    def test_missing_secret_variable_exits_2(self, tmp_path: Path) -> None:
        """A webhook whose secret variable is not set stops the dispatcher at start-up."""
        config = config_file(tmp_path, HOOK.format(url="https://h.example/x"))
        assert run(config, "db", "upgrade").returncode == 0
        result = run(config, "alerts", "dispatch", "--once")
        assert result.returncode == 2
        assert (
            "MONITOR_TEST_HOOK_SECRET is not set" in result.stderr
            and "Traceback" not in result.stderr
        )


class TestCommands:
    def test_test_channel_sends_a_signed_message(self, tmp_path: Path) -> None:
        """`alerts test ops` sends one signed message now and prints the outcome."""
        secret = new_secret()

        def verify(request: Received) -> Reply:
            Webhook(secret).verify(request.body, request.headers)
            return Reply(204)

        with WebhookSink(verify) as sink:
            result = run(
                config_file(tmp_path, HOOK.format(url=sink.url())),
                "alerts",
                "test",
                "ops",
                secret=secret,
            )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["ok"] is True
        assert json.loads(sink.received[0].body)["type"] == "test"

    def test_test_channel_failure_is_one_line(self, tmp_path: Path) -> None:
        """`alerts test ops` against a 503 with a garbage Retry-After prints the outcome and
        one error line, exit 1, no traceback."""
        with WebhookSink(lambda r: Reply(503, {"Retry-After": "²"})) as sink:
            result = run(
                config_file(tmp_path, HOOK.format(url=sink.url())),
                "alerts",
                "test",
                "ops",
                secret=new_secret(),
            )
        assert result.returncode == 1 and "Traceback" not in result.stderr
        outcome = json.loads(result.stdout)
        assert (outcome["ok"], outcome["result"], outcome["status_code"]) == (False, "failed", 503)
        assert outcome["retry_after_s"] is None
        assert "test message to ops failed: HTTP 503" in result.stderr

    def test_list_and_retry(self, tmp_path: Path) -> None:
        """`alerts list --status dead` shows a dead delivery; `alerts retry` makes it due again."""
        config = config_file(tmp_path, HOOK.format(url="https://h.example/x"))
        run(config, "db", "upgrade")
        from sqlalchemy import update
        from sqlalchemy.orm import sessionmaker

        from monitor.config import load_settings
        from monitor.storage.engine import open_engine
        from monitor.storage.schema import Delivery
        from tests.alert_support import store_alerts

        sessions = sessionmaker(open_engine(load_settings(config).database), expire_on_commit=False)
        [alert_id] = store_alerts(sessions, 1)
        with sessions.begin() as session:
            session.execute(
                update(Delivery).values(status="dead", attempts=8, last_error="HTTP 500")
            )
        listed = json.loads(
            run(config, "alerts", "list", "--status", "dead", "--format", "json").stdout
        )
        assert [(d["alert_id"], d["status"], d["last_error"]) for d in listed] == [
            (alert_id, "dead", "HTTP 500")
        ]
        assert listed[0]["webhook_id"].startswith("msg_") and listed[0]["lease_owner"] is None
        assert listed[0]["attempts_logged"] == 0
        assert "is due now" in run(config, "alerts", "retry", str(listed[0]["id"])).stdout
        again = json.loads(run(config, "alerts", "list", "--format", "json").stdout)
        assert (again[0]["status"], again[0]["attempts"]) == ("pending", 0)
        assert run(config, "alerts", "retry", "999").returncode == 1
        enable = run(config, "alerts", "enable", "ops")
        assert enable.returncode == 1 and "is not disabled" in enable.stderr
