"""The audit result: everything a report, a letter or an outside auditor needs later.

An :class:`AuditResult` is JSON-serialisable and versioned (``schema_version``). It is
complete enough to re-render a report from the database without the model or the data.
Everything except the ``run`` block is a deterministic function of the spec and inputs.
Its JSON Schema is generated from these types (:func:`audit_result_schema`) and kept in
``auditor/schemas/audit-result.schema.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, is_dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

from auditor.quality_block import ExplanationQuality
from auditor.screener_block import ScreenerSummary

SCHEMA_VERSION = 2
"""Version of the result's JSON. 2: every block present (``explanation_quality`` typed,
``verdict``, the attribution summary's ``gap_decomposition`` and ``proxy_ranking``);
version 1 documents, which may lack them, are read by :func:`_from_v1`. Changing a
field's meaning or removing one bumps it, with a reader for the old form."""

FindingStatus = Literal[
    "pass", "fail", "warn", "insufficient_evidence", "not_applicable", "needs_attestation"
]
FINDING_STATUSES: tuple[FindingStatus, ...] = (
    "fail",
    "warn",
    "insufficient_evidence",
    "needs_attestation",
    "pass",
    "not_applicable",
)
Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class MetricRecord:
    """One number about one group, with the counts and the evidence behind it.

    ``count``/``n`` are the numerator and denominator the value was computed from (for a
    rate); ``reference`` names the group a ratio or difference is taken against.
    """

    attribute: str
    group: str
    metric: str
    value: float | None
    n: int
    count: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    reference: str | None = None
    flags: tuple[str, ...] = ()
    # added by the metrics engine (issue 3); JSON written before reads back with defaults
    p_value_adjusted: float | None = None  # Holm, across the metric's family of comparisons
    shortfall: float | None = None  # selections needed for parity: rate_ref * n - count
    flip_test: bool | None = None  # one changed selection moves the ratio across 0.8
    detail: dict[str, float] = field(default_factory=dict)  # e.g. bootstrap interval, bin


@dataclass(frozen=True)
class GroupCount:
    """Size of one group of a protected attribute (unknowns included)."""

    attribute: str
    group: str
    n: int
    share: float
    unknown: bool = False


@dataclass(frozen=True)
class GroupAttribution:
    """Mean attributions of one group, and their gap to the reference group."""

    attribute: str
    group: str
    n: int
    reference: str | None
    mean: dict[str, float]
    mean_abs: dict[str, float]
    gap: dict[str, float]


@dataclass(frozen=True)
class ProxyScore:
    """How strongly a model feature encodes a protected attribute (0 = not at all, 1 = fully)."""

    feature: str
    attribute: str
    measure: str
    value: float


@dataclass(frozen=True)
class GapDecomposition:
    """The gap in mean model output between a group and the reference, split by feature.

    With additive attributions (output = base + sum of attributions) the output gap is the
    base difference (0 for a shared base) plus the per-feature mean-attribution gaps;
    ``residual`` is what the attributions leave unexplained (their additivity error).
    """

    attribute: str
    group: str
    reference: str
    n: int
    n_reference: int
    output_gap: float
    base_gap: float
    contributions: dict[str, float]
    residual: float


@dataclass(frozen=True)
class ProxyRank:
    """A feature's power to predict a protected group, with its share of the output gap."""

    feature: str
    attribute: str
    group: str
    auc: float
    gap_share: float | None
    contribution: float | None
    score: float


@dataclass(frozen=True)
class AttributionSummary:
    """Global and per-group attribution summaries, or why none were computed."""

    computed: bool
    method: str | None = None
    output: str | None = None
    n_explained: int = 0
    feature_names: tuple[str, ...] = ()
    base_value: float | None = None
    additivity_error: float | None = None
    tolerance: float | None = None
    global_importance: dict[str, float] = field(default_factory=dict)
    groups: tuple[GroupAttribution, ...] = ()
    proxies: tuple[ProxyScore, ...] = ()
    reason: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    gap_decomposition: tuple[GapDecomposition, ...] = ()
    proxy_ranking: tuple[ProxyRank, ...] = ()


@dataclass(frozen=True)
class Finding:
    """The outcome of one policy rule for one scope."""

    rule_id: str
    pack: str
    title: str
    scope: str
    status: FindingStatus
    severity: Severity
    observed: float | str | None
    threshold: float | str | None
    citation: str
    message: str
    kind: str = "metric"
    rule_status: str = "binding"
    basis: str = "law"
    # issue 18: was the citation checked against a primary text ("verified"/"unverified";
    # "" in results stored before), which one, and the agency's posture on the audit date
    verification: str = ""
    verified_source: str = ""
    enforcement: str = ""
    # the rule's check failed, but the finding only warns: the rule is guidance, proposed
    # law or an advisory pack on the audit date (the CLI's --fail-on says so; issue 17)
    check_failed: bool = False


