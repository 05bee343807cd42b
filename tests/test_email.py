"""Email delivery against a real SMTP server (aiosmtpd) on 127.0.0.1 with STARTTLS and a test CA."""

from __future__ import annotations

import asyncio
import email
import socket
import ssl
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.dispatch import Dispatcher
from monitor.alerts.senders import open_senders
from monitor.config import AlertSettings, NetworkSettings, SMTPSettings
from monitor.fetch import open_client
from monitor.storage.alerts import list_attempts, list_deliveries
from monitor.values import AlertType, DeliveryStatus
from tests.alert_support import FakeClock, sample_view, store_alerts

RECIPIENT = "desk@example.org"


class RecordingHandler:
    """Keeps every message; answers `451` to the first `transient_failures` DATA commands."""

    def __init__(self, transient_failures: int = 0) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        self.transient_failures = transient_failures

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.transient_failures:
            self.transient_failures -= 1
            return "451 4.3.0 try again later"
        self.messages.append(
            (list(envelope.rcpt_tos), envelope.original_content or envelope.content)
        )
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def smtp_server(ca: trustme.CA) -> Iterator[tuple[Controller, RecordingHandler]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    handler = RecordingHandler()
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True
    )
    controller.start()
    yield controller, handler
    controller.stop()


def email_settings() -> AlertSettings:
    return AlertSettings(
        emails=[{"name": "desk", "to": [RECIPIENT]}],
        rules=[{"name": "relevant", "channels": ["desk"]}],
        retry_schedule_s=[0.1],
        max_attempts=3,
    )


def send_all(sessions: sessionmaker[Session], smtp: SMTPSettings, rounds: int = 1) -> list[int]:
    """Dispatcher rounds on a fake clock that moves one second (past the 0.1 s retry step)
    between them; returns how many deliveries each round claimed."""
    clock = FakeClock()

    async def run() -> list[int]:
        async with open_client(NetworkSettings()) as client:
            senders = open_senders(email_settings(), smtp, client, clock, {})
            dispatcher = Dispatcher(sessions, senders, email_settings(), clock)
            claimed = []
            for _ in range(rounds):
                claimed.append((await dispatcher.dispatch_due()).claimed)
                clock.advance(1.0)
            return claimed

    return asyncio.run(run())


def parts_of(message: Message) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }


def smtp_for(controller: Controller, ca_file: str | None) -> SMTPSettings:
    return SMTPSettings(
        host="127.0.0.1",
        port=controller.port,
        starttls=True,
        ca_file=ca_file or "",
        timeout_s=5,
        **{"from": "monitor@example.org"},
    )


def parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw)


class TestDelivery:
    def test_message_arrives_over_starttls_with_headers(
        self,
        sqlite_sessions: sessionmaker[Session],
        smtp_server: tuple[Controller, RecordingHandler],
        ca_file: str,
    ) -> None:
        """STARTTLS with verification; subject, from, to, deterministic Message-ID, text + HTML."""
        controller, handler = smtp_server
        store_alerts(
            sqlite_sessions, 1, channels=("desk",), title="Lavrov visits <Havana> & Caracas"
        )
        send_all(sqlite_sessions, smtp_for(controller, ca_file))
        [(recipients, raw)] = handler.messages
        message = parse(raw)
        assert recipients == [RECIPIENT]
        assert message["Subject"] == "[monitor] new story (0.97): Lavrov visits <Havana> & Caracas"
        assert message["From"] == "monitor@example.org" and message["To"] == RECIPIENT
        assert message["Message-ID"].startswith("<alert-") and message["Message-ID"].endswith(
            "@monitor.invalid>"
        )
        parts = parts_of(message)
        assert "Lavrov visits <Havana> & Caracas" in parts["text/plain"]
        assert "Lavrov visits &lt;Havana&gt; &amp; Caracas" in parts["text/html"]
        assert "<Havana>" not in parts["text/html"]

    def test_untrusted_certificate_refused(
        self,
        sqlite_sessions: sessionmaker[Session],
        smtp_server: tuple[Controller, RecordingHandler],
    ) -> None:
        """Without the test CA the server's certificate is not trusted and nothing is sent."""
        controller, handler = smtp_server
        store_alerts(sqlite_sessions, 1, channels=("desk",))
        send_all(sqlite_sessions, smtp_for(controller, None))
        with sqlite_sessions() as session:
            [delivery] = list_deliveries(session)
        assert handler.messages == [] and delivery.status == "pending"
        assert "CERTIFICATE_VERIFY_FAILED" in (delivery.last_error or "")

    def test_451_then_success_is_retried(
        self,
        sqlite_sessions: sessionmaker[Session],
        smtp_server: tuple[Controller, RecordingHandler],
        ca_file: str,
    ) -> None:
        """A temporary 451 is logged and retried; the second attempt delivers."""
        controller, handler = smtp_server
        handler.transient_failures = 1
        store_alerts(sqlite_sessions, 1, channels=("desk",))
        claimed = send_all(sqlite_sessions, smtp_for(controller, ca_file), rounds=3)
        with sqlite_sessions() as session:
            [delivery] = list_deliveries(session)
            codes = [a.status_code for a in list_attempts(session, delivery.id)]
        assert claimed == [1, 1, 0] and delivery.status == DeliveryStatus.DELIVERED
        assert codes == [451, 250] and len(handler.messages) == 1

    def test_server_down_is_retried(self, sqlite_sessions: sessionmaker[Session]) -> None:
        """Nobody listening: the attempt is logged and the delivery stays pending."""
        store_alerts(sqlite_sessions, 1, channels=("desk",))
        send_all(sqlite_sessions, SMTPSettings(host="127.0.0.1", port=free_port(), timeout_s=2))
        with sqlite_sessions() as session:
            [delivery] = list_deliveries(session)
        assert delivery.status == "pending" and "Connection refused" in (delivery.last_error or "")

    def test_header_injection_in_a_title_creates_no_header(
        self,
        sqlite_sessions: sessionmaker[Session],
        smtp_server: tuple[Controller, RecordingHandler],
        ca_file: str,
    ) -> None:
        """A title containing CR LF "Bcc: x@y" stays inside the subject."""
        controller, handler = smtp_server
        store_alerts(sqlite_sessions, 1, channels=("desk",), title="Breaking\r\nBcc: x@y")
        send_all(sqlite_sessions, smtp_for(controller, ca_file))
        [(recipients, raw)] = handler.messages
        message = parse(raw)
        assert message["Bcc"] is None and recipients == [RECIPIENT]
        assert message["Subject"] == "[monitor] new story (0.97): Breaking Bcc: x@y"

    @pytest.mark.parametrize("separator", ["\n", "\r", "\u2028", "\x85", "\x0b"])
    def test_any_line_break_in_a_title_stays_in_the_subject(
        self,
        sqlite_sessions: sessionmaker[Session],
        smtp_server: tuple[Controller, RecordingHandler],
        ca_file: str,
        separator: str,
    ) -> None:
        """Bare LF, bare CR and Unicode line separators cannot start a header either."""
        controller, handler = smtp_server
        title = f"Breaking{separator}Bcc: x@y"
        store_alerts(sqlite_sessions, 1, channels=("desk",), title=title)
        send_all(sqlite_sessions, smtp_for(controller, ca_file))
        [(recipients, raw)] = handler.messages
        message = parse(raw)
        assert message["Bcc"] is None and recipients == [RECIPIENT]
        assert message["Subject"] == "[monitor] new story (0.97): Breaking Bcc: x@y"


