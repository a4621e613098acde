"""Every environment variable auditor reads, in one typed settings object.

The process environment is read here and nowhere else in the library; everything below
the entry points receives plain values (a URL, a thread count, a list of modules). A
setting is read when :func:`load_settings` is called, not at import, so a test or an
operator that changes the environment sees the change on the next call.

=================================  =====================================================
variable                           meaning
=================================  =====================================================
``AUDITOR_DATABASE_URL``           the audit store (default ``sqlite:///auditor.db``)
``AUDITOR_ALLOWED_MODULES``        comma-separated modules (or ``module:Class``) a spec's
                                   ``model.module`` may import
``AUDITOR_THREADS``                threads of the TreeSHAP kernels (default: every core)
``AUDITOR_LOG_LEVEL``              logging level of the entry points (default WARNING)
``AUDITOR_DATA_ROOT``              folder the web workspace's server-side paths are in
``AUDITOR_WEB_SECRET``             key of the web workspace (random when unset)
``AUDITOR_WEB_MAX_SPEC_UPLOAD``    largest spec upload, bytes (default 1 MiB)
``AUDITOR_WEB_MAX_UPLOAD``         largest letters request, bytes (default 24 MiB)
``AUDITOR_JOB_MEMORY_MB``          memory of one web audit worker, MiB (default 4096)
``AUDITOR_JOB_TIMEOUT_S``          wall-clock limit of one web audit worker, s (3600)
``AUDITOR_METRICS_TOKEN``          scrape token of ``/metrics`` (web server, scheduler)
``AUDITOR_METRICS_PUBLIC``         ``1``/``true``/``yes``: ``/metrics`` without credentials
``AUDITOR_LETTERS_FOUR_EYES``      ``1``/``true``/``yes``/``on``: a held letter's reviewer
                                   may not be the person who issued it
``AUDITOR_TREESHAP_TABLE_MB``      memory for TreeSHAP path tables per model, MiB (256)
``AUDITOR_SCREENER_HOSTS``         comma-separated hosts (``host`` or ``host:port``) a
                                   screener audit's http/chat target may call; none
                                   when unset (a spec alone never makes the tool call out)
``AUDITOR_SCREENER_CACHE``         folder of the screener call cache (default
                                   ``~/.cache/auditor/screener``); ``off``: no cache
``AUDITOR_SCREENER_API_KEY``       bearer token sent to the screener's allowed host
=================================  =====================================================

An empty variable counts as unset. A malformed number is an :class:`AuditorError` that
names the variable (the CLI prints it and exits 2); a malformed ``AUDITOR_THREADS`` is
ignored, as it always was, because the kernels run correctly on any thread count.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from auditor.errors import AuditorError

ENV_PREFIX = "AUDITOR_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TREESHAP_TABLE_MB = 256  # default memory for one model's TreeSHAP path tables, MiB


class Settings(BaseSettings):
    """auditor's settings from ``AUDITOR_*`` environment variables (see the module doc)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="ignore", frozen=True
    )

    database_url: str | None = None
    allowed_modules: str = ""
    threads: int | None = None
    log_level: str = "WARNING"
    data_root: Path | None = None
    web_secret: str | None = None
    web_max_spec_upload: int = Field(default=1024 * 1024, gt=0)
    web_max_upload: int = Field(default=24 * 1024 * 1024, gt=0)
    job_memory_mb: int = Field(default=4096, gt=0)
    job_timeout_s: int = Field(default=3600, gt=0)
    metrics_token: str | None = None
    metrics_public: bool = False
    letters_four_eyes: bool = False
    treeshap_table_mb: int = TREESHAP_TABLE_MB
    screener_hosts: str = ""
    screener_cache: str | None = None
    screener_api_key: str | None = Field(default=None, repr=False)

    @field_validator("metrics_public", "letters_four_eyes", mode="before")
    @classmethod
    def _switch(cls, value: object) -> object:
        # a switch is on for 1/true/yes/on (any case); anything else is off, as before
        return str(value).strip().lower() in ("1", "true", "yes", "on")

    @field_validator("treeshap_table_mb", mode="before")
    @classmethod
    def _table_mb(cls, value: object) -> object:
        # not digits: the default, as the kernels read it before (it cannot change a value)
        text = str(value).strip()
        return int(text) if text.isdigit() else TREESHAP_TABLE_MB

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _token(cls, value: object) -> object:
        return str(value).strip() or None

    @field_validator("threads", mode="before")
    @classmethod
    def _threads_or_default(cls, value: object) -> object:
        # a bad thread count falls back to the default: it cannot change a result
        text = str(value).strip()
        return int(text) if text.isdigit() and int(text) > 0 else None

    @field_validator(
        "web_max_spec_upload", "web_max_upload", "job_memory_mb", "job_timeout_s", mode="before"
    )
    @classmethod
    def _whole_number(cls, value: object) -> object:
        # "1e6" or "2.5" would be accepted by int() after float parsing elsewhere; a limit
        # is a whole number of bytes, MiB or seconds, written as digits
        text = str(value).strip()
        if not text.isdigit() or int(text) <= 0:
            raise ValueError("must be a positive whole number")
        return int(text)

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_level(cls, value: object) -> object:
        text = str(value).strip().upper()
        if text not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return text

    @property
    def module_allowlist(self) -> tuple[str, ...]:
        """``AUDITOR_ALLOWED_MODULES`` split at commas, blanks left out."""
        return tuple(m.strip() for m in self.allowed_modules.split(",") if m.strip())

    @property
    def screener_host_allowlist(self) -> tuple[str, ...]:
        """``AUDITOR_SCREENER_HOSTS`` split at commas, lower-cased, blanks left out."""
        return tuple(h.strip().lower() for h in self.screener_hosts.split(",") if h.strip())

    @property
    def screener_cache_dir(self) -> Path | None:
        """The screener call cache's folder (None: ``AUDITOR_SCREENER_CACHE=off``)."""
        value = (self.screener_cache or "").strip()
        if value.lower() in ("off", "none", "0", "false"):
            return None
        return Path(value).expanduser() if value else Path.home() / ".cache/auditor/screener"

    @property
    def log_level_number(self) -> int:
        """The :mod:`logging` number of :attr:`log_level`."""
        return logging.getLevelNamesMapping()[self.log_level]


def load_settings() -> Settings:
    """The settings from the current environment; an :class:`AuditorError` naming the
    variable when one is malformed."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            value = error.get("input")
            problems.append(
                f"${ENV_PREFIX}{field.upper()} {error['msg'].removeprefix('Value error, ')}, "
                f"not {value!r}."
            )
        raise AuditorError(" ".join(problems)) from None
