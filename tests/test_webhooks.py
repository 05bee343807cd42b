"""Webhook delivery against a real receiver on 127.0.0.1 that verifies each request with the
`standardwebhooks` reference library (a peer implementation, not ours)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from monitor.alerts.dispatch import Dispatcher, DispatchSummary
from monitor.alerts.senders import Sender, SendResult, open_senders
from monitor.alerts.signing import decode_secret, webhook_headers
from monitor.config import AlertSettings, NetworkSettings, SMTPSettings
from monitor.fetch import open_client
from monitor.limits import MAX_ERROR_CHARS
from monitor.loopback import Received, Reply, WebhookSink
from monitor.storage.alerts import (
    RESPONSE_KEEP_CHARS,
    disabled_channels,
    enable_channel,
    list_attempts,
    list_deliveries,
)
from monitor.values import ClaimedDelivery, DeliveryStatus
from tests.alert_support import FakeClock, new_secret, sample_view, store_alerts, webhook_settings

LOOPBACK = NetworkSettings(allow_cidrs=["127.0.0.0/8"])


def dispatch(
    sessions: sessionmaker[Session],
    settings: AlertSettings,
    environ: dict[str, str],
    rounds: int = 1,
    clock: FakeClock | None = None,
    step_s: float = 0.0,
    network: NetworkSettings = LOOPBACK,
    senders: dict[str, Sender] | None = None,
) -> list[DispatchSummary]:
    """`rounds` dispatcher rounds; the clock moves `step_s` seconds between them."""
    clock = clock or FakeClock()

    async def run() -> list[DispatchSummary]:
        async with open_client(network) as client:
            channels = senders or open_senders(settings, SMTPSettings(), client, clock, environ)
            dispatcher = Dispatcher(sessions, channels, settings, clock)
            results = []
            for _ in range(rounds):
                results.append(await dispatcher.dispatch_due())
                clock.advance(step_s)
            return results

    return asyncio.run(run())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def secret() -> str:
    return new_secret()


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as receiver:
        yield receiver


def verifying(secret: str) -> object:
    def respond(request: Received) -> Reply:
        try:
            Webhook(secret).verify(request.body, request.headers)
        except WebhookVerificationError:
            return Reply(401, body=b"bad signature")
        return Reply(204)

    return respond


class TestSignatures:
    def test_reference_library_accepts_every_delivery(
        self, sessions: sessionmaker[Session], sink: WebhookSink, secret: str
    ) -> None:
        """Bodies are the documented JSON and carry valid Standard Webhooks signatures."""
        sink.responder = verifying(secret)  # type: ignore[assignment]
        store_alerts(sessions, 3)
        [summary] = dispatch(
            sessions, webhook_settings(sink.url()), {"MONITOR_TEST_HOOK_SECRET": secret}
        )
        assert (summary.claimed, summary.delivered) == (3, 3)
        assert len(sink.received) == 3
        body = json.loads(sink.received[0].body)
        assert body["schema"] == "monitor.alert/1" and body["type"] == "match.created"
        assert body["story"]["title"].startswith("Story") and body["countries"] == ["CU"]
        assert len({r.headers["webhook-id"] for r in sink.received}) == 3

    def test_rotation_old_and_new_secrets_both_verify(
        self, sessions: sessionmaker[Session], sink: WebhookSink
    ) -> None:
        """With two secrets configured, receivers on either secret accept the request."""
        old, new = new_secret(), new_secret()
        store_alerts(sessions, 1)
        dispatch(
            sessions, webhook_settings(sink.url()), {"MONITOR_TEST_HOOK_SECRET": f"{old} {new}"}
        )
        [request] = sink.received
        Webhook(old).verify(request.body, request.headers)
        Webhook(new).verify(request.body, request.headers)

    def test_replay_and_tampering_rejected(self, secret: str) -> None:
        """A signature older than 5 minutes, or a modified body, fails verification."""
        body = b'{"type": "match.created"}'
        stale = webhook_headers("msg_1", int(time.time()) - 360, body, [decode_secret(secret)])
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(body, stale)
        fresh = webhook_headers("msg_1", int(time.time()), body, [decode_secret(secret)])
        Webhook(secret).verify(body, fresh)
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(body.replace(b"created", b"deleted"), fresh)

    def test_slack_format(
        self, sessions: sessionmaker[Session], sink: WebhookSink, secret: str
    ) -> None:
        """format = "slack" sends a Slack/Mattermost body with the story line, "1 outlet", the
        feed's name, the reasons in words and links."""
        store_alerts(sessions, 1, title="Putin meets Lula")
        dispatch(sessions, slack_settings(sink), {"MONITOR_TEST_HOOK_SECRET": secret})
        text = json.loads(sink.received[0].body)["text"]
        assert "Putin meets Lula" in text and "<https://e.org/1|Putin meets Lula>" in text
        assert "— 1 outlet, score 0.97" in text and "outlet(s)" not in text
        assert "(Prensa Latina)" in text
        assert "Russia — officials: lavrov; state: russia" in text
        assert "Closest seed story: Russian oil for Cuba (similarity 0.812)" in text

    def test_slack_markup_in_feed_text_is_escaped(
        self, sessions: sessionmaker[Session], sink: WebhookSink, secret: str
    ) -> None:
        """A title or feed name with <!channel>, <@U…> or <https://evil|label> neither pings
        nor forges a link: Slack's &, <, > arrive as entities; the only link is the article's."""
        hostile = "Putin <!channel> <@U024BE7LH> & <https://evil.example|Lula> <!here>"
        view = sample_view(title=hostile, feed_name="<!everyone> RT")
        store_alerts(sessions, 1, view=view)
        dispatch(sessions, slack_settings(sink), {"MONITOR_TEST_HOOK_SECRET": secret})
        text = json.loads(sink.received[0].body)["text"]
        assert "&lt;!channel&gt;" in text and "&lt;@U024BE7LH&gt;" in text
        assert "&amp; &lt;https://evil.example|Lula&gt;" in text and "&lt;!everyone&gt; RT" in text
        escaped = hostile.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert re.findall(r"<[^>]*>", text) == [f"<https://e.org/1|{escaped}>"]

    def test_slack_link_cannot_be_relabelled_by_its_url(self) -> None:
        """A `|` in an article URL is percent-encoded; a non-http URL is not linked."""
        from monitor.alerts.payloads import slack_link

        assert slack_link("https://a.example/x|forged", "t") == "<https://a.example/x%7Cforged|t>"
        assert slack_link("javascript:alert(1)", "t <b>") == "t &lt;b&gt;"


