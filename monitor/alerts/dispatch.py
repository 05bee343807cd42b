"""The dispatcher: claims due deliveries with a lease, sends them, records every attempt, and
retries, kills or disables. A crash at any point loses nothing: an expired lease makes the row
claimable again, and the webhook id stays the same."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.retry import (
    DEAD,
    DELIVERED,
    DISABLED,
    PENDING,
    AttemptOutcome,
    decide_next_step,
)
from monitor.alerts.senders import Sender, SendResult
from monitor.config import AlertSettings
from monitor.storage.alerts import (
    ClaimedDelivery,
    claim_deliveries,
    disable_channel,
    disabled_channels,
    record_attempt,
)


@dataclass(frozen=True, slots=True)
class DispatchSummary:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    disabled: int = 0


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
            delivered=statuses.count(DELIVERED),
            retrying=statuses.count(PENDING),
            dead=statuses.count(DEAD),
            disabled=statuses.count(DISABLED),
        )

    def claim(self, limit: int) -> list[ClaimedDelivery]:
        with self.sessions.begin() as session:
            return claim_deliveries(session, self.clock(), self.owner, self.settings.lease_s, limit)

    def read_disabled(self) -> dict[str, str]:
        with self.sessions.begin() as session:
            return disabled_channels(session)

    async def deliver(self, delivery: ClaimedDelivery, disabled: Mapping[str, str]) -> str:
        sender = self.senders.get(delivery.channel)
        if delivery.channel in disabled:
            result = SendResult(
                AttemptOutcome(
                    ok=False, gone=True, error=f"channel disabled: {disabled[delivery.channel]}"
                ),
                0,
            )
        elif sender is None:
            result = SendResult(
                AttemptOutcome(ok=False, error=f"channel {delivery.channel!r} is not configured"), 0
            )
        else:
            result = await sender.send(delivery)
        return await asyncio.to_thread(self.settle, delivery, result)

    def settle(self, delivery: ClaimedDelivery, result: SendResult) -> str:
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
