"""Explanation quality: fidelity, stability and agreement of attribution methods.

``assess`` runs the audit stage; ``check_reasons`` / ``reasons_unstable`` are the
per-decision check for letters.
"""

from auditor.explain.quality.agreement import Agreement, agreement
from auditor.explain.quality.assess import (
    MethodQuality,
    QualitySample,
    QualitySettings,
    assess,
    assess_sample,
    default_methods,
    draw_sample,
    not_computed,
)
from auditor.explain.quality.facts import FACT_NAMES, primary_method, quality_facts
from auditor.explain.quality.fidelity import (
    Curves,
    attribution_order,
    completeness_errors,
    deletion_insertion,
    infidelity,
)
from auditor.explain.quality.reasons import (
    ReasonStability,
    check_reasons,
    reasons_unstable,
    unstable_decisions,
)
from auditor.explain.quality.stability import FeatureNoise, near_tie, top_k

__all__ = [
    "FACT_NAMES",
    "Agreement",
    "Curves",
    "FeatureNoise",
    "MethodQuality",
    "QualitySample",
    "QualitySettings",
    "ReasonStability",
    "agreement",
    "assess",
    "assess_sample",
    "attribution_order",
    "check_reasons",
    "completeness_errors",
    "default_methods",
    "deletion_insertion",
    "draw_sample",
    "infidelity",
    "near_tie",
    "not_computed",
    "primary_method",
    "quality_facts",
    "reasons_unstable",
    "top_k",
    "unstable_decisions",
]
