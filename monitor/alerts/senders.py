"""Channel edges: signed webhooks over the SSRF-guarded HTTP client, and SMTP email."""

from __future__ import annotations

import asyncio
import json
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx

from monitor.alerts.payloads import email_message, slack_body
from monitor.alerts.signing import decode_secret, webhook_headers
from monitor.config import AlertSettings, EmailChannel, SMTPSettings, WebhookChannel
from monitor.errors import ConfigError, MonitorError
from monitor.headers import parse_retry_after
from monitor.values import AttemptOutcome, AttemptResult, ClaimedDelivery

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class SendResult:
    """One attempt's outcome, how long it took and what the receiver answered."""

    outcome: AttemptOutcome
    latency_ms: int
    response: str | None = None


class Sender(Protocol):
    """One channel's edge. It may raise; the dispatcher records any exception as a failed
    attempt."""

    async def send(self, delivery: ClaimedDelivery) -> SendResult: ...


def outcome_of_status(status: int, headers: Mapping[str, str], now: datetime) -> AttemptOutcome:
    """A receiver's answer as an attempt outcome; a Retry-After that is not a number or a date
    is ignored (the schedule applies)."""
    if 200 <= status < 300:
        return AttemptOutcome(AttemptResult.OK, status_code=status)
    if status == 410:
        return AttemptOutcome(
            AttemptResult.GONE, status_code=status, error="HTTP 410 Gone: endpoint disabled"
        )
    if status in REDIRECT_STATUSES:
        target = header_safe_text(headers.get("location", "?"))
        return AttemptOutcome(
            AttemptResult.FAILED,
            status_code=status,
            error=f"HTTP {status} to {target}: redirects are not followed",
        )
    retry_after = headers.get("retry-after")
    delay = parse_retry_after(retry_after, now) if retry_after and status in (429, 503) else None
    return AttemptOutcome(
        AttemptResult.FAILED, status_code=status, retry_after_s=delay, error=f"HTTP {status}"
    )


def header_safe_text(value: str, limit: int = 300) -> str:
    """A receiver-supplied header value fit for an error line."""
    return " ".join(value.split())[:limit]


class WebhookSender:
    """POSTs the alert body with Standard Webhooks headers; never follows redirects."""

    def __init__(
        self,
        channel: WebhookChannel,
        secrets: list[bytes],
        client: httpx.AsyncClient,
        timeout_s: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.channel, self.secrets, self.client = channel, secrets, client
        self.timeout_s, self.clock = timeout_s, clock

    async def send(self, delivery: ClaimedDelivery) -> SendResult:
        payload = json.loads(delivery.payload)
        body = (
            slack_body(payload) if self.channel.format == "slack" else delivery.payload
        ).encode()
        headers = webhook_headers(
            delivery.webhook_id, int(self.clock().timestamp()), body, self.secrets
        )
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self.client.post(self.channel.url, content=body, headers=headers)
        except TimeoutError:
            outcome = AttemptOutcome(
                AttemptResult.FAILED, error=f"no answer within {self.timeout_s:g} s"
            )
            return SendResult(outcome, elapsed_ms(started))
        except (httpx.HTTPError, MonitorError) as exc:
            return SendResult(
                AttemptOutcome(AttemptResult.FAILED, error=f"{type(exc).__name__}: {exc}"),
                elapsed_ms(started),
            )
        outcome = outcome_of_status(response.status_code, response.headers, self.clock())
        return SendResult(outcome, elapsed_ms(started), response.text)


class EmailSender:
    """SMTP with STARTTLS (or implicit TLS) and certificate verification on by default."""

    def __init__(
        self, channel: EmailChannel, smtp: SMTPSettings, credentials: tuple[str, str] | None
    ) -> None:
        self.channel, self.smtp, self.credentials = channel, smtp, credentials

    async def send(self, delivery: ClaimedDelivery) -> SendResult:
        return await asyncio.to_thread(self.send_now, delivery)

    def send_now(self, delivery: ClaimedDelivery) -> SendResult:
        started = time.monotonic()
        message = email_message(
            json.loads(delivery.payload),
            self.smtp.from_address,
            self.channel.to,
            f"<alert-{delivery.alert_uid}@monitor.invalid>",
        )
        context = ssl.create_default_context(cafile=self.smtp.ca_file or None)
        try:
            if self.smtp.ssl:
                server: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.smtp.host, self.smtp.port, timeout=self.smtp.timeout_s, context=context
                )
            else:
                server = smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout_s)
            with server:
                if self.smtp.starttls and not self.smtp.ssl:
                    server.starttls(context=context)
                if self.credentials:
                    server.login(*self.credentials)
                server.send_message(message)
        except smtplib.SMTPResponseException as exc:
            error = f"SMTP {exc.smtp_code}: {smtp_text(exc.smtp_error)[:200]}"
            return SendResult(
                AttemptOutcome(AttemptResult.FAILED, status_code=exc.smtp_code, error=error),
                elapsed_ms(started),
            )
        except (OSError, smtplib.SMTPException) as exc:
            return SendResult(
                AttemptOutcome(AttemptResult.FAILED, error=f"{type(exc).__name__}: {exc}"),
                elapsed_ms(started),
            )
        return SendResult(AttemptOutcome(AttemptResult.OK, status_code=250), elapsed_ms(started))


def smtp_text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def read_secrets(channel: WebhookChannel, environ: Mapping[str, str]) -> list[bytes]:
    """Every secret in the channel's variable (several, space-separated, during a rotation)."""
    value = environ.get(channel.secret_env, "").strip()
    if not value:
        raise ConfigError(
            f"alerts.webhooks[{channel.name}].secret_env: "
            f"environment variable {channel.secret_env} is not set"
        )
    return [decode_secret(part) for part in value.replace(",", " ").split()]


def read_credentials(smtp: SMTPSettings, environ: Mapping[str, str]) -> tuple[str, str] | None:
    user, password = environ.get(smtp.username_env), environ.get(smtp.password_env)
    if bool(user) != bool(password):
        raise ConfigError(f"smtp: set both {smtp.username_env} and {smtp.password_env}, or neither")
    return (user, password) if user and password else None


def open_senders(
    settings: AlertSettings,
    smtp: SMTPSettings,
    client: httpx.AsyncClient,
    clock: Callable[[], datetime],
    environ: Mapping[str, str],
) -> dict[str, Sender]:
    """Every configured channel's sender; missing secrets or SMTP host are ConfigErrors."""
    senders: dict[str, Sender] = {}
    for webhook in settings.webhooks:
        senders[webhook.name] = WebhookSender(
            webhook, read_secrets(webhook, environ), client, settings.webhook_timeout_s, clock
        )
    if settings.emails and not smtp.host:
        raise ConfigError("smtp.host: email channels are configured but no SMTP host is set")
    credentials = read_credentials(smtp, environ) if settings.emails else None
    for email in settings.emails:
        senders[email.name] = EmailSender(email, smtp, credentials)
    return senders
