"""The dispatcher: claims due deliveries with a lease, sends them, records every attempt, and
retries, kills or disables. A crash at any point loses nothing: an expired lease makes the row
claimable again, and the webhook id stays the same. A sender that raises is an attempt like any
other: it is recorded with its error and retried on the schedule, never re-sent forever."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.retry import decide_next_step
from monitor.alerts.senders import Sender, SendResult, elapsed_ms
from monitor.config import AlertSettings
from monitor.storage.alerts import (
    claim_deliveries,
    disable_channel,
    disabled_channels,
    record_attempt,
)
from monitor.values import AttemptOutcome, AttemptResult, ClaimedDelivery, DeliveryStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DispatchSummary:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    disabled: int = 0


async def send_safely(sender: Sender, delivery: ClaimedDelivery) -> SendResult:
    """The sender's result; any exception it raises becomes a failed attempt carrying it."""
    started = time.monotonic()
    try:
        return await sender.send(delivery)
    except Exception as exc:  # every send must end as a recorded attempt
        log.exception("sender for %s failed on delivery %s", delivery.channel, delivery.id)
        detail = " ".join(str(exc).split())
        error = f"internal error in the {delivery.channel} sender: {type(exc).__name__}: {detail}"
        return SendResult(AttemptOutcome(AttemptResult.FAILED, error=error), elapsed_ms(started))


@dataclass
class Dispatcher:
    sessions: sessionmaker[Session]
    senders: Mapping[str, Sender]
    settings: AlertSettings
    clock: Callable[[], datetime]
    owner: str = field(default_factory=lambda: f"dispatcher-{uuid.uuid4().hex[:12]}")
    rng: random.Random = field(default_factory=random.Random)

    async def dispatch_due(self, limit: int = 50) -> DispatchSummary:
        claimed = await asyncio.to_thread(self.claim, limit)
        if not claimed:
            return DispatchSummary()
        disabled = await asyncio.to_thread(self.read_disabled)
        statuses = await asyncio.gather(*(self.deliver(d, disabled) for d in claimed))
        return DispatchSummary(
            claimed=len(claimed),
            delivered=statuses.count(DeliveryStatus.DELIVERED),
            retrying=statuses.count(DeliveryStatus.PENDING),
            dead=statuses.count(DeliveryStatus.DEAD),
            disabled=statuses.count(DeliveryStatus.DISABLED),
        )

    def claim(self, limit: int) -> list[ClaimedDelivery]:
        with self.sessions.begin() as session:
            return claim_deliveries(session, self.clock(), self.owner, self.settings.lease_s, limit)

    def read_disabled(self) -> dict[str, str]:
        with self.sessions.begin() as session:
            return disabled_channels(session)

    async def deliver(
        self, delivery: ClaimedDelivery, disabled: Mapping[str, str]
    ) -> DeliveryStatus:
        sender = self.senders.get(delivery.channel)
        if delivery.channel in disabled:
            error = f"channel disabled: {disabled[delivery.channel]}"
            result = SendResult(AttemptOutcome(AttemptResult.GONE, error=error), 0)
        elif sender is None:
            error = f"channel {delivery.channel!r} is not configured"
            result = SendResult(AttemptOutcome(AttemptResult.FAILED, error=error), 0)
        else:
            result = await send_safely(sender, delivery)
        return await asyncio.to_thread(self.settle, delivery, result)

    def settle(self, delivery: ClaimedDelivery, result: SendResult) -> DeliveryStatus:
        now = self.clock()
        max_attempts = self.settings.max_attempts if delivery.channel in self.senders else 1
        step = decide_next_step(
            result.outcome,
            delivery.attempts + 1,
            now,
            max_attempts,
            self.settings.retry_schedule_s,
            self.settings.retry_after_cap_s,
            self.rng.random(),
        )
        with self.sessions.begin() as session:
            record_attempt(
                session,
                delivery,
                self.owner,
                result.outcome,
                result.latency_ms,
                result.response,
                step,
                now,
            )
            if step.disable_channel and result.outcome.status_code == 410:
                disable_channel(session, delivery.channel, result.outcome.error or "410 Gone", now)
        return step.status
