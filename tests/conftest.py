"""Shared fixtures: real models trained once per test session on the shipped sample data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.demo import DemoCase, prepare_credit, prepare_hiring

REPO = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get(
    "AUDITOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder holding the trained demo models, data copies and specs."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def credit_case(models_dir: Path) -> DemoCase:
    """LightGBM on German credit (the demo's own training code)."""
    return prepare_credit(models_dir, seed=0)


@pytest.fixture(scope="session")
def hiring_case(models_dir: Path) -> DemoCase:
    """PyTorch MLP trained on the synthetic hiring decisions (fewer epochs than the demo)."""
    return prepare_hiring(models_dir, seed=0, epochs=12)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file per test."""
    return f"sqlite:///{tmp_path / 'audits.db'}"


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for every Spark test (starting one takes seconds)."""
    pytest.importorskip("pyspark", reason="the 'spark' extra (pyspark) is not installed")
    from auditor.engine.spark import spark_session

    session = spark_session("local[2]")
    session.conf.set("spark.sql.shuffle.partitions", "2")
    # small files still split into several partitions (one per few row groups)
    session.conf.set("spark.sql.files.maxPartitionBytes", "8192")
    yield session
    session.stop()
