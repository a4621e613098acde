"""What the golden-snapshot tests share: one switch to regenerate them, one normal form.

Regenerate every snapshot after a deliberate change, then review the diff:
``AUDITOR_UPDATE_GOLDEN=1 PYTHONPATH=$PWD .venv/bin/python -m pytest tests/test_*golden*.py -q``.
"""

from __future__ import annotations

import os
import re

UPDATE = os.environ.get("AUDITOR_UPDATE_GOLDEN") == "1"

_STYLE = re.compile(r"<style>.*?</style>", re.S)


def without_stylesheet(html: str, source: str) -> str:
    """``html`` with its inlined stylesheet replaced by a note naming the template file
    (the stylesheet is reviewed as that file; repeating it in every snapshot hides what
    changed)."""
    return _STYLE.sub(f"<style>/* {source} */</style>", html)
