"""Shared fixtures: real models trained once per test session on the shipped sample data."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from filelock import FileLock

from auditor.demo import DemoCase, prepare_credit, prepare_hiring

REPO = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get(
    "AUDITOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder holding the trained demo models, data copies and specs."""
    return tmp_path_factory.mktemp("models")


def _trained_once(
    tmp_path_factory: pytest.TempPathFactory,
    models_dir: Path,
    name: str,
    prepare: Callable[[Path], DemoCase],
) -> DemoCase:
    """``prepare(folder)`` run once per test run, not once per xdist worker.

    The first worker to get here trains into a folder shared by the run's workers (under
    a file lock); every worker then copies that folder into its own ``models_dir``, so
    no worker reads or writes files another one uses. Without xdist: trained in place.
    """
    own = models_dir / name
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        own.mkdir()
        return prepare(own)
    shared = tmp_path_factory.getbasetemp().parent / f"trained-{name}"
    with FileLock(str(shared) + ".lock"):
        done = shared / ".done"
        if not done.exists():
            shutil.rmtree(shared, ignore_errors=True)
            shared.mkdir()
            case = prepare(shared)
            done.write_text(f"{case.name}\n{case.spec_path.name}\n{case.description}")
        case_name, spec_name, description = done.read_text().split("\n", 2)
    shutil.copytree(shared, own, ignore=shutil.ignore_patterns(".done"))
    return DemoCase(case_name, own / spec_name, description)


@pytest.fixture(scope="session")
def credit_case(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> DemoCase:
    """LightGBM on German credit (the demo's own training code)."""
    return _trained_once(tmp_path_factory, models_dir, "credit", partial(prepare_credit, seed=0))


@pytest.fixture(scope="session")
def hiring_case(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> DemoCase:
    """PyTorch MLP trained on the synthetic hiring decisions (fewer epochs than the demo)."""
    return _trained_once(
        tmp_path_factory, models_dir, "hiring", partial(prepare_hiring, seed=0, epochs=12)
    )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file per test."""
    return f"sqlite:///{tmp_path / 'audits.db'}"
