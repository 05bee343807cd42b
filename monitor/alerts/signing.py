"""Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,
one per configured secret (several during a rotation), separated by spaces."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from monitor.errors import ConfigError

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret


def decode_secret(secret: str) -> bytes:
    """`whsec_<base64>` (or bare base64) → key bytes."""
    text = secret.strip()
    text = text.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise ConfigError("a webhook secret is not whsec_<base64>") from None


def sign(webhook_id: str, timestamp: int, body: bytes, secrets: Sequence[bytes]) -> str:
    message = f"{webhook_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
        for key in secrets
    )


def webhook_headers(
    webhook_id: str, timestamp: int, body: bytes, secrets: Sequence[bytes]
) -> dict[str, str]:
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(webhook_id, timestamp, body, secrets),
        "content-type": "application/json",
    }
