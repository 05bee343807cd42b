"""The one error tree of monitor.

    MonitorError                      root: every expected problem a user may meet
    ├── ConfigError                   bad settings or feed list: names the file and the key
    ├── FetchError                    one fetch attempt failed; carries its ErrorClass
    │   ├── BlockedAddressError       SSRF guard: the host resolves to a forbidden address (config)
    │   ├── BodyTooLargeError         the body (after decompression) passed the cap
    │   ├── DeadlineExceededError     the whole fetch took longer than its deadline
    │   ├── InvalidURLError           a URL that cannot be parsed, e.g. the host `0177.0.0.1`
    │   ├── TooManyRedirectsError     the redirect chain is longer than allowed
    │   ├── UnsupportedSchemeError    a URL (or redirect target) that is not http/https
    │   └── HTTPStatusError           a non-2xx/304 answer from the server
    ├── ParseError                    a body could not be turned into a feed (not a feed, timeout)
    ├── StorageError                  the database is missing, unmigrated or unreachable
    ├── FilterError                   a filter value refused (monitor.filters: 422 / exit 2)
    ├── EncoderProcessError           an encoder child process died, failed to start or to encode
    └── UnexpectedError               a bug met while handling one item of a batch (see below)

Each error that reaches a feed carries an `ErrorClass`, decided once where it is raised:
`permanent` failures count towards disabling the feed, `transient` and `rate_limited` ones are
retried with back-off, and `config` ones (the SSRF guard) wait for the operator: retried on the
longest back-off, never counted towards disabling.

Anything else is a bug. A batch loop (one ingestion cycle) logs it once with its traceback and
the item it was working on, records it against that item as an `UnexpectedError` ("internal
error", transient) and goes on with the next item; everywhere else it is re-raised.
"""

from __future__ import annotations

import enum


class ErrorClass(enum.StrEnum):
    """How a failed fetch should be retried, decided once per error."""

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    RATE_LIMITED = "rate_limited"
    CONFIG = "config"


class MonitorError(Exception):
    """Root of every expected error."""


class ConfigError(MonitorError):
    """A setting or the feed list is wrong; the message names the file and the key."""


class StorageError(MonitorError):
    """The database cannot be used as it is."""


class ParseError(MonitorError):
    """A body could not be parsed into a feed."""

    error_class = ErrorClass.PERMANENT


class FetchError(MonitorError):
    """One fetch attempt failed."""

    error_class: ErrorClass = ErrorClass.TRANSIENT


class BlockedAddressError(FetchError):
    """The URL's host resolves to an address the SSRF guard refuses: a configuration problem
    (the message names `[network] allow_cidrs`), not a fault of the feed."""

    error_class = ErrorClass.CONFIG


class BodyTooLargeError(FetchError):
    """The decompressed body is larger than the configured cap."""

    error_class = ErrorClass.PERMANENT


class DeadlineExceededError(FetchError):
    """The fetch as a whole took longer than its deadline."""


class InvalidURLError(FetchError):
    """A URL, or a redirect target, that cannot be parsed (a malformed host or port)."""

    error_class = ErrorClass.PERMANENT


class TooManyRedirectsError(FetchError):
    """The redirect chain is longer than the configured limit."""

    error_class = ErrorClass.PERMANENT


class UnsupportedSchemeError(FetchError):
    """A URL, or a redirect target, whose scheme is not http or https."""

    error_class = ErrorClass.PERMANENT


class HTTPStatusError(FetchError):
    """The server answered with an error status."""

    def __init__(self, status: int, error_class: ErrorClass, retry_after_s: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.error_class = error_class
        self.retry_after_s = retry_after_s


class UnexpectedError(MonitorError):
    """A bug met while handling one item of a batch: recorded against the item, retried."""

    error_class = ErrorClass.TRANSIENT
