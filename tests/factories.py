"""Hand-built audit results for tests of stages that only consume an AuditResult."""

from __future__ import annotations

import uuid

from auditor.result import (
    AttributionSummary,
    AuditResult,
    DatasetSummary,
    Finding,
    GroupAttribution,
    GroupCount,
    MetricRecord,
    Provenance,
    ProxyScore,
    RunInfo,
)


def make_result(*, name: str = "factory-audit", with_attributions: bool = True) -> AuditResult:
    """A small but complete hiring audit result with two groups and one unknown."""
    groups = (
        GroupCount("sex", "Female", 480, 0.48),
        GroupCount("sex", "Male", 500, 0.50),
        GroupCount("sex", "unknown", 20, 0.02, unknown=True),
    )
    metrics = (
        MetricRecord("sex", "Female", "selection_rate", 0.25, 480, 120, 0.214, 0.290),
        MetricRecord("sex", "Male", "selection_rate", 0.40, 500, 200, 0.358, 0.444),
        MetricRecord(
            "sex",
            "unknown",
            "selection_rate",
            0.30,
            20,
            6,
            0.145,
            0.519,
            flags=("unknown", "small_sample"),
        ),
        MetricRecord(
            "sex", "Female", "impact_ratio", 0.625, 480, None, 0.53, 0.74, 1.2e-6, reference="Male"
        ),
        MetricRecord(
            "sex", "Male", "impact_ratio", 1.0, 500, reference="Male", flags=("reference",)
        ),
    )
    feats = ("skills_test", "area_code")
    attributions = (
        AttributionSummary(
            computed=True,
            method="integrated_gradients",
            output="logit",
            n_explained=1000,
            feature_names=feats,
            base_value=-0.4,
            additivity_error=2e-4,
            tolerance=1e-2,
            global_importance={"skills_test": 0.8, "area_code": 0.5},
            groups=(
                GroupAttribution(
                    "sex",
                    "Female",
                    480,
                    "Male",
                    {"skills_test": 0.1, "area_code": -0.3},
                    {"skills_test": 0.7, "area_code": 0.5},
                    {"skills_test": 0.0, "area_code": -0.35},
                ),
                GroupAttribution(
                    "sex",
                    "Male",
                    500,
                    "Male",
                    {"skills_test": 0.1, "area_code": 0.05},
                    {"skills_test": 0.7, "area_code": 0.4},
                    {"skills_test": 0.0, "area_code": 0.0},
                ),
            ),
            proxies=(ProxyScore("area_code", "sex", "cramers_v", 0.41),),
            params={"steps": 64},
        )
        if with_attributions
        else AttributionSummary(computed=False, reason="No model was given.")
    )
    findings = (
        Finding(
            "EEOC-UGESP-4D-FOUR-FIFTHS",
            "eeoc_ugesp",
            "Four-fifths screen",
            "sex=Female",
            "fail",
            "high",
            0.625,
            0.8,
            "29 CFR 1607.4(D)",
            "Female selection rate is 62.5% of Male's (screen: 80%).",
        ),
        Finding(
            "NYC-LL144-IMPACT-RATIO",
            "nyc_ll144",
            "Impact ratios",
            "sex",
            "pass",
            "info",
            None,
            None,
            "6 RCNY 5-301",
            "Impact ratios computed for 2 categories.",
        ),
    )
    return AuditResult(
        name=name,
        domain="hiring",
        # with the facts the public LL144 summary needs, so every preset renders
        spec={
            "name": name,
            "domain": "hiring",
            "evidence": {"data_source": "Historical applications 2025", **LL144_PUBLICATION},
        },
        dataset=DatasetSummary(1000, 326, True, True, "model", groups, feats),
        metrics=metrics,
        attributions=attributions,
        findings=findings,
        warnings=("example warning <b>escaped</b>",),
        provenance=Provenance(
            "a" * 64, "b" * 64, "c" * 64, {"auditor": "0.1.0"}, {"eeoc_ugesp": "2026.11"}, 0
        ),
        run=RunInfo(
            str(uuid.uuid4()),
            "2026-11-23T10:00:00+00:00",
            "2026-11-23T10:00:05+00:00",
            5.0,
            {"load": 1.0},
            "tester",
            "localhost",
        ),
    )


# What the public NYC LL144 summary requires under ``evidence`` besides ``data_source``
# (auditor/report/ll144_publication.py); without them the ll144 preset refuses to render.
LL144_PUBLICATION = {
    "employer": "Example Employer Inc.",
    "aedt_name": "ScreenRank",
    "aedt_vendor": "Vendor Analytics LLC",
    "data_period": "2025-01-01 to 2025-12-31",
    "data_kind": "historical",
    "distribution_date": "2024-03-01",
}
