"""Signed session cookies and CSRF tokens (HMAC-SHA256, no server-side state).

A cookie holds ``user id, issue time, CSRF token`` and an HMAC of them under the
server's secret; a changed byte or an expired login makes it worthless. The CSRF token
is bound to the session and must come back with every form post (hidden field) or
cookie-authenticated API write (``X-CSRF-Token`` header).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

COOKIE = "auditor_session"


@dataclass(frozen=True)
class SessionData:
    """What a valid session cookie says."""

    user_id: int
    issued: float
    csrf: str


def _mac(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def issue(secret: bytes, user_id: int, *, now: float | None = None) -> tuple[str, SessionData]:
    """A new signed cookie value for ``user_id`` and the session it encodes."""
    data = SessionData(user_id, now if now is not None else time.time(), secrets.token_hex(16))
    body = json.dumps([data.user_id, data.issued, data.csrf], separators=(",", ":")).encode()
    encoded = base64.urlsafe_b64encode(body).decode("ascii")
    return f"{encoded}.{_mac(secret, body)}", data


def read(
    secret: bytes, value: str, *, max_age_s: float, now: float | None = None
) -> SessionData | None:
    """The session in a cookie value, or None when it is forged, malformed or expired."""
    encoded, _, mac = value.partition(".")
    try:
        body = base64.urlsafe_b64decode(encoded.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    if not hmac.compare_digest(_mac(secret, body), mac):
        return None
    try:
        user_id, issued, csrf = json.loads(body)
    except (ValueError, TypeError):
        return None
    if not isinstance(user_id, int) or not isinstance(issued, float | int):
        return None
    moment = now if now is not None else time.time()
    if not 0 <= moment - float(issued) <= max_age_s or not isinstance(csrf, str):
        return None
    return SessionData(user_id, float(issued), csrf)


def csrf_ok(session: SessionData, submitted: str | None) -> bool:
    """True when ``submitted`` is this session's CSRF token."""
    return submitted is not None and hmac.compare_digest(session.csrf, submitted)
