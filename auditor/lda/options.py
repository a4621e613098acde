"""What a search is asked to do and what it returns (its own module: the search and the
record writer both use them, and the search calls the writer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SearchOptions", "SearchResult", "Tolerance"]


@dataclass(frozen=True)
class SearchOptions:
    """Limits of a search (the CLI's flags)."""

    # business-necessity tolerance on training.tolerance_on (AUC the alternative may lose,
    # by default); None: training.tolerance, else 0.01
    tolerance: float | None = None
    budget: int = 16  # candidates tried at most (the baseline not counted)
    patience: int = 6  # stop after this many candidates that leave the frontier unmoved
    max_approval_change: float = 0.05  # an alternative must keep the approval rate this close
    jobs: int = 2  # candidates fitted at once (one LightGBM thread each)


@dataclass(frozen=True)
class Tolerance:
    """The business-necessity tolerance as the search applies it: ``value`` on the
    measure ``on`` (``training.tolerance_on``), and the approval-rate band."""

    on: str
    value: float
    max_approval_change: float


@dataclass
class SearchResult:
    """The record (JSON-ready) and where its files are."""

    record: dict[str, Any]
    out_dir: Path
    recommended: str | None
    files: dict[str, Path] = field(default_factory=dict)
