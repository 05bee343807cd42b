"""What happens to a delivery after an attempt (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from monitor.values import AttemptOutcome, AttemptResult, DeliveryStatus, NextStep

__all__ = ["AttemptOutcome", "NextStep", "decide_next_step", "retry_delay_s"]


def retry_delay_s(attempts: int, schedule_s: Sequence[float], jitter: float) -> float:
    """The schedule's step for this attempt (its last step repeats), ±10 % jitter."""
    base = schedule_s[min(attempts - 1, len(schedule_s) - 1)]
    return base * (0.9 + 0.2 * jitter)


def decide_next_step(
    outcome: AttemptOutcome,
    attempts: int,
    now: datetime,
    max_attempts: int,
    schedule_s: Sequence[float],
    retry_after_cap_s: float,
    jitter: float,
) -> NextStep:
    """Delivered, retried later (Retry-After honoured, capped), dead, or channel disabled (410)."""
    if outcome.result is AttemptResult.OK:
        return NextStep(DeliveryStatus.DELIVERED, None)
    if outcome.result is AttemptResult.GONE:
        return NextStep(DeliveryStatus.DISABLED, None, disable_channel=True)
    if attempts >= max_attempts:
        return NextStep(DeliveryStatus.DEAD, None)
    delay = retry_delay_s(attempts, schedule_s, jitter)
    if outcome.retry_after_s is not None:
        delay = max(delay, min(outcome.retry_after_s, retry_after_cap_s))
    return NextStep(DeliveryStatus.PENDING, now + timedelta(seconds=delay))
