"""Shared fixtures: real models trained once per test session on the shipped sample data."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

# Under xdist (make test: two workers on two cores) every OpenMP runtime of a worker
# (LightGBM, torch) runs one thread, set before either library loads. With the default
# (one thread per core in each worker) the workers' spinning threads oversubscribe the
# cores: five LightGBM fits took 147 s instead of 2.5 s in each of two processes on the
# shared 2-core machine. An OMP_NUM_THREADS the caller set is kept.
if os.environ.get("PYTEST_XDIST_WORKER") is not None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
from filelock import FileLock

from auditor.demo import DemoCase, prepare_credit, prepare_hiring

REPO = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get(
    "AUDITOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="regenerate the golden snapshots (tests/golden/snapshots/) instead of comparing",
    )


def pytest_configure(config: pytest.Config) -> None:
    # through the environment, so xdist workers (started after this) see it too
    if config.getoption("--update-golden"):
        os.environ["AUDITOR_UPDATE_GOLDEN"] = "1"


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread_per_worker() -> None:
    """Under xdist each worker's torch runs one intra-op thread (as OMP_NUM_THREADS above
    asks, also when torch was loaded first): integrated gradients on a small network ran
    six times slower with two threads per worker on two busy cores."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return
    try:
        import torch
    except ImportError:  # the 'torch' extra is not installed
        return
    torch.set_num_threads(1)


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


# --- running under pytest-xdist (make test: -n 2 --dist loadfile) -----------------------
# Each test module is one unit of work, so its module-scoped fixtures (trained models,
# rendered reports) are built once, on one worker. The modules that start Spark share a
# unit: one JVM for the run, not one per worker. Units are handed out longest first
# (with --no-loadscope-reorder), so no worker is left running a long module alone at the
# end; the order comes from --durations on the shared 2-core machine (module totals).
# Both lists name modules by their basename, so a module keeps its place wherever it
# sits under tests/ (unit/, integration/…) and a new module needs no entry to run.
# (xdist's own --dist loadgroup cannot be used: with pytest 9 its group marks no longer
# reach the node ids it schedules by, and every test would be a unit of its own.)
SPARK_MODULES = frozenset(
    {
        "test_engine_spark.py",
        "test_spark_letters.py",
        "test_engine_drift.py",
        "test_birdie_spark.py",
    }
)
LONGEST_FIRST: tuple[str, ...] = (
    "spark",
    "test_cli_e2e.py",
    "test_letters.py",
    "test_letters_review.py",
    "test_engine_local.py",
    "test_pipeline.py",
    "test_cli_errors.py",
    "test_gap_decomposition.py",
    "test_web_jobs.py",
    "test_imports.py",
    "test_web_browser.py",
    "test_web_journeys.py",  # ~70 s alone: two audits, a PDF, letters, Chromium and axe-core
)


def _unit(path: str) -> str:
    """The unit of work of a test file (a path or a node id)."""
    name = path.split("::", 1)[0].rsplit("/", 1)[-1]
    return "spark" if name in SPARK_MODULES else name


# optional: with -p no:xdist (one process) the hook does not exist, and pytest would stop
@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """With ``--dist loadfile``: one unit per test file, the Spark files one unit."""
    if config.getoption("dist", "no") != "loadfile":
        return None  # xdist's own scheduler
    from xdist.scheduler import LoadScopeScheduling

    class ModuleUnits(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid)

    return ModuleUnits(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest units first (every worker sorts its collection the same way)."""
    if config.getoption("dist", "no") == "no" and not os.environ.get("PYTEST_XDIST_WORKER"):
        return  # one process: keep the files' order
    rank = {unit: i for i, unit in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_unit(item.nodeid), len(rank)))  # stable
