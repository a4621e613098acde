"""Digests and versions recorded with every audit."""

from __future__ import annotations

import getpass
import hashlib
from importlib import metadata
from pathlib import Path

TRACKED_PACKAGES = (
    "auditor",
    "numpy",
    "pandas",
    "scipy",
    "lightgbm",
    "shap",
    "torch",
    "scikit-learn",
    "weasyprint",
    "jinja2",
    "matplotlib",
    "sqlalchemy",
    "pydantic",
)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def files_sha256(paths: list[Path]) -> str:
    """One digest for several files (the digest of one file is its own SHA-256)."""
    if len(paths) == 1:
        return file_sha256(paths[0])
    h = hashlib.sha256()
    for p in paths:
        h.update(file_sha256(p).encode())
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape results ("absent" if not installed)."""
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def current_user() -> str:
    """The operating-system user running the audit ("unknown" if it cannot be told)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
