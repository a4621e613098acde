"""The per-application state shared by every request."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.store import Store
from auditor.web.jobs import AuditJobs
from auditor.web.settings import WebSettings
from auditor.web.throttle import LoginThrottle


@dataclass(frozen=True)
class WebContext:
    """Settings, the opened store (its real URL too), the audit runner, the login throttle."""

    settings: WebSettings
    store: Store
    database_url: str
    jobs: AuditJobs
    logins: LoginThrottle
