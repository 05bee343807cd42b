from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from monitor.config import FetchSettings
from monitor.errors import ErrorClass
from monitor.schedule import plan_after_failure, plan_after_success
from monitor.values import FeedRecord, FetchFailure

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SETTINGS = FetchSettings(
    backoff_base_s=60,
    backoff_max_s=3600,
    retry_after_cap_s=7200,
    disable_after_permanent_failures=3,
)


def make_feed(**overrides: object) -> FeedRecord:
    base = FeedRecord(
        id=1,
        url="https://e.org/rss",
        name=None,
        language=None,
        enabled=True,
        poll_interval_s=600,
        etag='"v1"',
        last_modified="Mon, 02 Nov 2026 10:00:00 GMT",
        next_poll_at=NOW,
        consecutive_failures=0,
        permanent_failures=0,
        last_status=None,
        last_http_status=None,
        last_error=None,
        last_error_class=None,
        disabled_reason=None,
        last_fetched_at=None,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def make_failure(error_class: ErrorClass, retry_after_s: float | None = None) -> FetchFailure:
    return FetchFailure(error_class, "HTTPStatusError", "HTTP 503", 503, retry_after_s, 0.1)


class TestSuccess:
    def test_not_modified_keeps_validators(self) -> None:
        """A 304 without validators keeps the stored ETag and Last-Modified."""
        state = plan_after_success(make_feed(), {}, not_modified=True, now=NOW, settings=SETTINGS)
        assert (state.etag, state.last_modified) == ('"v1"', "Mon, 02 Nov 2026 10:00:00 GMT")
        assert state.outcome == "not_modified"

    def test_ok_stores_new_validators_and_resets_failures(self) -> None:
        """A 200 stores its own validators and clears the failure streak."""
        feed = make_feed(consecutive_failures=4, permanent_failures=2)
        state = plan_after_success(feed, {"etag": '"v2"'}, False, NOW, SETTINGS, new_articles=2)
        assert state.etag == '"v2"' and state.last_modified is None
        assert state.consecutive_failures == state.permanent_failures == 0
        assert state.next_poll_at == NOW + timedelta(seconds=600)


class TestAdaptiveInterval:
    def test_quiet_feed_slows_down_busy_feed_returns_to_its_interval(self) -> None:
        """Nothing new: 1.5× per poll up to the maximum; new articles: back to the feed's own."""
        bounded = FetchSettings(min_poll_interval_s=60, max_poll_interval_s=2000)
        feed = make_feed(poll_interval_s=600)
        intervals = []
        for _ in range(4):
            state = plan_after_success(feed, {}, True, NOW, bounded)
            intervals.append(state.current_interval_s)
            feed = make_feed(poll_interval_s=600, current_interval_s=state.current_interval_s)
        assert intervals == [900, 1350, 2000, 2000]
        busy = plan_after_success(feed, {}, False, NOW, bounded, new_articles=3)
        assert busy.current_interval_s == 600

    def test_ttl_and_cache_control_are_floors_when_sane(self) -> None:
        """RSS ttl or max-age within bounds stretch the interval; absurd values are ignored."""
        bounded = FetchSettings(min_poll_interval_s=60, max_poll_interval_s=7200)
        feed = make_feed(poll_interval_s=600)
        assert (
            plan_after_success(feed, {}, False, NOW, bounded, 1, ttl_minutes=60).current_interval_s
            == 3600
        )
        headers = {"cache-control": "public, max-age=1800"}
        assert plan_after_success(feed, headers, False, NOW, bounded, 1).current_interval_s == 1800
        assert (
            plan_after_success(
                feed, {}, False, NOW, bounded, 1, ttl_minutes=100000
            ).current_interval_s
            == 600
        )


class TestFailure:
    def test_backoff_doubles_with_jitter_within_bounds(self) -> None:
        """Delays grow exponentially, stay in [half, full] of the step, and are capped."""
        for failures, step in [(0, 60), (1, 120), (2, 240), (10, 3600)]:
            feed = make_feed(consecutive_failures=failures)
            low = plan_after_failure(feed, make_failure(ErrorClass.TRANSIENT), NOW, SETTINGS, 0.0)
            high = plan_after_failure(
                feed, make_failure(ErrorClass.TRANSIENT), NOW, SETTINGS, 0.999
            )
            assert low.next_poll_at == NOW + timedelta(seconds=step / 2)
            assert (
                NOW + timedelta(seconds=step * 0.99)
                < high.next_poll_at
                <= NOW + timedelta(seconds=step)
            )

    def test_retry_after_is_honoured_and_capped(self) -> None:
        """Rate limiting waits for Retry-After, at least the poll interval, at most the cap."""
        feed = make_feed()
        for retry_after, expected in [(1800, 1800), (5, 600), (99999, 7200)]:
            failure = make_failure(ErrorClass.RATE_LIMITED, retry_after)
            state = plan_after_failure(feed, failure, NOW, SETTINGS, 0.5)
            assert state.next_poll_at == NOW + timedelta(seconds=expected)
            assert state.enabled

    def test_disabled_after_consecutive_permanent_failures(self) -> None:
        """The third permanent failure in a row disables the feed and says why."""
        feed = make_feed(consecutive_failures=2, permanent_failures=2)
        state = plan_after_failure(feed, make_failure(ErrorClass.PERMANENT), NOW, SETTINGS, 0.5)
        assert not state.enabled
        assert (
            state.disabled_reason is not None
            and "3 consecutive permanent failures" in state.disabled_reason
        )

    def test_transient_failure_breaks_the_permanent_streak(self) -> None:
        """Only permanent failures in a row count towards disabling."""
        feed = make_feed(consecutive_failures=2, permanent_failures=2)
        state = plan_after_failure(feed, make_failure(ErrorClass.TRANSIENT), NOW, SETTINGS, 0.5)
        assert state.enabled and state.permanent_failures == 0 and state.consecutive_failures == 3


class TestConfigProblem:
    def test_blocked_address_never_disables_the_feed(self) -> None:
        """A feed refused by the SSRF guard stays enabled however often it is refused, and its
        permanent streak is neither counted up nor reset."""
        feed = make_feed(consecutive_failures=9, permanent_failures=2)
        for _ in range(10):
            state = plan_after_failure(feed, make_failure(ErrorClass.CONFIG), NOW, SETTINGS, 0.5)
            feed = make_feed(
                consecutive_failures=state.consecutive_failures,
                permanent_failures=state.permanent_failures,
            )
        assert state.enabled and state.disabled_reason is None
        assert state.permanent_failures == 2 and state.consecutive_failures == 19
        assert state.last_error_class == "config"

    def test_blocked_address_retried_on_the_longest_backoff(self) -> None:
        """A configuration problem waits the longest back-off, whatever the jitter: the
        operator has to act first."""
        for jitter in (0.0, 0.999):
            state = plan_after_failure(
                make_feed(), make_failure(ErrorClass.CONFIG), NOW, SETTINGS, jitter
            )
            assert state.next_poll_at == NOW + timedelta(seconds=SETTINGS.backoff_max_s)


class TestHostileHeaders:
    def test_overlong_max_age_is_no_hint(self) -> None:
        """A `max-age` of 5,000 digits (past int()'s 4,300-digit limit) is ignored, not raised."""
        headers = {"cache-control": "max-age=" + "9" * 5000}
        state = plan_after_success(make_feed(), headers, False, NOW, SETTINGS)
        assert state.current_interval_s == 900
