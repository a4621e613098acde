"""Users of the web workspace: roles, argon2 password hashes and API tokens.

Shared by ``auditor users`` and the web application. Passwords are stored only as
argon2id hashes; API tokens are random secrets shown once, of which only the SHA-256
is stored (a token is high-entropy, so a fast digest is enough and allows a lookup).
Every change appends an event to the hash-chained log, naming who made it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from auditor.errors import AuditorError
from auditor.store import Store, append_event
from auditor.store.models import ApiToken, User, WebSession

ROLES = ("viewer", "officer", "admin")
"""Roles, from least to most privileged."""
MIN_PASSWORD = 10
TOKEN_PREFIX = "aud_"

USER_ADDED = "user.added"
TOKEN_CREATED = "token.created"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,119}$")
_HASHER = PasswordHasher()
# verified against when the user does not exist, so a wrong name takes as long as a wrong
# password (no user enumeration by timing)
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class UserError(AuditorError):
    """A user or token cannot be created or found."""


@dataclass(frozen=True)
class UserInfo:
    """A user as the application sees it (no password hash)."""

    id: int
    name: str
    role: str

    def at_least(self, role: str) -> bool:
        """True when this user's role is ``role`` or a more privileged one."""
        return ROLES.index(self.role) >= ROLES.index(role)


def _info(user: User) -> UserInfo:
    return UserInfo(user.id, user.name, user.role)


def token_digest(secret: str) -> str:
    """The stored form of an API token."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def add_user(store: Store, name: str, role: str, password: str, *, actor: str) -> UserInfo:
    """Create a user with an argon2id password hash; ``actor`` is recorded in the log."""
    if not _NAME.match(name):
        raise UserError(
            f"Invalid user name {name!r}: use letters, digits, '_', '.', '@' or '-' "
            "(at most 120 characters, starting with a letter or digit)."
        )
    if role not in ROLES:
        raise UserError(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"The password must have at least {MIN_PASSWORD} characters.")
    with store.session() as session:
        if session.scalars(select(User.id).where(User.name == name)).first() is not None:
            raise UserError(f"A user named {name!r} already exists.")
        user = User(
            name=name,
            role=role,
            password_hash=_HASHER.hash(password),
            active=True,
            created_at=datetime.now(UTC),
        )
        session.add(user)
        session.flush()
        append_event(
            session,
            USER_ADDED,
            {"user_id": user.id, "name": name, "role": role},
            user=actor,
            sealed={"users": [user.id]},
        )
        return _info(user)


def authenticate(store: Store, name: str, password: str) -> UserInfo | None:
    """The active user with this name and password, or None (same cost either way)."""
    with store.session() as session:
        user = session.scalars(select(User).where(User.name == name)).first()
        stored = user.password_hash if user is not None and user.active else _DUMMY_HASH
        try:
            _HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        return _info(user) if user is not None and user.active else None


def get_user(store: Store, user_id: int) -> UserInfo | None:
    """The active user with this id, or None."""
    with store.session() as session:
        user = session.get(User, user_id)
        return _info(user) if user is not None and user.active else None


def create_token(store: Store, name: str, *, label: str = "api", actor: str) -> str:
    """A new API token for user ``name``; the secret is returned once and never stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.session() as session:
        user = session.scalars(select(User).where(User.name == name)).first()
        if user is None:
            raise UserError(f"No user named {name!r}; add one with 'auditor users add'.")
        row = ApiToken(
            user_id=user.id,
            token_sha256=token_digest(secret),
            label=label[:200],
            created_at=datetime.now(UTC),
        )
        session.add(row)
        session.flush()
        append_event(
            session,
            TOKEN_CREATED,
            {"token_id": row.id, "name": name, "label": row.label},
            user=actor,
            sealed={"api_tokens": [row.id]},
        )
    return secret


def user_for_token(store: Store, secret: str) -> UserInfo | None:
    """The active user an API token belongs to, or None for an unknown token."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    with store.session() as session:
        row = session.scalars(
            select(ApiToken).where(ApiToken.token_sha256 == token_digest(secret))
        ).first()
        if row is None or not row.user.active:
            return None
        row.last_used_at = datetime.now(UTC)
        return _info(row.user)


USER_LOGIN = "user.login"
USER_LOGIN_FAILED = "user.login_failed"


def record_login(store: Store, name: str, *, ok: bool, unlogged_failures: int = 0) -> None:
    """Log a sign-in attempt (successful or not) under the name that was tried.

    ``unlogged_failures``: failed sign-ins left out of the log since the last logged one
    (the web server logs a bounded number per window; see ``auditor.web.throttle``).
    """
    payload: dict[str, object] = {"name": name[:200]}
    if unlogged_failures:
        payload["unlogged_failures"] = unlogged_failures
    with store.session() as session:
        append_event(session, USER_LOGIN if ok else USER_LOGIN_FAILED, payload, user=name[:200])


USER_DISABLED = "user.disabled"


def disable_user(store: Store, name: str, *, actor: str) -> None:
    """Stop a user signing in; their sessions and API tokens stop working at once."""
    with store.session() as session:
        user = session.scalars(select(User).where(User.name == name)).first()
        if user is None:
            raise UserError(f"No user named {name!r}.")
        ended = end_user_sessions(session, user.id)
        if user.active:
            user.active = False
            session.flush()
            append_event(
                session,
                USER_DISABLED,
                {"user_id": user.id, "name": name, "sessions_ended": ended},
                user=actor,
                sealed={"users": [user.id]},
            )


USER_PASSWORD_CHANGED = "user.password_changed"


def change_password(store: Store, name: str, password: str, *, actor: str) -> int:
    """Set a new password; every browser session of the user ends at once.

    Returns how many sessions were ended. API tokens are not touched (they are revoked
    by disabling the user).
    """
    if len(password) < MIN_PASSWORD:
        raise UserError(f"The password must have at least {MIN_PASSWORD} characters.")
    with store.session() as session:
        user = session.scalars(select(User).where(User.name == name)).first()
        if user is None:
            raise UserError(f"No user named {name!r}.")
        user.password_hash = _HASHER.hash(password)
        ended = end_user_sessions(session, user.id)
        session.flush()
        append_event(
            session,
            USER_PASSWORD_CHANGED,
            {"user_id": user.id, "name": name, "sessions_ended": ended},
            user=actor,
            sealed={"users": [user.id]},
        )
        return ended


def end_user_sessions(session: Session, user_id: int) -> int:
    """Delete every web session of a user (in the caller's transaction); how many."""
    result = session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


def list_users(store: Store) -> list[tuple[UserInfo, bool, int]]:
    """Every user, by name: the user, whether active, and how many API tokens they hold."""
    with store.session() as session:
        users = session.scalars(select(User).order_by(User.name)).all()
        return [(_info(u), u.active, len(u.tokens)) for u in users]
