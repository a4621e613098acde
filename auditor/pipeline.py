"""``run_audit``: load policies → load model → measure (``auditor.engine``) → check.

Orchestration only: every engine measures through :func:`auditor.engine.measure`.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditor.batch import DecisionBatch
from auditor.engine import measure
from auditor.engine.statistics import adea_plans, split_groupings
from auditor.explain.quality import quality_facts
from auditor.metrics import groupings
from auditor.models import load_model
from auditor.policy import Facts, PolicyPack, evaluate, load_packs
from auditor.policy.verdict import VerdictRule
from auditor.provenance import (
    combined_sha256,
    current_user,
    file_sha256,
    is_url,
    package_versions,
    path_sha256,
)
from auditor.quality_block import ExplanationQuality
from auditor.result import AuditResult, Finding, MetricRecord, Provenance, RunInfo
from auditor.spec import AuditSpec, load_spec

Progress = Callable[[str], None]
LDA_EVIDENCE_KEY = "lda_record"
"""The evidence key a stored search's summary is read under (auditor.lda.evidence)."""


def run_audit(
    spec: AuditSpec | str | Path | Mapping[str, Any],
    *,
    progress: Progress | None = None,
    capture: Callable[[DecisionBatch], None] | None = None,
    lda_record: Mapping[str, Any] | None = None,
) -> AuditResult:
    """Run a complete audit and return its result.

    Parameters
    ----------
    spec
        An :class:`~auditor.spec.AuditSpec`, a path to a YAML spec, or the spec as a dict.
    progress
        Called with the name of each stage as it starts.
    capture
        Called once with the scored decisions (e.g. to store them for letters).
    lda_record
        A stored search for less discriminatory alternatives made for this audit and
        model (see :func:`auditor.lda.evidence.record_for`): the packs read its summary as
        ``evidence.lda_record``.

    Raises
    ------
    AuditorError
        For any problem with the spec, data, model or policy packs.
    """
    if not isinstance(spec, AuditSpec):
        spec = load_spec(spec)
    timings: dict[str, float] = {}
    started = datetime.now(UTC)
    t0 = time.perf_counter()

    @contextmanager
    def stage(name: str) -> Iterator[None]:
        if progress:
            progress(name)
        s = time.perf_counter()
        yield
        timings[name] = round(time.perf_counter() - s, 4)

    with stage("load policies"):
        packs = load_packs(spec.policies, extra=spec.policy_folders())
        _check_custom_packs(packs, spec.policy_folders())
    with stage("load model"):
        model = load_model(spec)
    screened = None
    source = None
    if spec.screener is not None:
        # issue 23: the screener scores paired variants of each application; its
        # decisions are measured below as any other audit's
        from auditor.engine.sources import FrameSource
        from auditor.screener.run import screen

        with stage("score screener"):
            screened = screen(spec)
        source = FrameSource(spec, screened.frame)
    # every engine through one driver (auditor/engine): same findings, metrics, warnings
    measured = measure(spec, model, source, stage=stage, timings=timings, capture=capture)
    metrics = list(measured.metrics)
    warnings = list(measured.warnings)
    hard, weighted = split_groupings(spec)
    groups = groupings(spec.protected, hard)
    # the ADEA comparisons (40 and over against under 40): groupings of their own
    adea_comparisons, adea_notes = adea_plans(spec, measured.cells)
    warnings += adea_notes
    adea_names = tuple(p.name for p in adea_comparisons)
    audit_date = spec.audit_date or started.date()
    with stage("check policies"):
        facts = Facts(
            domain=spec.domain,
            audit_date=audit_date,
            metrics=tuple(metrics),
            groups=measured.dataset.groups,
            groupings=(*(g.name for g in [*groups, *weighted]), *adea_names),
            intersections=tuple(spec.intersection_names()),
            features=tuple(spec.columns.features),
            attributions=measured.attributions,
            min_group_size=spec.min_group_size,
            evidence=_with_lda_record(
                _evidence_facts(spec, metrics, warnings), lda_record, warnings
            ),
            explanation=quality_facts(dict(measured.explanation_quality)),
            verdict_rule=VerdictRule(spec.verdict.rule, spec.verdict.alpha, spec.verdict.family),
            jurisdictions=tuple(spec.jurisdictions or ()),
            geography_columns=tuple(spec.geography),
            geography=measured.geography,
            categories={**spec.categories(), **dict.fromkeys(adea_names, frozenset({"age"}))},
        )
        findings = evaluate(packs, facts)
        verdict = facts.verdicts().describe()
        if spec.protected_probabilities:
            verdict["inferred_membership"] = _inferred_membership(spec)
        warnings += _scope_warnings(spec, packs)
        warnings += _unjudged_credit_gaps(spec, findings, metrics)
    provenance = _provenance(spec, packs)
    if screened is not None:
        provenance = _screener_provenance(spec, provenance, screened.summary)
        warnings += list(screened.warnings)
    finished = datetime.now(UTC)
    return AuditResult(
        name=spec.name,
        domain=spec.domain,
        spec=spec.as_dict(),
        dataset=measured.dataset,
        metrics=tuple(metrics),
        attributions=measured.attributions,
        findings=tuple(findings),
        warnings=tuple(warnings),
        provenance=provenance,
        run=RunInfo(
            audit_id=str(uuid.uuid4()),
            started_at=started.isoformat(timespec="seconds"),
            finished_at=finished.isoformat(timespec="seconds"),
            duration_s=round(time.perf_counter() - t0, 3),
            timings=timings,
            user=current_user(),
            host=socket.gethostname(),
        ),
        explanation_quality=ExplanationQuality.from_json(dict(measured.explanation_quality)),
        verdict=verdict,
        screener=None if screened is None else screened.summary,
    )


