"""Digests and versions recorded with every audit."""

from __future__ import annotations

import getpass
import hashlib
import re
from importlib import metadata
from pathlib import Path

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

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


def is_url(path: str) -> bool:
    """Whether a data path names a location for Spark (``hdfs://``, ``s3a://``, ...)."""
    return bool(_URL.match(path))


def path_sha256(path: Path) -> str:
    """SHA-256 of a file; of a folder (a Parquet dataset written by Spark, say), the
    SHA-256 of its data files' relative paths and digests, in order. Hidden files and
    names starting with '_' (``_SUCCESS``, ``.crc`` checksums) are left out, as Spark
    and Arrow leave them out when reading."""
    return listing_sha256(_folder_digests(path)) if path.is_dir() else file_sha256(path)


def listing_sha256(digests: list[tuple[str, str]]) -> str:
    """The folder digest of :func:`path_sha256` from (relative path, SHA-256) pairs."""
    h = hashlib.sha256()
    for name, digest in sorted(digests):
        h.update(f"{name}\0{digest}\n".encode())
    return h.hexdigest()


def _folder_digests(folder: Path) -> list[tuple[str, str]]:
    out = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if p.is_file() and not any(part.startswith((".", "_")) for part in rel.parts):
            out.append((rel.as_posix(), file_sha256(p)))
    return out


def combined_sha256(digests: list[str]) -> str:
    """One digest for several (one digest stays itself)."""
    if len(digests) == 1:
        return digests[0]
    h = hashlib.sha256()
    for d in digests:
        h.update(d.encode())
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