def slack_settings(sink: WebhookSink) -> AlertSettings:
    return webhook_settings(
        sink.url(),
        webhooks=[
            {
                "name": "ops",
                "url": sink.url(),
                "secret_env": "MONITOR_TEST_HOOK_SECRET",
                "format": "slack",
            }
        ],
    )


class Exploding:
    """A sender with a bug: every send raises something no sender expects."""

    def __init__(self, message: str = "story\nmissing in") -> None:
        self.calls = 0
        self.message = message

    async def send(self, delivery: ClaimedDelivery) -> SendResult:
        self.calls += 1
        raise RuntimeError(f"{self.message} {delivery.webhook_id}")


class TestFailures:
    def test_500_then_200_delivered_once_two_attempts(
        self, sessions: sessionmaker[Session], sink: WebhookSink, secret: str, clock: FakeClock
    ) -> None:
        """A failing receiver is retried on schedule; the same webhook-id arrives both times."""
        sink.responder = lambda r: Reply(500) if len(sink.received) == 1 else Reply(200)
        store_alerts(sessions, 1, now=clock.now)
        summaries = dispatch(
            sessions,
            webhook_settings(sink.url()),
            {"MONITOR_TEST_HOOK_SECRET": secret},
            rounds=3,
            clock=clock,
            step_s=0.3,
        )
        assert [s.claimed for s in summaries] == [1, 1, 0]
        with sessions() as session:
            [delivery] = list_deliveries(session)
            attempts = list_attempts(session, delivery.id)
        assert delivery.status == "delivered"
        assert [a.status_code for a in attempts] == [500, 200]
        assert (
            len({r.headers["webhook-id"] for r in sink.received}) == 1 and len(sink.received) == 2
        )

    def test_timeout_is_retried_later(
        self, sessions: sessionmaker[Session], sink: WebhookSink, secret: str
    ) -> None:
        """No answer within the per-attempt timeout: logged, and the delivery waits for a retry."""
        sink.responder = lambda r: Reply(200, chunk_delay_s=2.0)
        store_alerts(sessions, 1)
        dispatch(sessions, webhook_settings(sink.url()), {"MONITOR_TEST_HOOK_SECRET": secret})
        with sessions() as session:
            [delivery] = list_deliveries(session)
        assert delivery.status == "pending" and "no answer within 1 s" in (
            delivery.last_error or ""
        )

    def test_410_disables_the_endpoint(
        self, sessions: sessionmaker[Session], sink: WebhookSink, secret: str
    ) -> None:
        """410 Gone disables the channel; later deliveries to it are not sent."""
        sink.responder = lambda r: Reply(410)
        store_alerts(sessions, 1)
        settings = webhook_settings(sink.url())
        dispatch(sessions, settings, {"MONITOR_TEST_HOOK_SECRET": secret})
        store_alerts(sessions, 1)
        dispatch(sessions, settings, {"MONITOR_TEST_HOOK_SECRET": secret})
        with sessions() as session:
            statuses = [d.status for d in list_deliveries(session)]
            disabled = disabled_channels(session)
        assert statuses == ["disabled", "disabled"] and "ops" in disabled
        assert len(sink.received) == 1
        with sessions.begin() as session:
            assert enable_channel(session, "ops") and not disabled_channels(session)

    def test_429_retry_after_honoured(
        self, sessions: sessionmaker[Session], sink: WebhookSink, secret: str, clock: FakeClock
    ) -> None:
        """429 with Retry-After: 120 schedules the next attempt two minutes out."""
        sink.responder = lambda r: Reply(429, {"Retry-After": "120"})
        store_alerts(sessions, 1, now=clock.now)
        dispatch(
            sessions,
            webhook_settings(sink.url()),
            {"MONITOR_TEST_HOOK_SECRET": secret},
            clock=clock,
        )
        with sessions() as session:
            [delivery] = list_deliveries(session)
        assert delivery.status == DeliveryStatus.PENDING
        assert delivery.next_attempt_at == clock.now + timedelta(seconds=120)

    @pytest.mark.parametrize("retry_after", ["²", "½", "9" * 5000, "-5", "soon"])
    def test_garbage_retry_after_is_ignored(
        self,
        sessions: sessionmaker[Session],
        sink: WebhookSink,
        secret: str,
        clock: FakeClock,
        retry_after: str,
    ) -> None:
        """503 with a Retry-After that is not ASCII digits or a date: the attempt is recorded as
        HTTP 503 and retried on the schedule (0.2 s ± 10 %), as if the header were absent."""
        sink.responder = lambda r: Reply(503, {"Retry-After": retry_after})
        store_alerts(sessions, 1, now=clock.now)
        [summary] = dispatch(
            sessions,
            webhook_settings(sink.url()),
            {"MONITOR_TEST_HOOK_SECRET": secret},
            clock=clock,
        )
        with sessions() as session:
            [delivery] = list_deliveries(session)
            attempts = list_attempts(session, delivery.id)
        assert summary.retrying == 1 and delivery.status == DeliveryStatus.PENDING
        assert [(a.status_code, a.error) for a in attempts] == [(503, "HTTP 503")]
        wait_s = (delivery.next_attempt_at - clock.now).total_seconds()
        assert 0.18 <= wait_s <= 0.22

    def test_a_sender_that_raises_is_recorded_and_retried_until_dead(
        self, sessions: sessionmaker[Session], clock: FakeClock
    ) -> None:
        """Any exception in a send is a failed attempt with its error on one line, retried on
        the schedule and dead after max_attempts: never re-sent forever."""
        exploding = Exploding()
        settings = webhook_settings("https://hooks.example.org/x")
        store_alerts(sessions, 1, now=clock.now)
        summaries = dispatch(
            sessions, settings, {}, rounds=6, clock=clock, step_s=5.0, senders={"ops": exploding}
        )
        with sessions() as session:
            [delivery] = list_deliveries(session)
            attempts = list_attempts(session, delivery.id)
        assert [s.claimed for s in summaries] == [1, 1, 1, 1, 0, 0]
        assert exploding.calls == settings.max_attempts == len(attempts) == 4
        assert delivery.status == DeliveryStatus.DEAD and delivery.lease_owner is None
        assert attempts[0].error is not None
        assert re.fullmatch(
            r"internal error in the ops sender: RuntimeError: story missing in msg_\w+",
            attempts[0].error,
        )

    def test_redirect_not_followed(
        self, sessions: sessionmaker[Session], sink: WebhookSink, secret: str
    ) -> None:
        """A 301 is an error; the receiver is not asked twice."""
        sink.responder = lambda r: Reply(301, {"Location": sink.url("/elsewhere")})
        store_alerts(sessions, 1)
        dispatch(sessions, webhook_settings(sink.url()), {"MONITOR_TEST_HOOK_SECRET": secret})
        with sessions() as session:
            [delivery] = list_deliveries(session)
        assert "redirects are not followed" in (delivery.last_error or "")
        assert [r.path for r in sink.received] == ["/hook"]

    def test_ssrf_guard_applies(
        self, sessions: sessionmaker[Session], sink: WebhookSink, secret: str
    ) -> None:
        """Without an allowed CIDR, a webhook to 127.0.0.1 is refused before connecting."""
        store_alerts(sessions, 1)
        dispatch(
            sessions,
            webhook_settings(sink.url()),
            {"MONITOR_TEST_HOOK_SECRET": secret},
            network=NetworkSettings(),
        )
        with sessions() as session:
            [delivery] = list_deliveries(session)
        assert "non-public address" in (delivery.last_error or "") and sink.received == []


