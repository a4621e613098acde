"""Settings of the web application (from ``auditor serve`` options or the environment)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from auditor.settings import load_settings
from auditor.web.worker import WorkerLimits

SECRET_ENV = "AUDITOR_WEB_SECRET"
DATA_ROOT_ENV = "AUDITOR_DATA_ROOT"


def _secret_from_env() -> bytes:
    value = load_settings().web_secret
    # without a configured secret, sessions are signed with a random key: they end when
    # the server restarts, which is safe, only inconvenient
    return value.encode("utf-8") if value else secrets.token_bytes(32)


def _data_root_from_env() -> Path:
    return (load_settings().data_root or Path.cwd()).resolve()


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
        ``$AUDITOR_WEB_SECRET`` (random if unset). Sessions no longer depend on it: they
        are rows in the store (revision 0007); kept so existing callers keep working.
    secure_cookies:
        Mark cookies ``Secure`` (only sent over https). None: decide per request from the
        scheme, which honours ``X-Forwarded-Proto`` when uvicorn trusts the proxy.
    session_hours:
        How long a login lasts.
    max_spec_upload_bytes:
        Largest request body of a spec upload (``$AUDITOR_WEB_MAX_SPEC_UPLOAD``); bigger
        ones are answered 413 as soon as the limit is passed, while they stream in.
    max_upload_bytes:
        Largest body of a letters request with its recipients CSV
        (``$AUDITOR_WEB_MAX_UPLOAD``). Other routes take at most 64 KiB.
    metrics_token:
        ``$AUDITOR_METRICS_TOKEN``: a scrape token Prometheus sends as
        ``Authorization: Bearer`` to read ``/metrics`` (a viewer's API token works too).
    metrics_public:
        ``$AUDITOR_METRICS_PUBLIC=1``: serve ``/metrics`` without any token (only where
        the network already limits who can reach it: it names schedules, groups and ratios).
    job_memory_mb, job_timeout_s:
        Address-space and wall-clock limits of the worker process that runs each audit of
        an uploaded spec; past them the job fails and the server carries on.
    """

    database_url: str | None = None
    data_root: Path = field(default_factory=_data_root_from_env)
    secret: bytes = field(default_factory=_secret_from_env)
    secure_cookies: bool | None = None
    session_hours: float = 8.0
    max_spec_upload_bytes: int = field(default_factory=lambda: load_settings().web_max_spec_upload)
    max_upload_bytes: int = field(default_factory=lambda: load_settings().web_max_upload)
    job_memory_mb: int = field(default_factory=lambda: load_settings().job_memory_mb)
    job_timeout_s: float = field(default_factory=lambda: float(load_settings().job_timeout_s))
    metrics_token: str | None = field(default_factory=lambda: load_settings().metrics_token)
    """The scrape token of ``/metrics`` ($AUDITOR_METRICS_TOKEN)."""
    metrics_public: bool = field(default_factory=lambda: load_settings().metrics_public)
    """``/metrics`` without credentials ($AUDITOR_METRICS_PUBLIC)."""
    four_eyes: bool = field(default_factory=lambda: load_settings().letters_four_eyes)
    """A held letter's reviewer may not be the person who issued it (issue 21)."""
    upload_parse_timeout_s: float = 20.0
    """Wall-clock limit of the worker that parses an uploaded spec and computes its digest."""

    @property
    def parse_limits(self) -> WorkerLimits:
        """Limits of the worker that parses an upload (at most 1 GiB of memory)."""
        return WorkerLimits(min(self.job_memory_mb, 1024), self.upload_parse_timeout_s)
