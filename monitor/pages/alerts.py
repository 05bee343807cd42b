"""The alerts page: the outbox (deliveries with every attempt: status code, latency, the
response's first characters; each alert's type and the developing story it belongs to), retry,
a test message to a channel, channels and rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response

from monitor.alerts.dispatch import send_safely
from monitor.alerts.payloads import alert_body
from monitor.alerts.senders import open_senders
from monitor.errors import MonitorError
from monitor.fetch import open_client
from monitor.pages.context import Pages
from monitor.pages.web import Author, CheckedForm, Reader, back, render
from monitor.storage.alerts import disabled_channels, list_deliveries, new_uid, retry_delivery
from monitor.storage.pages import attempts_for
from monitor.storage.thread_pages import alert_threads
from monitor.values import (
    AlertType,
    ArticleInfo,
    AttemptOutcome,
    ClaimedDelivery,
    StoryAlertView,
    StoryInfo,
)

router = APIRouter(include_in_schema=False)
OUTBOX_ROWS = 200
RESPONSE_CHARS = 200  # of a receiver's answer, shown in the attempts
DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1)]
STATUSES = ("", "pending", "delivered", "dead", "disabled")
TYPE_LABELS = {
    AlertType.MATCH_CREATED: "new story",
    AlertType.STORY_DEVELOPING: "developing",
    AlertType.STORY_UPDATED: "more outlets",
    AlertType.DIGEST: "digest",
    AlertType.TEST: "test",
}


@router.get("/alerts")
def alerts_page(request: Request, pages: Pages, reader: Reader, status: str = "") -> Response:
    if status not in STATUSES:
        raise HTTPException(422, f"status is one of {', '.join(s for s in STATUSES if s)}")
    with pages.sessions() as session:
        deliveries = list_deliveries(session, status or None, OUTBOX_ROWS)
        attempts = attempts_for(session, [d.id for d in deliveries])
        disabled = disabled_channels(session)
        threads = alert_threads(session, [d.alert_id for d in deliveries])
    settings = pages.settings.alerts
    channels = [("webhook", c.name, c.url) for c in settings.webhooks] + [
        ("email", c.name, ", ".join(c.to)) for c in settings.emails
    ]
    return render(
        request,
        pages,
        "alerts.html",
        deliveries=deliveries,
        attempts=attempts,
        threads=threads,
        type_labels=TYPE_LABELS,
        disabled=disabled,
        channels=channels,
        rules=settings.rules,
        status=status,
        statuses=STATUSES,
        response_chars=RESPONSE_CHARS,
        outcome=None,
    )


@router.post("/ui/deliveries/{delivery_id}/retry")
def retry(pages: Pages, form: CheckedForm, author: Author, delivery_id: DeliveryId) -> Response:
    """Make a dead, disabled or pending delivery due now with a fresh attempt budget."""
    with pages.sessions.begin() as session:
        if not retry_delivery(session, delivery_id, pages.app.clock()):
            raise HTTPException(404, "no such delivery waiting to be sent")
    return back(form, "/alerts", "retried")


def test_view(now: str) -> StoryAlertView:
    article = ArticleInfo(0, "monitor test message", None, "monitor", "en", now, 1.0, (), ())
    story = StoryInfo(0, "monitor test message", 1, ("en",), now, now)
    return StoryAlertView(story, 1.0, (), (), {}, (article,))


@router.post("/ui/channels/{name}/test")
async def test_channel(
    request: Request, pages: Pages, form: CheckedForm, author: Author, name: str
) -> Response:
    """Send a test message to the channel now and show the outcome (nothing is stored), as
    `monitor alerts test` does."""
    settings, clock = pages.settings, pages.app.clock
    configured = [c.name for c in settings.alerts.webhooks] + [
        c.name for c in settings.alerts.emails
    ]
    if name not in configured:
        raise HTTPException(404, "no such channel")
    async with open_client(settings.network) as client:
        try:
            senders = open_senders(settings.alerts, settings.smtp, client, clock, pages.environ)
        except MonitorError as error:
            raise HTTPException(409, str(error)) from None
        uid = new_uid()
        body = alert_body(uid, AlertType.TEST, "test", clock(), test_view(clock().isoformat()))
        delivery = ClaimedDelivery(0, name, f"msg_test_{uid}", 0, uid, AlertType.TEST, body)
        outcome: AttemptOutcome = (await send_safely(senders[name], delivery)).outcome
    return render(request, pages, "tested.html", channel=name, outcome=outcome)
