"""Server-side sessions (table ``web_sessions``) and CSRF tokens.

The cookie holds only a random 256-bit secret; the database holds its SHA-256, the user,
the session's CSRF token and when it expires. A session exists exactly as long as its
row: sign-out deletes it, and a password change or ``auditor users disable`` deletes all
of the user's rows in the same transaction, so a copied or signed-out cookie is refused
on its next request. The CSRF token must come back with every form post (hidden field)
or cookie-authenticated API write (``X-CSRF-Token`` header).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from auditor.store import Store
from auditor.store.models import User, WebSession
from auditor.users import UserInfo

COOKIE = "auditor_session"
_MAX_COOKIE = 128  # a real cookie is 43 characters; longer ones are not looked up


@dataclass(frozen=True)
class SessionData:
    """A live session."""

    user_id: int
    issued: float
    csrf: str
    session_id: int = 0


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def start_session(store: Store, user_id: int, *, hours: float) -> tuple[str, SessionData]:
    """A new session for ``user_id``: the cookie value (shown once) and its data.

    Expired sessions of every user are deleted here, so the table holds only live ones.
    """
    secret = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    csrf = secrets.token_hex(16)
    with store.session() as session:
        session.execute(delete(WebSession).where(WebSession.expires_at <= now))
        row = WebSession(
            token_sha256=_digest(secret),
            user_id=user_id,
            csrf=csrf,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
        session.add(row)
        session.flush()
        return secret, SessionData(user_id, now.timestamp(), csrf, row.id)


def find_session(store: Store, value: str) -> tuple[UserInfo, SessionData] | None:
    """The active user and live session a cookie value stands for, or None."""
    if not value or len(value) > _MAX_COOKIE:
        return None
    now = datetime.now(UTC)
    with store.session() as session:
        found = session.execute(
            select(WebSession, User)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.token_sha256 == _digest(value))
        ).first()
        if found is None:
            return None
        row, user = found
        if row.expires_at <= now or not user.active:
            return None
        data = SessionData(user.id, row.created_at.timestamp(), row.csrf, row.id)
        return UserInfo(user.id, user.name, user.role), data


def end_session(store: Store, value: str) -> bool:
    """Delete the session behind a cookie value (sign-out); False if there was none."""
    if not value or len(value) > _MAX_COOKIE:
        return False
    with store.session() as session:
        result = session.execute(
            delete(WebSession).where(WebSession.token_sha256 == _digest(value))
        )
        return bool(getattr(result, "rowcount", 0))


def csrf_ok(session: SessionData, submitted: str | None) -> bool:
    """True when ``submitted`` is this session's CSRF token."""
    return submitted is not None and hmac.compare_digest(session.csrf, submitted)
