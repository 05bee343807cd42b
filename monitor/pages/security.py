"""Access to the pages: who may read, who may write, signed cookies and CSRF tokens.

- A server bound to loopback with `[api] require_token_for_reads = false` is *open*: its pages
  need no login, and their writes are recorded as the author `local` (whoever can reach a
  loopback port owns the machine; the API itself still asks for its token).
- Otherwise the login form takes the API token and sets `monitor_session`, a signed, HttpOnly,
  `SameSite=Strict` cookie that expires after `[pages] session_max_age_s`; with it, reads and
  writes are allowed and writes are recorded as `[api] token_name`.
- Every state-changing form carries a CSRF token: an HMAC of the random `monitor_csrf` cookie.
  A post without the matching pair is refused with 403.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from monitor.config import Settings

SESSION_COOKIE = "monitor_session"
CSRF_COOKIE = "monitor_csrf"
LOCAL_AUTHOR = "local"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def signing_key(settings: Settings, token: bytes | None, environ: Mapping[str, str]) -> bytes:
    """The secret from `[pages] session_secret_env`, else one derived from the API token, else
    a random one for this process (no login is possible then; CSRF still works)."""
    secret = environ.get(settings.pages.session_secret_env, "")
    if secret:
        return hashlib.sha256(b"monitor pages secret\0" + secret.encode()).digest()
    if token:
        return hmac.new(token, b"monitor pages session", hashlib.sha256).digest()
    return os.urandom(32)


def sign(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def is_open(settings: Settings) -> bool:
    """Pages that open without a login: loopback server, reads not behind the token."""
    return is_loopback(settings.api.host) and not settings.api.require_token_for_reads


def token_fingerprint(token: bytes | None) -> str:
    return hashlib.sha256(token or b"").hexdigest()[:16]


def session_cookie(key: bytes, token: bytes, expires_at: int) -> str:
    """`<expiry>.<signature>`: valid until `expires_at` (epoch seconds) and while the token
    it was made with is the token in use."""
    return f"{expires_at}.{sign(key, f'session:{expires_at}:{token_fingerprint(token)}')}"


def is_valid_session(key: bytes, token: bytes | None, cookie: str | None, now_s: float) -> bool:
    if not cookie or token is None:
        return False
    expiry, _, signature = cookie.partition(".")
    if not expiry.isdigit() or int(expiry) <= now_s:
        return False
    expected = sign(key, f"session:{expiry}:{token_fingerprint(token)}")
    return hmac.compare_digest(signature, expected)


def is_right_token(presented: str, token: bytes | None) -> bool:
    return bool(token) and hmac.compare_digest(presented.encode("utf-8"), token or b"")


def new_csrf_cookie() -> str:
    return secrets.token_hex(16)


def csrf_token(key: bytes, cookie: str) -> str:
    """The token a form carries for this browser's CSRF cookie."""
    return sign(key, f"csrf:{cookie}")


def is_valid_csrf(key: bytes, cookie: str | None, presented: str | None) -> bool:
    if not cookie or not presented:
        return False
    return hmac.compare_digest(presented, csrf_token(key, cookie))


@dataclass(frozen=True, slots=True)
class Access:
    """What this request may do on the pages."""

    can_read: bool
    logged_in: bool
    author: str | None  # None: it may not write

    @property
    def can_write(self) -> bool:
        return self.author is not None


def access_of(settings: Settings, logged_in: bool) -> Access:
    if logged_in:
        return Access(True, True, settings.api.token_name)
    if is_open(settings):
        return Access(True, False, LOCAL_AUTHOR)
    return Access(False, False, None)
