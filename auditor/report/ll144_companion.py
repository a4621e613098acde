"""The machine-readable companion of the public LL144 summary (JSON written beside the PDF).

It holds the same numbers as the PDF (every category's applicants, selected count, rates
and impact ratios, the unknown counts, the employer's statements) plus
``audit.result_sha256``: the digest the database stores for the audit
(``audits.result_sha256``, SHA-256 of the result JSON). Anyone holding the posted JSON can
ask the auditor to confirm that the digest belongs to a stored audit, and re-derive each
number from that audit's result. Keys are stable; new ones may be added.
"""

from __future__ import annotations

import json
from typing import Any

from auditor.report.ll144 import LL144Grouping, LL144Row, LL144View
from auditor.report.ll144_publication import result_digest
from auditor.result import AuditResult, MetricRecord

FORMAT = "auditor.ll144-summary/1"


def _value(rec: MetricRecord | None) -> float | None:
    return None if rec is None else rec.value


def _row(row: LL144Row, kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {"category": row.group, "applicants": row.n, "share": row.share}
    if kind == "selection":
        out |= {
            "selected": row.selected,
            "selection_rate": _value(row.selection_rate),
            "impact_ratio": None if row.unknown else _value(row.impact_ratio),
            "most_selected": row.selection_highest,
        }
    else:
        out |= {
            "scoring_rate": _value(row.scoring_rate),
            "scoring_impact_ratio": None if row.unknown else _value(row.scoring_impact_ratio),
            "highest_scoring_rate": row.scoring_highest,
        }
    return out | {
        "unknown": row.unknown,
        "under_2_percent": row.under_share,
        "excluded": row.excluded,
    }


def _table(g: LL144Grouping, kind: str) -> dict[str, Any]:
    return {
        "grouping": g.name,
        "category_set": g.category,
        "kind": kind,
        "unknown_count": g.unknown_n,
        "rows": [_row(r, kind) for r in g.rows],
    }


def companion(result: AuditResult, view: LL144View) -> dict[str, Any]:
    """The companion document as plain JSON data (see the module docstring)."""
    p = view.publication
    if p is None:  # only the public summary has one; build_ll144(public=True) ensures it
        raise ValueError("the LL144 companion needs the public summary's facts")
    return {
        "format": FORMAT,
        "audit": {
            "audit_id": result.audit_id,
            "name": result.name,
            "result_sha256": result_digest(result),
            "audit_date": view.audit_date,
        },
        "employer": p.employer,
        "aedt": {"name": p.aedt_name, "vendor": p.aedt_vendor},
        "distribution_date": p.distribution_date,
        "independent_auditor": view.independent_auditor,
        "data": {
            "source": p.data_source,
            "period": p.data_period,
            "kind": p.data_kind,
            "test_data_reason": p.test_data_reason,
        },
        "applicants": view.applicants,
        "selected": view.selected,
        "calculation": view.tool_kind,
        "unknown_counts": {g.name: g.unknown_n for g in view.groupings if g.category != "other"},
        "small_category_exclusion": (
            None
            if view.exclusion_share is None
            else {
                "below_share": view.exclusion_share,
                "justification": view.exclusion_justification,
            }
        ),
        "tables": [_table(g, kind) for g in view.groupings for kind in g.kinds],
    }


def companion_json(result: AuditResult, view: LL144View) -> str:
    """:func:`companion` as indented JSON text (UTF-8, stable key order)."""
    return json.dumps(companion(result, view), indent=2, ensure_ascii=False) + "\n"
