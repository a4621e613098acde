"""Each module a process may import first imports on its own (issue 20: import cycles).

A cycle shows only when its modules are imported in a particular order, e.g. a Spark
worker whose first import is ``auditor.spec``. The check runs in a child process: before
each module, every ``auditor`` module is dropped from ``sys.modules`` (third-party
libraries stay loaded). Every subpackage and every module a worker, server, scheduler or
user script is known to import first is checked; all modules would take a minute.
"""

from __future__ import annotations

import subprocess
import sys

from tests._paths import REPO

ROOT = REPO

SCRIPT = """
import importlib, pkgutil, sys, traceback
import auditor
packages = [m.name for m in pkgutil.walk_packages(auditor.__path__, "auditor.") if m.ispkg]
entries = [
    "auditor.cli", "auditor.spec", "auditor.data", "auditor.result", "auditor.pipeline",
    "auditor.legal_terms", "auditor.engine.spark", "auditor.engine.local",
    "auditor.letters.spark", "auditor.letters.service", "auditor.web.app",
    "auditor.web.worker", "auditor.schedule.service", "auditor.policy.verdict",
    "auditor.models.loading", "auditor.report.render",
]
names = sorted(n for n in {"auditor", *packages, *entries} if ".migrations" not in n)
failed = []
for name in names:
    for loaded in [m for m in sys.modules if m == "auditor" or m.startswith("auditor.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print(len(names))
print("\\n".join(failed))
"""


def test_every_module_imports_first() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    count, *failed = done.stdout.strip().splitlines()
    assert int(count) > 20
    assert failed == [], "\n".join(failed)
