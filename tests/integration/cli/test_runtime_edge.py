"""The runtime edge: one settings object for the environment, no environment writes in
library code, logging configured by entry points, and the report's performance policy
recorded and kept out of processes that did not ask for it."""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import AuditorError
from auditor.log_setup import configure_logging
from auditor.models.allowed_code import allowed_modules, check_module_allowed
from auditor.settings import Settings, load_settings
from auditor.spec import load_spec
from tests._paths import REPO


def test_every_variable_has_its_documented_name(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "AUDITOR_DATABASE_URL": "sqlite:///elsewhere.db",
        "AUDITOR_ALLOWED_MODULES": " pkg.a , pkg.b:Net,,",
        "AUDITOR_THREADS": "3",
        "AUDITOR_LOG_LEVEL": "info",
        "AUDITOR_DATA_ROOT": "/srv/audits",
        "AUDITOR_WEB_SECRET": "s3cret",
        "AUDITOR_WEB_MAX_SPEC_UPLOAD": "2000",
        "AUDITOR_WEB_MAX_UPLOAD": "4000",
        "AUDITOR_JOB_MEMORY_MB": "512",
        "AUDITOR_JOB_TIMEOUT_S": "60",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    got = load_settings()
    assert got.database_url == "sqlite:///elsewhere.db"
    assert got.module_allowlist == ("pkg.a", "pkg.b:Net")
    assert (got.threads, got.log_level, got.log_level_number) == (3, "INFO", logging.INFO)
    assert got.data_root == Path("/srv/audits")
    assert got.web_secret == "s3cret"
    assert (got.web_max_spec_upload, got.web_max_upload) == (2000, 4000)
    assert (got.job_memory_mb, got.job_timeout_s) == (512, 60)
    # the module doc lists every field's variable
    import auditor.settings as module

    for field in Settings.model_fields:
        assert f"AUDITOR_{field.upper()}" in (module.__doc__ or ""), field


def test_empty_means_unset_and_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUDITOR_DATABASE_URL", "")
    monkeypatch.setenv("AUDITOR_THREADS", "many")  # ignored: cannot change a result
    got = load_settings()
    assert got.database_url is None
    assert got.threads is None
    for value in ("lots", "0", "2.5", "-1"):
        monkeypatch.setenv("AUDITOR_JOB_MEMORY_MB", value)
        with pytest.raises(AuditorError, match=r"\$AUDITOR_JOB_MEMORY_MB must be a positive"):
            load_settings()
    monkeypatch.delenv("AUDITOR_JOB_MEMORY_MB")
    monkeypatch.setenv("AUDITOR_LOG_LEVEL", "loud")
    with pytest.raises(AuditorError, match=r"\$AUDITOR_LOG_LEVEL must be one of DEBUG"):
        load_settings()


def test_the_store_url_and_thread_count_come_from_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from auditor.explain.fast_tree_shap import default_threads
    from auditor.store.database import default_database_url

    monkeypatch.setenv("AUDITOR_DATABASE_URL", "sqlite:///from-env.db")
    monkeypatch.setenv("AUDITOR_THREADS", "1")
    assert default_database_url() == "sqlite:///from-env.db"
    assert default_threads() == 1
    monkeypatch.delenv("AUDITOR_DATABASE_URL")
    assert default_database_url() == "sqlite:///auditor.db"


def _environment_writes(tree: ast.AST) -> list[int]:
    """Lines that assign to, delete from or call a mutating method of ``os.environ``, or
    call ``os.putenv``/``os.unsetenv``."""
    lines = []
    mutators = {"setdefault", "update", "pop", "popitem", "clear", "__setitem__"}
    for node in ast.walk(tree):
        target = None
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)):
            target = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in mutators:
                target = node.func.value
            elif node.func.attr in ("putenv", "unsetenv"):
                lines.append(node.lineno)
        if (
            isinstance(target, ast.Attribute)
            and target.attr == "environ"
            and isinstance(target.value, ast.Name)
            and target.value.id == "os"
        ):
            lines.append(node.lineno)
    return lines


def test_library_code_never_writes_the_environment() -> None:
    sample = "import os\nos.environ['A'] = '1'\nos.environ.setdefault('B', '2')\nos.putenv('C', '')"
    assert _environment_writes(ast.parse(sample)) == [2, 3, 4]  # the check can fail
    found = {
        f"{path.relative_to(REPO)}:{line}"
        for path in sorted((REPO / "auditor").rglob("*.py"))
        for line in _environment_writes(ast.parse(path.read_text(encoding="utf-8")))
    }
    assert found == set()


