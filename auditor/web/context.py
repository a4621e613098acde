"""The per-application state shared by every request."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.store import Store
from auditor.web.jobs import AuditJobs
from auditor.web.settings import WebSettings


@dataclass(frozen=True)
class WebContext:
    """Settings, the opened store (its real URL too) and the background audit runner."""

    settings: WebSettings
    store: Store
    database_url: str
    jobs: AuditJobs