@dataclass(frozen=True)
class DatasetSummary:
    """What was audited: rows, outcome counts and group sizes."""

    rows: int
    favorable: int
    has_labels: bool
    has_scores: bool
    decisions_from: Literal["data", "model"]
    groups: tuple[GroupCount, ...]
    features: tuple[str, ...]
    # issue 17: whether the feature order was checked against the model's own names, and
    # the rows per feature with a category the model never saw (models/checks.py)
    model_input: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Provenance:
    """What was run on what: digests, versions and seeds."""

    spec_sha256: str
    data_sha256: str
    model_sha256: str | None
    packages: dict[str, str]
    policy_packs: dict[str, str]
    seed: int


@dataclass(frozen=True)
class RunInfo:
    """Facts about this particular run (not part of the deterministic content)."""

    audit_id: str
    started_at: str
    finished_at: str
    duration_s: float
    timings: dict[str, float]
    user: str
    host: str


@dataclass(frozen=True)
class AttestedEvidence:
    """One evidence value an officer attested after the run (issue 21), and by whom.

    ``at`` is an ISO 8601 UTC timestamp; the document (if any) is identified by its name
    and SHA-256, the bytes stay in the store.
    """

    key: str
    value: Any
    by: str
    at: str
    attestation_id: int
    document_name: str | None = None
    document_sha256: str | None = None


