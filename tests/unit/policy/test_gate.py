"""--fail-on never passes quietly over checks that failed but only warn (issue 17)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import typer

from auditor.cli import _gate
from auditor.pipeline import _unjudged_credit_gaps
from auditor.result import Finding, MetricRecord
from auditor.spec import load_spec
from tests.factories import make_result


def _finding(status: str, *, check_failed: bool = False, severity: str = "high") -> Finding:
    return Finding(
        rule_id="EEOC-UGESP-4D-FOUR-FIFTHS",
        pack="eeoc_ugesp",
        title="four-fifths",
        scope="race=Black",
        status=status,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        observed=0.6,
        threshold=0.8,
        citation="29 CFR 1607.4(D)",
        message="m",
        rule_status="guidance",
        check_failed=check_failed,
    )


def test_a_guidance_screen_that_failed_is_said_and_gated_on_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = replace(make_result(), findings=(_finding("warn", check_failed=True),))
    _gate(result, "high", False, quiet=False)  # no exit: the rule only warns ...
    said = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "failed their check but only warn" in said  # ... but says so
    assert "EEOC-UGESP-4D-FOUR-FIFTHS" in said
    with pytest.raises(typer.Exit) as exc:
        _gate(result, "high", True, quiet=True)
    assert exc.value.exit_code == 1
    # an ordinary warning (no failed check) and a lower severity are not counted
    plain = replace(make_result(), findings=(_finding("warn"),))
    _gate(plain, "high", True, quiet=False)
    low = replace(make_result(), findings=(_finding("warn", check_failed=True, severity="low"),))
    _gate(low, "high", True, quiet=False)
    assert "only warn" not in capsys.readouterr().err


def test_credit_audit_without_control_groups_says_what_was_not_judged() -> None:
    spec = load_spec(
        {
            "name": "compas-as-credit",
            "domain": "credit",
            "data": {"path": "d.csv"},
            "columns": {"id": "id", "decision": "d"},
            "protected": ["race"],
        }
    )
    low = MetricRecord(
        "race", "African-American", "impact_ratio", 0.53, 3175, p_value=2e-39, reference="W"
    )
    insufficient = replace(_finding("insufficient_evidence"), rule_id="FL-DI-AIR")
    (said,) = _unjudged_credit_gaps(spec, [insufficient], [low])
    assert "judged no group" in said
    assert "race=African-American at 0.53 (n = 3175, p = 2e-39)" in said
    judged = replace(insufficient, status="fail")
    assert _unjudged_credit_gaps(spec, [judged], [low]) == []


def test_version_flag() -> None:
    from typer.testing import CliRunner

    from auditor._version import __version__
    from auditor.cli import app

    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.output.strip() == f"auditor {__version__}"
