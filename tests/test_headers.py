from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.headers import (
    parse_cache_max_age,
    parse_delta_seconds,
    parse_http_date,
    parse_retry_after,
)
from monitor.limits import MAX_HEADER_NUMBER_DIGITS
from tests.factories import NOW


class TestDeltaSeconds:
    def test_ascii_digits(self) -> None:
        """Plain ASCII digits (with surrounding space) are a number of seconds."""
        assert parse_delta_seconds(" 120 ") == 120

    @pytest.mark.parametrize("text", ["²", "٣", "１２", "1.5", "-1", "+5", "1e3", "", "  ", "12 3"])
    def test_non_ascii_or_non_digits_are_none(self, text: str) -> None:
        """Superscripts, other scripts' digits, fullwidth digits, signs and decimals are not
        delta-seconds."""
        assert parse_delta_seconds(text) is None

    def test_digit_bound(self) -> None:
        """A number at the digit bound parses; one digit more (or 5,000) is garbage."""
        assert parse_delta_seconds("9" * MAX_HEADER_NUMBER_DIGITS) == int(
            "9" * MAX_HEADER_NUMBER_DIGITS
        )
        assert parse_delta_seconds("9" * (MAX_HEADER_NUMBER_DIGITS + 1)) is None
        assert parse_delta_seconds("9" * 5000) is None


class TestRetryAfter:
    def test_seconds(self) -> None:
        """Delta-seconds are returned as a float."""
        assert parse_retry_after("30", NOW) == 30.0

    def test_http_date_relative_to_now(self) -> None:
        """An HTTP date is measured from the `now` passed in, never from the clock."""
        assert parse_retry_after("Sun, 22 Nov 2026 12:10:00 GMT", NOW) == 600.0
        assert parse_retry_after("Sun, 22 Nov 2026 12:10:00 GMT", NOW + timedelta(minutes=5)) == (
            300.0
        )

    def test_past_date_is_zero(self) -> None:
        """A date already past means: retry now."""
        assert parse_retry_after("Sun, 22 Nov 2020 12:00:00 GMT", NOW) == 0.0

    @pytest.mark.parametrize(
        "value",
        [
            None,
            "soon",
            "²",
            "9" * 5000,
            "Sun, ²² Nov 2026 12:10:00 GMT",
            "Sun, 22 Nov 99999 GMT",
            "x" * 10_000,
            "Sun, 22 Nov 2026 25:61:00 GMT",
            "\x00",
        ],
    )
    def test_garbage_is_none(self, value: str | None) -> None:
        """Anything that is neither delta-seconds nor an HTTP date is ignored, never raised."""
        assert parse_retry_after(value, NOW) is None

    def test_naive_date_taken_as_utc(self) -> None:
        """A date without a zone is read as UTC."""
        when = parse_http_date("Sun, 22 Nov 2026 12:10:00 -0000")
        assert when is not None and when.utcoffset() == timedelta(0)


class TestCacheMaxAge:
    @pytest.mark.parametrize(
        ("value", "seconds"),
        [
            ("max-age=600", 600),
            ("public, MAX-AGE = 900 , must-revalidate", 900),
            ('max-age="300"', 300),
            ("s-maxage=100, max-age=200", 200),
        ],
    )
    def test_max_age(self, value: str, seconds: int) -> None:
        """The max-age directive is found wherever it stands, in any case, quoted or not."""
        assert parse_cache_max_age(value) == seconds

    @pytest.mark.parametrize(
        "value",
        [
            None,
            "",
            "no-cache",
            "s-maxage=100",
            "max-age",
            "max-age=²",
            "max-age=" + "9" * 5000,
            "max-age=-1",
            "max-age=٣٠٠",
        ],
    )
    def test_garbage_is_none(self, value: str | None) -> None:
        """No max-age, or one that is not a bounded ASCII number, gives no hint."""
        assert parse_cache_max_age(value) is None
