"""Policy facts from a stored quality block: ``explanation.fidelity.*``, ``.stability.*``.

Figures describe the audit's own (primary) method; ``explanation.agreement.*`` compares it
with the other methods measured. Facts absent from the dict were not measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.quality_block import ExplanationQuality

Block = Mapping[str, Any] | ExplanationQuality
"""A quality block: typed (as results hold it) or its JSON form."""

FACT_NAMES = (
    "explanation.fidelity.completeness_max",
    "explanation.fidelity.completeness_relative",
    "explanation.fidelity.deletion_auc",
    "explanation.fidelity.insertion_auc",
    "explanation.fidelity.random_deletion_auc",
    "explanation.fidelity.deletion_gain",
    "explanation.fidelity.infidelity",
    "explanation.stability.max_sensitivity",
    "explanation.stability.reasons_changed_share",
    "explanation.stability.reasons_changed_rate",
    "explanation.stability.background_changed_share",
    "explanation.agreement.min_top_k_overlap",
    "explanation.agreement.min_spearman",
)


def primary_method(block: Block) -> dict[str, Any] | None:
    """The measured figures of the audit's own method; without a primary, the first one.

    None when the audit's method was not measured (the facts then stay absent, so rules
    report insufficient evidence rather than another method's figures).
    """
    if isinstance(block, ExplanationQuality):
        block = block.to_json()
    methods = block.get("methods") or []
    primary = block.get("primary")
    if primary is None:
        return dict(methods[0]) if methods else None
    return next((dict(m) for m in methods if m["method"] == primary), None)


def quality_facts(block: Block) -> dict[str, float]:
    """Flat numeric facts rules can check (empty when the stage did not run)."""
    if isinstance(block, ExplanationQuality):
        block = block.to_json()
    if not block.get("computed"):
        return {}
    m = primary_method(block)
    if m is None:
        return {}
    rnd = block["random_order"]["deletion_auc"]
    facts: dict[str, Any] = {
        "explanation.fidelity.completeness_max": m["completeness_max"],
        "explanation.fidelity.completeness_relative": m["completeness_relative"],
        "explanation.fidelity.deletion_auc": m["deletion_auc"],
        "explanation.fidelity.insertion_auc": m["insertion_auc"],
        "explanation.fidelity.random_deletion_auc": rnd,
        "explanation.fidelity.deletion_gain": rnd - m["deletion_auc"],
        "explanation.fidelity.infidelity": m["infidelity"],
        "explanation.stability.max_sensitivity": m["max_sensitivity"],
        "explanation.stability.reasons_changed_share": m["reasons_changed_perturbation"],
        "explanation.stability.reasons_changed_rate": m["reasons_changed_rate"],
        "explanation.stability.background_changed_share": m["reasons_changed_background"],
    }
    pairs = [p for p in block.get("agreement", ()) if m["method"] in (p["a"], p["b"])]
    if pairs:
        facts["explanation.agreement.min_top_k_overlap"] = min(p["top_k_overlap"] for p in pairs)
        facts["explanation.agreement.min_spearman"] = min(p["spearman"] for p in pairs)
    return {k: float(v) for k, v in facts.items() if v is not None and v == v}
