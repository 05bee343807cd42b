"""`monitor alerts …`: the delivery outbox. Storage and the senders (sqlalchemy, httpx, smtplib)
are imported inside the commands that use them, so `monitor alerts --help` stays fast."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os

import click

from monitor.cli.common import (
    config_option,
    echo_json,
    format_option,
    open_database,
    render_table,
    settings_for,
    short_time,
)
from monitor.clock import utc_now
from monitor.values import (
    AlertType,
    ArticleInfo,
    AttemptOutcome,
    ClaimedDelivery,
    DeliveryStatus,
    StoryAlertView,
    StoryInfo,
)

STATUSES = click.Choice([status.value for status in DeliveryStatus])


@click.group()
def alerts() -> None:
    """List, retry and test alert deliveries."""


@alerts.command("list")
@config_option
@click.option("--status", type=STATUSES, help="Only deliveries in this state.")
@format_option("table", "json")
@click.pass_context
def list_command(ctx: click.Context, status: str | None, output_format: str) -> None:
    """Show the latest deliveries: channel, status, attempts, next attempt, last error."""
    from monitor.storage.alerts import count_attempts, list_deliveries

    with open_database(settings_for(ctx)) as sessions, sessions.begin() as session:
        rows = list_deliveries(session, status)
        attempts = count_attempts(session, [row.id for row in rows])
    if output_format == "json":
        echo_json(
            [{**dataclasses.asdict(row), "attempts_logged": attempts[row.id]} for row in rows]
        )
        return
    click.echo(
        render_table(
            ["id", "type", "rule", "channel", "status", "tries", "next (UTC)", "error / message"],
            [
                [
                    r.id,
                    r.alert_type,
                    r.rule,
                    r.channel,
                    r.status,
                    r.attempts,
                    short_time(r.next_attempt_at) if r.status is DeliveryStatus.PENDING else "-",
                    (r.last_error or r.message)[:60],
                ]
                for r in rows
            ],
        )
    )


@alerts.command()
@config_option
@click.argument("delivery_id", type=int)
@click.pass_context
def retry(ctx: click.Context, delivery_id: int) -> None:
    """Make delivery DELIVERY_ID due now with a fresh attempt budget."""
    from monitor.storage.alerts import retry_delivery

    with open_database(settings_for(ctx)) as sessions, sessions.begin() as session:
        changed = retry_delivery(session, delivery_id, utc_now())
    if not changed:
        raise click.ClickException(f"no undelivered delivery {delivery_id}")
    click.echo(f"delivery {delivery_id} is due now")


@alerts.command()
@config_option
@click.argument("channel")
@click.pass_context
def test(ctx: click.Context, channel: str) -> None:
    """Send a test message to CHANNEL now and print the outcome (nothing is stored)."""
    from monitor.alerts.dispatch import send_safely
    from monitor.alerts.payloads import alert_body
    from monitor.alerts.senders import open_senders
    from monitor.fetch import open_client
    from monitor.storage.alerts import new_uid

    settings = settings_for(ctx)

    async def send() -> AttemptOutcome:
        async with open_client(settings.network) as client:
            senders = open_senders(settings.alerts, settings.smtp, client, utc_now, os.environ)
            if channel not in senders:
                raise click.ClickException(
                    f"no such channel: {channel} (configured: {', '.join(senders) or 'none'})"
                )
            uid = new_uid()
            body = alert_body(uid, AlertType.TEST, "test", utc_now(), test_view())
            delivery = ClaimedDelivery(0, channel, f"msg_test_{uid}", 0, uid, AlertType.TEST, body)
            return (await send_safely(senders[channel], delivery)).outcome

    outcome = asyncio.run(send())
    click.echo(json.dumps({**dataclasses.asdict(outcome), "ok": outcome.ok}))
    if not outcome.ok:
        raise click.ClickException(f"test message to {channel} failed: {outcome.error}")


def test_view() -> StoryAlertView:
    now = utc_now().isoformat()
    article = ArticleInfo(0, "monitor test message", None, "monitor", "en", now, 1.0, (), ())
    return StoryAlertView(
        StoryInfo(0, "monitor test message", 1, ("en",), now, now), 1.0, (), (), {}, (article,)
    )


@alerts.command()
@config_option
@click.option("--once", is_flag=True, help="Send what is due now and exit.")
@click.option(
    "--interval",
    "interval_s",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds between rounds.",
)
@click.pass_context
def dispatch(ctx: click.Context, once: bool, interval_s: float) -> None:
    """Run the dispatcher: claim due deliveries, send them, retry on schedule."""
    from monitor.alerts.dispatch import Dispatcher
    from monitor.alerts.senders import open_senders
    from monitor.fetch import open_client

    settings = settings_for(ctx)

    async def run() -> None:
        async with open_client(settings.network) as client:
            senders = open_senders(settings.alerts, settings.smtp, client, utc_now, os.environ)
            dispatcher = Dispatcher(sessions, senders, settings.alerts, utc_now)
            while True:
                done = await dispatcher.dispatch_due()
                if done.claimed:
                    click.echo(json.dumps(dataclasses.asdict(done)))
                if once and not done.claimed:
                    return
                if not done.claimed:
                    await asyncio.sleep(interval_s)

    with open_database(settings) as sessions:
        try:
            asyncio.run(run())
        except KeyboardInterrupt:
            click.echo("stopped", err=True)


@alerts.command()
@config_option
@click.argument("channel")
@click.pass_context
def enable(ctx: click.Context, channel: str) -> None:
    """Re-enable CHANNEL after a 410 Gone disabled it; then `alerts retry` its deliveries."""
    from monitor.storage.alerts import enable_channel

    with open_database(settings_for(ctx)) as sessions, sessions.begin() as session:
        changed = enable_channel(session, channel)
    if not changed:
        raise click.ClickException(f"channel {channel} is not disabled")
    click.echo(f"channel {channel} enabled")