class TestReadableMessages:
    def test_message_names_the_feed_gives_reasons_and_counts_one_outlet(
        self,
        sessions: sessionmaker[Session],
        smtp_server: tuple[Controller, RecordingHandler],
        ca_file: str,
    ) -> None:
        """Text and HTML name the feed, list the reasons in words and say "1 outlet"."""
        controller, handler = smtp_server
        store_alerts(sessions, 1, channels=("desk",), title="Lavrov lands in Havana")
        send_all(sessions, smtp_for(controller, ca_file))
        [(_recipients, raw)] = handler.messages
        parts = parts_of(parse(raw))
        text, page = parts["text/plain"], parts["text/html"]
        for body in (text, page):
            assert "1 outlet, score 0.97, countries CU, topics energy" in body
            assert "outlet(s)" not in body and "1 outlets" not in body
            assert "Reported by: Prensa Latina" in body
            assert "Russia — officials: lavrov; state: russia" in body
            assert "Latin America — CU: cuba, havana" in body
            assert "Closest seed story: Russian oil for Cuba (similarity 0.812)" in body
        assert "  - Lavrov lands in Havana — Prensa Latina <https://e.org/1>" in text

    def test_story_update_and_digest_counts_agree_in_number(
        self,
        sqlite_sessions: sessionmaker[Session],
        smtp_server: tuple[Controller, RecordingHandler],
        ca_file: str,
    ) -> None:
        """ "now reported by 5 outlets", "5 outlets" in the body; a feed without a name is named
        by its URL."""
        controller, handler = smtp_server
        view = sample_view("Sechin in Caracas", outlets=5, feed_name=None)
        store_alerts(sqlite_sessions, 1, ("desk",), view=view, kind=AlertType.STORY_UPDATED)
        send_all(sqlite_sessions, smtp_for(controller, ca_file))
        [(_recipients, raw)] = handler.messages
        message = parse(raw)
        text = parts_of(message)["text/plain"]
        assert message["Subject"] == "[monitor] now reported by 5 outlets: Sechin in Caracas"
        assert "5 outlets, score 0.97" in text
        assert "Reported by: https://feed.example/rss" in text

    def test_feed_text_is_escaped_in_the_html(
        self,
        sqlite_sessions: sessionmaker[Session],
        smtp_server: tuple[Controller, RecordingHandler],
        ca_file: str,
    ) -> None:
        """Markup in the feed name and the reasons arrives as text in the HTML part."""
        controller, handler = smtp_server
        reasons = {"russia": {"state": ["<script>x</script>"]}}
        view = sample_view("Title", feed_name="<b>RT</b> & co", reasons=reasons)
        store_alerts(sqlite_sessions, 1, ("desk",), view=view)
        send_all(sqlite_sessions, smtp_for(controller, ca_file))
        [(_recipients, raw)] = handler.messages
        page = parts_of(parse(raw))["text/html"]
        assert "&lt;b&gt;RT&lt;/b&gt; &amp; co" in page and "<b>RT</b>" not in page
        assert "&lt;script&gt;" in page and "<script>" not in page