class TestStoredBounds:
    def test_long_answers_and_errors_are_cut_at_their_limits(
        self, sessions: sessionmaker[Session], sink: WebhookSink, secret: str, clock: FakeClock
    ) -> None:
        """A receiver's answer is kept to RESPONSE_KEEP_CHARS; a sender's error to
        MAX_ERROR_CHARS, on both databases."""
        sink.responder = lambda r: Reply(500, body=b"x" * 5000)
        store_alerts(sessions, 1, now=clock.now)
        env = {"MONITOR_TEST_HOOK_SECRET": secret}
        dispatch(sessions, webhook_settings(sink.url()), env, clock=clock, step_s=5.0)
        huge = Exploding(message="y" * (MAX_ERROR_CHARS * 2))
        dispatch(sessions, webhook_settings(sink.url()), env, clock=clock, senders={"ops": huge})
        with sessions() as session:
            [delivery] = list_deliveries(session)
            first, second = list_attempts(session, delivery.id)
        assert first.response == "x" * RESPONSE_KEEP_CHARS
        assert second.error is not None and len(second.error) == MAX_ERROR_CHARS
        assert delivery.last_error == second.error


class TestStartup:
    def test_missing_secret_variable_is_a_config_error(self, sink: WebhookSink) -> None:
        """A webhook whose secret variable is unset stops start-up with the variable's name."""
        with pytest.raises(Exception, match="MONITOR_TEST_HOOK_SECRET is not set"):
            dispatch(None, webhook_settings(sink.url()), {})  # type: ignore[arg-type]
