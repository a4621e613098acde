"""What the public NYC LL144 summary must state, read from the spec's ``evidence`` block.

6 RCNY 5-303 asks the published summary for the date of the most recent bias audit, the
source and explanation of the data, the number of individuals in an unknown category, the
number of applicants, the selection or scoring rates and impact ratios for all categories,
and the distribution date of the tool. A reader also needs to know whose tool it is. The
audit measures the numbers; the facts below only the employer can state, so they are
required spec keys (under ``evidence``, where the nyc_ll144 pack already reads
``data_source``):

=========================  ===============================================================
``evidence.employer``      the employer or employment agency that uses the tool
``evidence.aedt_name``     the name of the automated employment decision tool
``evidence.aedt_vendor``   who makes or distributes it
``evidence.data_source``   source and explanation of the data (5-303)
``evidence.data_period``   the period the data cover, e.g. ``2025-01-01 to 2025-12-31``
``evidence.data_kind``     ``historical`` or ``test`` (5-302)
``evidence.test_data_reason``  only with ``test``: why historical data were not used and
                           how the test data were generated (5-302)
``evidence.distribution_date``  when the tool was first distributed, ISO date (5-303)
=========================  ===============================================================

Until every key is given the preset refuses to render (a :class:`RenderError`, exit code
2), naming each missing key: a summary with a blank where the law asks for a fact must not
be posted. Nothing here is a placeholder.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from auditor.errors import RenderError
from auditor.result import AuditResult

REQUIRED = (
    ("employer", "the employer or employment agency using the tool"),
    ("aedt_name", "the name of the automated employment decision tool"),
    ("aedt_vendor", "who makes or distributes the tool"),
    ("data_source", "source and explanation of the data (6 RCNY 5-303)"),
    ("data_period", "the period the data cover"),
    ("data_kind", "'historical' or 'test' (6 RCNY 5-302)"),
    ("distribution_date", "the tool's distribution date, YYYY-MM-DD (6 RCNY 5-303)"),
)
DATA_KINDS = ("historical", "test")


@dataclass(frozen=True)
class Publication:
    """The employer's statements the public summary prints, all present and checked."""

    employer: str
    aedt_name: str
    aedt_vendor: str
    data_source: str
    data_period: str
    data_kind: str
    test_data_reason: str | None
    distribution_date: str


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def publication(result: AuditResult) -> Publication:
    """The publication facts of ``result``'s spec; a :class:`RenderError` naming every
    missing or malformed key when any is absent."""
    spec = result.spec if isinstance(result.spec, dict) else {}
    raw = spec.get("evidence")
    evidence: dict[str, Any] = raw if isinstance(raw, dict) else {}
    values = {key: _text(evidence.get(key)) for key, _ in REQUIRED}
    problems = [f"evidence.{key} ({what})" for key, what in REQUIRED if values[key] is None]
    kind = values["data_kind"]
    if kind is not None and kind not in DATA_KINDS:
        problems.append(f"evidence.data_kind must be 'historical' or 'test', not '{kind}'")
    reason = _text(evidence.get("test_data_reason"))
    if kind == "test" and reason is None:
        problems.append(
            "evidence.test_data_reason (why historical data were not used and how the test "
            "data were generated; 6 RCNY 5-302)"
        )
    when = values["distribution_date"]
    if when is not None:
        try:
            date.fromisoformat(when)
        except ValueError:
            problems.append(f"evidence.distribution_date must be a date YYYY-MM-DD, not '{when}'")
    if problems:
        raise RenderError(
            f"The NYC LL144 summary of audit {result.audit_id} cannot be rendered for "
            "publication; the spec must state: "
            + "; ".join(problems)
            + ". Add them under 'evidence:' in the spec and run the audit again."
        )
    return Publication(
        employer=values["employer"] or "",
        aedt_name=values["aedt_name"] or "",
        aedt_vendor=values["aedt_vendor"] or "",
        data_source=values["data_source"] or "",
        data_period=values["data_period"] or "",
        data_kind=kind or "",
        test_data_reason=reason if kind == "test" else None,
        distribution_date=when or "",
    )


def result_digest(result: AuditResult) -> str:
    """SHA-256 of the result's JSON: the digest the database stores for the audit
    (``audits.result_sha256``), so a posted summary can be matched to its stored audit."""
    return hashlib.sha256(result.to_json().encode("utf-8")).hexdigest()
