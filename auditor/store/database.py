"""Opening the audit database: engine, transactions and Alembic migrations.

The session and its transaction belong to the caller (CLI, pipeline, web): open one with
``with store.session() as session:``; repository functions only add to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from auditor.errors import StorageError

ENV_VAR = "AUDITOR_DATABASE_URL"
DEFAULT_URL = "sqlite:///auditor.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 60_000
"""How long a SQLite writer waits for another one's lock before giving up."""


def default_database_url() -> str:
    """``$AUDITOR_DATABASE_URL``, else ``sqlite:///auditor.db`` in the working folder."""
    from auditor.settings import load_settings

    return load_settings().database_url or DEFAULT_URL


def mask_url(url: str | URL) -> str:
    """The URL with any password replaced by ``***`` (safe to print or log)."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", url)


def _reason(exc: BaseException, secret: str | None) -> str:
    """First line of the underlying error, with the password scrubbed."""
    orig = getattr(exc, "orig", None)
    lines = str(orig if orig is not None else exc).strip().splitlines()
    first = lines[0] if lines else type(exc).__name__
    return first.replace(secret, "***") if secret else first


def _error(display: str, what: str) -> StorageError:
    return StorageError(
        f"Cannot open the audit database {display}: {what}. Check the URL (given directly "
        f"or in ${ENV_VAR}), for example sqlite:///auditor.db or "
        "postgresql+psycopg://user@host:5432/dbname."
    )


def _create_engine(url: str) -> Engine:
    display = mask_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise _error(display, "it is not a database URL") from exc
    secret = parsed.password if isinstance(parsed.password, str) else None
    if parsed.drivername in ("postgresql", "postgres"):
        # The "postgres" extra installs psycopg 3, not SQLAlchemy's default psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(parsed)
    except NoSuchModuleError as exc:
        raise _error(
            display,
            f"unknown database type {parsed.drivername!r} (supported: sqlite, postgresql+psycopg)",
        ) from exc
    except ImportError as exc:
        raise _error(
            display,
            f"the driver for {parsed.drivername!r} is not installed ({exc}); for PostgreSQL "
            "install auditor[postgres]",
        ) from exc
    except (ArgumentError, TypeError, ValueError) as exc:
        raise _error(display, _reason(exc, secret)) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        engine.dispose()
        raise _error(display, _reason(exc, secret)) from exc
    return engine


def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # SQLAlchemy, not the sqlite3 module, starts transactions (see _sqlite_on_begin)
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # concurrent writers (two schedulers, an audit and a prune) wait for the lock
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    """SQLite: a single writer. Every transaction takes the write lock when it begins.

    A deferred transaction that reads first and writes later can deadlock against
    another writer and fail at once with "database is locked"; taking the lock up front
    makes concurrent writers (two schedulers, an audit, a prune) queue instead, waiting
    up to the busy timeout.
    """
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class Store:
    """An opened audit database.

    Attributes
    ----------
    url:
        The database URL with any password masked (safe to print).
    engine:
        The SQLAlchemy engine (one per store; dispose it with :meth:`dispose`).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = mask_url(engine.url)
        self._sessions = sessionmaker(engine)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: commits when the block ends, rolls back if it raises.

        Database errors become :class:`StorageError`; other exceptions pass unchanged.
        """
        with self._sessions() as session:
            try:
                with session.begin():
                    yield session
            except SQLAlchemyError as exc:
                raise StorageError(
                    f"The audit database {self.url} refused the change: "
                    f"{_reason(exc, self.engine.url.password)}"
                ) from exc

    def alembic_config(self) -> Config:
        """An Alembic configuration for this package's migrations (no ``alembic.ini``).

        Put an open connection in ``config.attributes["connection"]`` before running a
        command with it; :meth:`upgrade` does exactly that.
        """
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
        return config

    def head_revision(self) -> str:
        """The newest migration revision shipped with this version of auditor."""
        head = ScriptDirectory.from_config(self.alembic_config()).get_current_head()
        if head is None:  # pragma: no cover - the package always ships migrations
            raise StorageError(f"No migrations found in {MIGRATIONS_DIR}; reinstall auditor.")
        return head

    def upgrade(self) -> str:
        """Apply all pending migrations (a no-op when up to date); return the head revision."""
        config = self.alembic_config()
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except CommandError as exc:
            raise StorageError(
                f"Cannot upgrade the audit database {self.url}: {exc}. The database was "
                f"probably written by a newer auditor (this one knows revisions up to "
                f"{self.head_revision()}); upgrade auditor."
            ) from exc
        except SQLAlchemyError as exc:
            raise StorageError(
                f"Cannot upgrade the audit database {self.url}: "
                f"{_reason(exc, self.engine.url.password)}"
            ) from exc
        return self.head_revision()

    def dispose(self) -> None:
        """Close all pooled connections."""
        self.engine.dispose()


def open_store(url: str | None = None, *, upgrade: bool = True) -> Store:
    """Open the audit database at ``url`` (default: :func:`default_database_url`).

    With ``upgrade=True`` the schema is created or migrated to the newest revision
    (a SQLite file is created if missing). Any problem raises :class:`StorageError`
    naming the URL, with the password masked.
    """
    store = Store(_create_engine(url if url is not None else default_database_url()))
    if upgrade:
        try:
            store.upgrade()
        except BaseException:
            store.dispose()
            raise
    return store
