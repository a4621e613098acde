"""Where the tests find the repository and the golden snapshots, wherever a test module sits
(tests/unit/metrics/, tests/integration/web/, …): one place instead of ``parents[n]`` counts
that break when a module moves."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the snapshot files the golden tests compare with (tests/golden/ holds the tests)
SNAPSHOTS = REPO / "tests" / "golden" / "snapshots"