def _screener_provenance(spec: AuditSpec, base: Provenance, summary: Any) -> Provenance:
    """A screener audit's data is its applications file; its model, the torch file (a
    callable or an endpoint is identified in the screener record instead)."""
    from dataclasses import replace

    from auditor.screener.applications import applications_path

    file_digest = summary.record.identity.get("sha256")
    return replace(
        base,
        data_sha256=combined_sha256([path_sha256(applications_path(spec))]),
        model_sha256=file_digest if isinstance(file_digest, str) else None,
    )


def _inferred_membership(spec: AuditSpec) -> dict[str, Any]:
    """Which estimate decides for groupings of inferred (BISG) membership (issue 17).

    Every engine measures BIRDiE (Spark from the partitions' merged cell tables since
    December 2026), so the statement no longer depends on the engine.
    """
    statement = (
        "groupings of inferred (probabilistic) membership are judged on the weighted "
        "estimates; BIRDiE's bias-corrected rates are reported beside them, and a warning "
        "names any group where the two fall on different sides of the line"
    )
    return {
        "decided_by": "weighted",
        "bias_corrected": "birdie_complete_pooling",
        "statement": statement,
    }


def _scope_warnings(spec: AuditSpec, packs: list[PolicyPack]) -> list[str]:
    """A missing ``jurisdictions`` key, and pack files written the older way (issue 18)."""
    out = []
    if packs and spec.jurisdictions is None:
        out.append(
            "jurisdictions: not given, so every listed policy pack was applied whatever its "
            "territory; name where the decision subjects are and where the organisation "
            "operates (e.g. jurisdictions: [US-NY]) so packs for other places are "
            "not_applicable."
        )
    for pack in packs:
        if pack.deprecations:
            out.append(
                f"policy pack '{pack.meta.id}': {len(pack.deprecations)} older-style field(s) "
                f"still load but are deprecated, e.g. {pack.deprecations[0]}"
            )
    return out


def _unjudged_credit_gaps(
    spec: AuditSpec, findings: list[Finding], metrics: list[MetricRecord]
) -> list[str]:
    """Say loudly when a credit audit's disparity rules judged nobody (issue 17).

    The fair-lending screens compare with a named control group; with ``reference:
    highest`` they report insufficient evidence, and a gate on failures would pass an
    audit whose groups are far below the highest rate.
    """
    if spec.domain != "credit" or not isinstance(spec.reference, str):
        return []
    judged = any(
        f.rule_id.startswith("FL-DI") and f.status in ("pass", "fail", "warn") for f in findings
    )
    low = [
        m
        for m in metrics
        if m.metric == "impact_ratio"
        and m.value is not None
        and m.value < 0.8
        and "small_sample" not in m.flags
        and "unknown" not in m.flags
    ]
    if judged or not low:
        return []
    worst = min(low, key=lambda m: (m.value if m.value is not None else 1.0, -m.n))
    p = f", p = {worst.p_value:.2g}" if worst.p_value is not None else ""
    return [
        "reference: highest: the fair-lending disparity rules compare each group with a named "
        "control group (e.g. reference: {sex: male}), so they judged no group in this audit; "
        f"{len(low)} group(s) have an approval rate below 0.80 of the highest group's, the "
        f"lowest {worst.attribute}={worst.group} at {worst.value:.2f} (n = {worst.n}{p}). "
        "Name the control groups to have them judged."
    ]


