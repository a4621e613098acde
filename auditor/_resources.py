"""Locate the packaged templates and policy packs.

In a built wheel they live in ``auditor/_data/``; in a source checkout (editable install)
they are the repository's top-level ``templates/`` and ``policies/`` folders.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PKG = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """Folder of packaged data ``name`` (``templates`` or ``policies``)."""
    for candidate in (_PKG / "_data" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"auditor's '{name}' folder is missing from the installation (looked in "
        f"{_PKG / '_data' / name} and {_PKG.parent / name}); reinstall the package."
    )


def templates_dir() -> Path:
    """Folder with the report and letter templates."""
    return data_dir("templates")


def policies_dir() -> Path:
    """Folder with the policy packs, one sub-folder per pack."""
    return data_dir("policies")


def sample_data_dir() -> Path:
    """Folder with the shipped sample data sets."""
    return data_dir("sample_data")
