"""The import rules `make lint` enforces: the import-linter contracts and the checker of
cross-package private imports (scripts/check_private_imports.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests._paths import REPO

ROOT = REPO
CHECKER = ROOT / "scripts" / "check_private_imports.py"


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "auditor"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECKER), str(root)], capture_output=True, text=True, check=False
    )


def test_checker_flags_another_packages_private_names(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "data.py": "def _binary(): ...\ndef public(): ...\n",
            "letters/__init__.py": "",
            "letters/service.py": "def _kind(): ...\n",
            # same package: allowed; another package's private name: flagged
            "letters/spark.py": "from auditor.letters.service import _kind\n"
            "from auditor.data import _binary, public\n",
            "models/__init__.py": "",
            "models/_encoding.py": "def codes(): ...\n",
            "explain.py": "from .models._encoding import codes\n",
        },
    )
    run = _check(root)
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert any(
        "auditor.letters.spark imports private '_binary' from auditor.data" in x for x in lines
    )
    assert any(
        "auditor.explain imports private '*module*' from auditor.models._encoding" in x
        for x in lines
    )
    assert not any("_kind" in x or "'public'" in x for x in lines)


def test_checker_passes_a_clean_package_and_the_real_one(tmp_path: Path) -> None:
    root = _package(
        tmp_path, {"data.py": "def load(): ...\n", "cli.py": "from auditor.data import load\n"}
    )
    run = _check(root)
    assert run.returncode == 0, run.stdout
    assert run.stdout == ""
    real = _check(ROOT / "auditor")
    assert real.returncode == 0, real.stdout


def test_checker_fails_on_a_stale_allowance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An allowance that matches no import fails the check, so the list only shrinks."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_private_imports", CHECKER)
    assert spec is not None
    assert spec.loader is not None
    checker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checker)
    root = _package(
        tmp_path, {"data.py": "def load(): ...\n", "cli.py": "from auditor.data import load\n"}
    )
    stale = ("auditor.cli", "auditor.data", "_gone")
    monkeypatch.setattr(checker, "ALLOWED", {stale: "test"})
    assert checker.main(["check", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"allowed entry {stale} matches no import any more" in out
    assert "0 cross-package private import(s), 1 stale allowance(s)" in out


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    if not lint.exists():
        pytest.fail("import-linter is not installed: pip install -e '.[dev]'")
    run = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert "BROKEN" not in run.stdout