def test_allowed_modules_travel_with_the_spec_not_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import os

    monkeypatch.delenv("AUDITOR_ALLOWED_MODULES", raising=False)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        "name: t\ndomain: hiring\nmodel: {path: m.pt, kind: torch, module: 'pkg.nets:Net'}\n"
        "data: {path: d.csv}\ncolumns: {id: id, features: [a]}\nprotected: [sex]\n"
    )
    spec = load_spec(spec_path)
    with pytest.raises(AuditorError, match="not an allowed model module"):
        check_module_allowed("pkg.nets:Net", extra=spec.operator_modules)
    before = dict(os.environ)
    spec.allow_modules(["pkg.nets", " ", "pkg.nets"])
    assert spec.operator_modules == ("pkg.nets",)
    check_module_allowed("pkg.nets:Net", extra=spec.operator_modules)  # allowed now
    assert dict(os.environ) == before
    assert "pkg.nets" not in allowed_modules()  # nothing process-wide
    # a copy (as the engine and Spark's pickling make) keeps the operator's choice
    import pickle

    assert pickle.loads(pickle.dumps(spec)).operator_modules == ("pkg.nets",)
    assert spec.model_copy().operator_modules == ("pkg.nets",)
    # a web upload still imports nothing, whatever the operator allowed
    spec.forbid_code()
    with pytest.raises(AuditorError, match="web workspace"):
        check_module_allowed("pkg.nets:Net", code_allowed=False, extra=spec.operator_modules)


def test_the_old_process_wide_allow_modules_still_works_with_a_warning() -> None:
    from auditor.models import allowed_code

    with pytest.deprecated_call(match="spec.allow_modules"):
        allowed_code.allow_modules(["legacy.nets"])
    try:
        assert "legacy.nets" in allowed_modules()
    finally:
        allowed_code._PROCESS_ALLOWED.remove("legacy.nets")


# --- logging ---------------------------------------------------------------------------


@pytest.fixture
def restore_auditor_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("auditor")
    handlers, level = list(logger.handlers), logger.level
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_log_level_from_the_option_or_the_environment(
    restore_auditor_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    logger = restore_auditor_logger
    monkeypatch.setenv("AUDITOR_LOG_LEVEL", "error")
    assert configure_logging() == logging.ERROR
    assert configure_logging("debug") == logging.DEBUG
    assert logger.level == logging.DEBUG
    ours = [h for h in logger.handlers if type(h).__name__ == "_StderrHandler"]
    assert len(ours) == 1  # configured twice: still one handler
    res = CliRunner().invoke(app, ["--log-level", "info", "policies", "list"])
    assert res.exit_code == 0, res.output
    assert logger.level == logging.INFO
    res = CliRunner().invoke(app, ["--log-level", "chatty", "policies", "list"])
    assert res.exit_code == 2
    assert "--log-level must be one of DEBUG" in res.output
    assert "Traceback" not in res.output


def test_the_scheduler_logs_a_bugs_traceback(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import UTC, datetime

    from auditor.schedule.service import add_schedule, claim_next, execute_claim
    from auditor.store import open_store

    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\n")

    def broken(spec_path: str, database_url: str) -> str:
        raise ZeroDivisionError("a bug in the audit")

    moment = datetime(2026, 12, 1, tzinfo=UTC)
    with open_store(sqlite_url) as store:
        add_schedule(store, "nightly", spec, "* * * * *", now=moment, check_spec=False)
        claim = claim_next(store, now=datetime(2026, 12, 2, tzinfo=UTC), user="t")
        assert claim is not None
        with caplog.at_level(logging.ERROR, logger="auditor"):
            record = execute_claim(store, claim, clock=lambda: moment, user="t", runner=broken)
    assert record.status == "failed"
    assert record.error == "internal error: ZeroDivisionError: a bug in the audit"
    (logged,) = [r for r in caplog.records if r.name == "auditor.schedule.service"]
    assert "'nightly'" in logged.getMessage()
    assert logged.exc_info is not None
    assert logged.exc_info[0] is ZeroDivisionError
    assert "ZeroDivisionError" in caplog.text
    assert "Traceback" in caplog.text


# --- the report's performance policy ---------------------------------------------------


def test_a_report_records_whether_the_fast_path_drew_it(sqlite_url: str) -> None:
    import json

    from sqlalchemy import select

    from auditor.report import build_report
    from auditor.report.speedups import render_speedups
    from auditor.store import add_report, open_store, save_audit
    from auditor.store.models import Event
    from tests.factories import make_result

    result = make_result()
    plain = build_report(result, preset="ll144")  # as the web server renders: no policy
    with render_speedups() as fast_path:
        fast = build_report(result, preset="ll144")
    assert fast_path is True
    assert (plain.svg_fast_path, fast.svg_fast_path) == (False, True)
    with open_store(sqlite_url) as store:
        with store.session() as session:
            save_audit(session, result, report=fast)
            add_report(session, result.audit_id, plain, user="tester")
        with store.session() as session:
            payloads = {
                e.kind: json.loads(e.payload) for e in session.scalars(select(Event)).all()
            }
    assert payloads["audit.completed"]["svg_fast_path"] is True
    assert payloads["report.added"]["svg_fast_path"] is False