@dataclass(frozen=True)
class AuditResult:
    """The complete, serialisable outcome of one audit."""

    name: str
    domain: str
    spec: dict[str, Any]
    dataset: DatasetSummary
    metrics: tuple[MetricRecord, ...]
    attributions: AttributionSummary
    findings: tuple[Finding, ...]
    warnings: tuple[str, ...]
    provenance: Provenance
    run: RunInfo
    schema_version: int = SCHEMA_VERSION
    # issue 10: fidelity/stability of the attribution methods (see auditor.explain.quality)
    explanation_quality: ExplanationQuality = field(default_factory=ExplanationQuality)
    # issue 17: the verdict rule and the family of comparisons it controlled (rule,
    # alpha, line, family_size, family_metrics, family_groupings, statement)
    verdict: dict[str, Any] = field(default_factory=dict)
    # issue 21: which evaluation of the stored facts this is (1: the run itself; later ones
    # add attested evidence without re-running the model) and the evidence attested so far
    evaluation: int = 1
    attested: tuple[AttestedEvidence, ...] = ()
    # issue 23: a screener audit's paired effects and call record (absent otherwise)
    screener: ScreenerSummary | None = None

    def __post_init__(self) -> None:
        # the block's JSON form is accepted too (as results were built before it was typed)
        block: Any = self.explanation_quality
        if not isinstance(block, ExplanationQuality):
            object.__setattr__(self, "explanation_quality", ExplanationQuality.from_json(block))

    @property
    def audit_id(self) -> str:
        """The run's unique id."""
        return self.run.audit_id

    def findings_by_status(self) -> dict[str, int]:
        """Count findings per status, in a fixed order."""
        counts: dict[str, int] = dict.fromkeys(FINDING_STATUSES, 0)
        for f in self.findings:
            counts[f.status] += 1
        return counts

    def failed(self, at_least: Severity) -> list[Finding]:
        """Findings that failed with severity at or above ``at_least``."""
        floor = SEVERITIES.index(at_least)
        return [
            f for f in self.findings if f.status == "fail" and SEVERITIES.index(f.severity) >= floor
        ]

    def advisory_failed(self, at_least: Severity) -> list[Finding]:
        """Warnings whose check failed (a guidance or proposed rule), severity ``at_least``+."""
        floor = SEVERITIES.index(at_least)
        return [
            f
            for f in self.findings
            if f.check_failed and f.status == "warn" and SEVERITIES.index(f.severity) >= floor
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN and infinities become ``None``)."""
        # one pass that does what ``asdict`` and a clean-up pass did, without asdict's deep copy
        # of every leaf (a quarter of a second for a 5,000-row audit's result; the JSON is
        # byte-identical, which the golden snapshots check)
        data: dict[str, Any] = {
            name: (
                self.explanation_quality.to_json()
                if name == "explanation_quality"
                else _plain(getattr(self, name))
            )
            for name in _field_names(type(self))
        }
        # a result of the run itself serialises as before these fields existed, so stored
        # digests and golden snapshots of older results stay byte-identical
        if self.evaluation == 1:
            data.pop("evaluation")
        if not self.attested:
            data.pop("attested")
        if self.screener is None:
            data.pop("screener")
        return data

    def to_json(self, *, indent: int | None = 2) -> str:
        """The public JSON document (docs/reference/result.md lists every field)."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditResult:
        """Rebuild a result from :meth:`to_dict` output (for example from the database),
        of this version or an older one (read by its own reader and returned as this
        version: ``schema_version`` is the current one)."""
        version = data.get("schema_version", 1)
        if not isinstance(version, int) or version < 1 or version > SCHEMA_VERSION:
            raise ValueError(
                f"audit result schema_version {version!r} is not one this auditor reads "
                f"(1 to {SCHEMA_VERSION}); upgrade auditor to read it."
            )
        if version == 1:
            data = _from_v1(data)
        ds = data["dataset"]
        at = data["attributions"]
        return cls(
            name=data["name"],
            domain=data["domain"],
            spec=data["spec"],
            dataset=DatasetSummary(
                **{
                    **ds,
                    "groups": tuple(GroupCount(**g) for g in ds["groups"]),
                    "features": tuple(ds["features"]),
                }
            ),
            metrics=tuple(
                MetricRecord(**{**m, "flags": tuple(m["flags"])}) for m in data["metrics"]
            ),
            attributions=AttributionSummary(
                **{
                    **at,
                    "feature_names": tuple(at["feature_names"]),
                    "groups": tuple(GroupAttribution(**g) for g in at["groups"]),
                    "proxies": tuple(ProxyScore(**p) for p in at["proxies"]),
                    "gap_decomposition": tuple(
                        GapDecomposition(**g) for g in at["gap_decomposition"]
                    ),
                    "proxy_ranking": tuple(ProxyRank(**p) for p in at["proxy_ranking"]),
                }
            ),
            findings=tuple(Finding(**f) for f in data["findings"]),
            warnings=tuple(data["warnings"]),
            provenance=Provenance(**data["provenance"]),
            run=RunInfo(**data["run"]),
            schema_version=SCHEMA_VERSION,
            explanation_quality=ExplanationQuality.from_json(data["explanation_quality"]),
            verdict=data["verdict"],
            evaluation=int(data.get("evaluation", 1)),
            attested=tuple(AttestedEvidence(**a) for a in data.get("attested", ())),
            screener=(
                ScreenerSummary.from_json(data["screener"]) if data.get("screener") else None
            ),
        )

    @classmethod
    def from_json(cls, text: str) -> AuditResult:
        """Parse :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))

    def metrics_frame(self) -> pd.DataFrame:
        """Every metric record as a tidy pandas frame (value, 95% interval, n, p-values)."""
        from auditor.notebook import metrics_frame

        return metrics_frame(self)

    def findings_frame(self) -> pd.DataFrame:
        """Every policy finding as a tidy pandas frame (rule, scope, status, severity…)."""
        from auditor.notebook import findings_frame

        return findings_frame(self)

    def _repr_html_(self) -> str:
        # Jupyter's rich display: the verdict, key ratios with intervals, a small chart
        from auditor.notebook import result_html

        return result_html(self)


def _from_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A version 1 document in version 2's form: the blocks later versions of 1 added
    (explanation quality, the verdict rule, the gap decomposition and the proxy ranking)
    are empty where an older document lacks them, as version 1 readers took them."""
    at = data["attributions"]
    return {
        **data,
        "attributions": {
            **at,
            "gap_decomposition": at.get("gap_decomposition", []),
            "proxy_ranking": at.get("proxy_ranking", []),
        },
        "explanation_quality": data.get("explanation_quality", {}),
        "verdict": data.get("verdict", {}),
        "schema_version": 2,
    }


def audit_result_schema() -> dict[str, Any]:
    """The JSON Schema of :meth:`AuditResult.to_dict` (this version), from the types."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(AuditResult).json_schema(mode="serialization")
    block = TypeAdapter(ExplanationQuality).json_schema(mode="serialization")
    # the block's JSON form writes only the fields that are set (see quality_block)
    block_schema = {
        "description": (ExplanationQuality.__doc__ or "").strip(),
        "type": "object",
        "properties": block.get("properties", {}),
        "additionalProperties": False,
    }
    defs = schema.setdefault("$defs", {})
    defs.update({k: v for k, v in block.get("$defs", {}).items() if k not in defs})
    defs["ExplanationQuality"] = block_schema
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "AuditResult"
    schema["x-version"] = SCHEMA_VERSION
    return schema


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _field_names(kind: type[Any]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(kind))
    return names


def _plain(obj: Any) -> Any:
    """JSON-ready data of ``obj``: dataclasses as dicts of their fields, tuples as lists,
    non-finite floats as None (what ``asdict`` then a clean-up pass gave, in one pass)."""
    if obj is None or isinstance(obj, str | bool | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if is_dataclass(obj) and not isinstance(obj, type):
        return {name: _plain(getattr(obj, name)) for name in _field_names(type(obj))}
    return obj

