"""Settings of the web application (from ``auditor serve`` options or the environment)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

SECRET_ENV = "AUDITOR_WEB_SECRET"
DATA_ROOT_ENV = "AUDITOR_DATA_ROOT"


def _secret_from_env() -> bytes:
    value = os.environ.get(SECRET_ENV)
    # without a configured secret, sessions are signed with a random key: they end when
    # the server restarts, which is safe, only inconvenient
    return value.encode("utf-8") if value else secrets.token_bytes(32)


@dataclass(frozen=True)
class WebSettings:
    """How the web application reaches its data and protects its sessions.

    Attributes
    ----------
    database_url:
        The audit store (None: ``$AUDITOR_DATABASE_URL`` or ``sqlite:///auditor.db``).
    data_root:
        The folder every server-side path is relative to: the model and data paths of an
        uploaded spec, and the spec paths of schedules. Paths outside it are refused.
    secret:
        Key that signs session cookies (``$AUDITOR_WEB_SECRET``; random if unset).
    secure_cookies:
        Mark cookies ``Secure`` (only sent over https). None: decide per request from the
        scheme, which honours ``X-Forwarded-Proto`` when uvicorn trusts the proxy.
    session_hours:
        How long a login lasts.
    """

    database_url: str | None = None
    data_root: Path = field(
        default_factory=lambda: Path(os.environ.get(DATA_ROOT_ENV) or Path.cwd()).resolve()
    )
    secret: bytes = field(default_factory=_secret_from_env)
    secure_cookies: bool | None = None
    session_hours: float = 8.0
