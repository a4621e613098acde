"""Database fixtures shared by the storage and scheduling suites.

Every test gets its own database: a SQLite file in ``tmp_path``, or a fresh PostgreSQL
schema that is dropped afterwards. PostgreSQL tests are skipped when the server is
unreachable, unless ``$CI`` is set: then they fail. Point them at another server with
``$AUDITOR_TEST_POSTGRES_URL``. Import the fixtures into a test module with
``from tests._db import db_url, pg_admin, store``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from auditor.store import Store, open_store
from auditor.store.models import Base

PG_URL = os.environ.get(
    "AUDITOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TABLES = [t.name for t in Base.metadata.sorted_tables]


def row_counts(store: Store) -> dict[str, int]:
    """Rows per table."""
    with store.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in TABLES}


def raw(store: Store, sql: str, **params: object) -> None:
    """Run one SQL statement in its own transaction (to tamper with rows in tests)."""
    with store.engine.begin() as conn:
        conn.execute(text(sql), params)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    """An engine on the test server; skips (or fails under $CI) when unreachable."""
    engine = create_engine(PG_URL)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        engine.dispose()
        where = make_url(PG_URL).render_as_string(hide_password=True)
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {where} is unreachable and $CI is set: {exc}")
        pytest.skip(f"PostgreSQL server not reachable at {where}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/audit.db"
        return
    admin: Engine = request.getfixturevalue("pg_admin")
    schema = f"auditor_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """The store at ``db_url``, upgraded to the newest schema."""
    with open_store(db_url) as opened:
        yield opened
