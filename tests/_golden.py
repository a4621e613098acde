"""The one golden-snapshot mechanism: compare with a file under tests/golden/snapshots/, or
regenerate it.

Every golden test (tests/golden/) ends in :func:`assert_snapshot`. After a deliberate
change, regenerate every snapshot and review the diff before committing it::

    PYTHONPATH=$PWD .venv/bin/python -m pytest tests/golden -q --update-golden

(``AUDITOR_UPDATE_GOLDEN=1`` in the environment does the same.) A test that finds no
snapshot or a different one fails with the first lines of the unified diff.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from typing import Any

import pytest

from tests._paths import SNAPSHOTS

UPDATE_ENV = "AUDITOR_UPDATE_GOLDEN"
DIFF_LINES = 60

_STYLE = re.compile(r"<style>.*?</style>", re.S)


def updating() -> bool:
    """Whether this run regenerates snapshots (``--update-golden`` sets the variable)."""
    return os.environ.get(UPDATE_ENV) == "1"


# kept for modules that read the switch directly
UPDATE = updating()


def assert_snapshot(name: str, text: str) -> None:
    """``text`` is the snapshot ``tests/golden/snapshots/<name>``, or becomes it when
    regenerating."""
    path = SNAPSHOTS / name
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if not path.exists():
        pytest.fail(f"no snapshot {name}; regenerate with --update-golden (tests/_golden.py)")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = difflib.unified_diff(
            expected.splitlines(), text.splitlines(), f"snapshot {name}", "now", lineterm=""
        )
        shown = "\n".join(list(diff)[:DIFF_LINES])
        pytest.fail(
            f"{name} differs from its snapshot; if the change is intended, regenerate with "
            f"--update-golden and review the diff (tests/_golden.py):\n{shown}"
        )


def as_json(data: Any, *, digits: int | None = None) -> str:
    """The snapshot text of JSON data: indented, keys in their order, non-ASCII kept;
    floats rounded to ``digits`` significant digits when given (last-bit differences
    between BLAS builds are not a contract change)."""
    if digits is not None:
        data = _rounded(data, digits)
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def _rounded(obj: Any, digits: int) -> Any:
    if isinstance(obj, float):
        return obj if not math.isfinite(obj) or obj == 0 else float(f"{obj:.{digits}g}")
    if isinstance(obj, dict):
        return {k: _rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_rounded(v, digits) for v in obj]
    return obj


def without_stylesheet(html: str, source: str) -> str:
    """``html`` with its inlined stylesheet replaced by a note naming the template file
    (the stylesheet is reviewed as that file; repeating it in every snapshot hides what
    changed)."""
    return _STYLE.sub(f"<style>/* {source} */</style>", html)