_EXCLUSION_KEYS = ("ll144_excluded_categories", "ll144_exclusion_justification")


def _evidence_facts(spec: AuditSpec, metrics: list[Any], warnings: list[str]) -> dict[str, Any]:
    """The spec's evidence, plus what the audit itself did about LL144's 2% exclusion.

    The excluded categories are facts of the computation, not attestations: they come
    from ``small_category_exclusion`` and the records it flagged, never from the spec's
    evidence block (a value there is dropped with a warning).
    """
    evidence = dict(spec.evidence)
    for key in _EXCLUSION_KEYS:
        if evidence.pop(key, None) is not None:
            warnings.append(
                f"evidence.{key} is ignored: the audit records the categories it excluded "
                "itself; use the spec key small_category_exclusion to exclude categories."
            )
    exclusion = spec.small_category_exclusion
    if exclusion is not None:
        excluded = sorted({m.group for m in metrics if "excluded" in m.flags})
        evidence.update(
            ll144_excluded_categories=excluded,
            ll144_exclusion_justification=exclusion.justification,
        )
    return evidence


def _with_lda_record(
    evidence: dict[str, Any], record: Mapping[str, Any] | None, warnings: list[str]
) -> dict[str, Any]:
    """The evidence with the search record's summary under ``lda_record``: a fact of a
    stored search, never something a spec attests (a spec's own value is dropped with a
    warning)."""
    if evidence.pop(LDA_EVIDENCE_KEY, None) is not None:
        warnings.append(
            f"evidence.{LDA_EVIDENCE_KEY} is ignored: the audit reads a stored search for "
            "its model itself (auditor lda --store); attest evidence.lda_search to name a "
            "search memo instead."
        )
    if record is None:
        return evidence
    from auditor.lda.evidence import record_evidence

    return {**evidence, LDA_EVIDENCE_KEY: record_evidence(record)}


def _check_custom_packs(packs: list[PolicyPack], folders: list[Path]) -> None:
    """An organisation's packs must carry passing fixtures for every rule, as shipped
    packs do (``auditor policies validate`` refuses them otherwise, and so does an audit)."""
    from auditor.policy.fixtures import check_custom_pack

    roots = {f.resolve() for f in folders}
    for pack in packs:
        if pack.folder.resolve().parent in roots:
            check_custom_pack(pack)


def data_sha256(spec: AuditSpec) -> str:
    """The audited data's fingerprint: a file's SHA-256, a folder's over its data files
    (:func:`~auditor.provenance.path_sha256`), a URL's computed by Spark."""
    digests = []
    for path in [spec.data.path, spec.data.protected_path]:
        if not path:
            continue
        if is_url(path):
            from auditor.engine.spark import remote_sha256

            digests.append(remote_sha256(spec, path))
        else:
            digests.append(path_sha256(spec.resolve(path)))
    return combined_sha256(digests)


def _provenance(spec: AuditSpec, packs: list[Any]) -> Provenance:
    model_sha = file_sha256(spec.resolve(spec.model.path)) if spec.model else None
    return Provenance(
        spec_sha256=spec.digest(),
        data_sha256=data_sha256(spec),
        model_sha256=model_sha,
        packages=package_versions(),
        policy_packs={p.meta.id: p.meta.version for p in packs},
        seed=spec.seed,
    )


def grouping_names(spec: AuditSpec) -> tuple[str, ...]:
    """The names of the audit's groupings (attributes, then intersections), as the
    ``groupings`` fact lists them; a re-evaluation (issue 21) rebuilds the fact with it."""
    hard, weighted = split_groupings(spec)
    return tuple(g.name for g in [*groupings(spec.protected, hard), *weighted])


def evidence_facts(spec: AuditSpec, metrics: list[Any], warnings: list[str]) -> dict[str, Any]:
    """The ``evidence`` fact of an audit of ``spec`` with ``metrics`` (see run_audit)."""
    return _evidence_facts(spec, metrics, warnings)
