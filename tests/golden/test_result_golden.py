"""Golden result JSON: the whole ``AuditResult.to_dict()``, not a subset of its fields.

Three results: the two hand-built audits the report snapshots render (every section of
the result filled: metrics with intervals and flags, attributions with proxies and a gap
decomposition, findings of several packs), and a real in-memory audit of recorded
decisions (probabilistic membership, strata, intersections, slices, Reg B rules) on a
fixed, generated data set. A renamed, dropped, added or reordered field, or a changed
number, shows as a diff of ``tests/golden/snapshots/result/*.json``; regenerate after a
deliberate change (and bump ``schema_version`` when a reader must know)::

    PYTHONPATH=$PWD .venv/bin/python -m pytest --update-golden \\
        tests/golden/test_result_golden.py -q

What describes the run rather than the measurement (ids, times, host, user, package
versions, the data file's temporary path) is replaced by a placeholder; floats of the
real audit are compared to 10 significant digits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import auditor
from auditor.result import AuditResult
from tests._engine_compare import decisions_frame, decisions_spec
from tests._golden import as_json, assert_snapshot
from tests.golden.test_report_golden import CASES

RUN_PLACEHOLDER = "<run>"


def _normalised(result: AuditResult) -> dict[str, Any]:
    data = result.to_dict()
    data["run"] = RUN_PLACEHOLDER
    data["provenance"] = dict.fromkeys(sorted(data.get("provenance") or {}), RUN_PLACEHOLDER)
    spec = data.get("spec") or {}
    if isinstance(spec.get("data"), dict) and "path" in spec["data"]:
        spec["data"] = {**spec["data"], "path": Path(spec["data"]["path"]).name}
    return data


@pytest.mark.parametrize("name", sorted(CASES))
def test_hand_built_result_json_matches_its_snapshot(name: str) -> None:
    result = CASES[name]()
    text = as_json(_normalised(result))
    assert_snapshot(f"result/{name}.json", text)
    # the snapshot is the serialised result: reading it back gives the same measurement
    again = AuditResult.from_dict(result.to_dict())
    assert as_json(_normalised(again)) == text


def test_audit_result_json_matches_its_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "decisions.csv"
    decisions_frame(480).to_csv(path, index=False)
    spec = decisions_spec(path)
    spec["name"] = "golden-decisions"
    spec["audit_date"] = "2026-12-06"  # which rules are in force
    result = auditor.run_audit(spec)
    assert result.findings  # not vacuous: rules were evaluated
    assert_snapshot("result/decisions-audit.json", as_json(_normalised(result), digits=10))
