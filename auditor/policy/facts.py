"""The named facts rules are checked against; the pipeline builds them, rules read them.

Facts are of three kinds (the check language may name nothing else):

- scalars (``SCALARS``): ``domain``, ``audit_date``, attribution quality, ...;
- ``evidence.<key>[.<key>...]``: what the spec attests under ``evidence`` (documents,
  processes, retention periods); the keys are the organisation's, so any name is allowed;
- collections (``COLLECTIONS``) a for-each or quantifier walks, each item a mapping with the
  fields listed: metric records, group sizes, features, proxy scores, attribution slices.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from auditor.metrics.adjusted_mean import DIRECTION_FLAG, outcome_of
from auditor.metrics.adjusted_mean import METRIC as ADJUSTED_MEAN
from auditor.policy.verdict import RATIO_METRICS, RatioVerdicts, VerdictRule, ratio_verdicts
from auditor.result import AttributionSummary, GroupCount, MetricRecord, ProxyScore

DEFAULT_LINE = 0.8  # the line the metrics collection's verdict fields are taken at
ADJUSTED_MEAN_PREFIX = f"{ADJUSTED_MEAN}:"
RESIDUAL_SMD_PREFIX = "residual_smd:"

SCALARS = frozenset(
    {
        "domain",
        "audit_date",
        "min_group_size",
        "groupings",
        "intersections",
        "feature_names",
        "attributions.computed",
        "attributions.method",
        "attributions.additivity_error",
        "attributions.tolerance",
        "attributions.n_explained",
    }
)
OPEN_ROOTS = frozenset({"evidence"})
COLLECTIONS: dict[str, frozenset[str]] = {
    "metrics": frozenset(
        {
            "attribute",
            "group",
            "metric",
            "value",
            "n",
            "count",
            "ci_low",
            "ci_high",
            "p_value",
            "p_value_adjusted",
            "reference",
            "flags",
            "shortfall",
            "flip_test",
            "intersection",
            # the legal categories the record's grouping carries (sorted; e.g. ["age"]), so
            # a rule can leave out the categories its instrument does not reach
            "categories",
            # the verdict rule's decision at DEFAULT_LINE (ratio records; else absent):
            # below_line is what a ratio_threshold fail needs, p_below_line its deciding p
            "below_line",
            "p_below_line",
            # outcome records (columns.outcomes): the outcome column, the direction the
            # spec says harms the applicant (higher | lower; absent when not stated), and
            # for an adjusted mean difference the same group's residual SMD of that
            # outcome (its effect size in standard deviations; absent without controls)
            "outcome",
            "unfavorable",
            "residual_smd",
        }
    ),
    "groups": frozenset({"attribute", "group", "n", "share", "unknown"}),
    "features": frozenset({"name", "importance", "importance_share"}),
    "proxies": frozenset({"feature", "attribute", "measure", "value"}),
    "attribution_groups": frozenset(
        {"attribute", "group", "n", "reference", "largest_gap_feature", "largest_gap"}
    ),
    "proxy_ranking": frozenset(
        {"feature", "attribute", "group", "auc", "gap_share", "contribution", "score"}
    ),
    "items": frozenset({"name"}),
}
# metric item fields the facts compute rather than read off the record
DERIVED_METRIC_FIELDS = frozenset(
    {
        "intersection",
        "categories",
        "below_line",
        "p_below_line",
        "outcome",
        "unfavorable",
        "residual_smd",
    }
)
DEFAULT_SCOPES = {
    "metrics": "{attribute}={group}",
    "groups": "{attribute}={group}",
    "features": "feature={name}",
    "proxies": "{feature}~{attribute}",
    "attribution_groups": "{attribute}={group}",
    "proxy_ranking": "{feature}~{attribute}={group}",
    "items": "{name}",
}


@dataclass(frozen=True)
class Facts:
    """Everything a rule may look at: metrics, group sizes, features, evidence."""

    domain: str
    audit_date: date
    metrics: tuple[MetricRecord, ...]
    groups: tuple[GroupCount, ...]
    groupings: tuple[str, ...]
    intersections: tuple[str, ...]
    features: tuple[str, ...]
    attributions: AttributionSummary
    min_group_size: int
    evidence: dict[str, Any] = field(default_factory=dict)
    # issue 10: flat "explanation.fidelity.*" / "explanation.stability.*" figures
    explanation: dict[str, float] = field(default_factory=dict)
    # issue 17: the rule that turns ratio estimates into verdicts (spec key verdict)
    verdict_rule: VerdictRule = field(default_factory=VerdictRule)
    _verdicts: dict[float, RatioVerdicts] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def verdicts(self, line: float = DEFAULT_LINE) -> RatioVerdicts:
        """Evidence that each ratio is below ``line``, over the audit's family (cached)."""
        if line not in self._verdicts:
            self._verdicts[line] = ratio_verdicts(
                self.metrics, line, self.verdict_rule, self.min_group_size
            )
        return self._verdicts[line]
    # issue 18: where the decision subjects are / the organisation operates (ISO 3166 or
    # EU; empty: not given, every pack applies), whom the decisions are about (empty:
    # the domain's usual subjects), and the legal categories each grouping carries
    jurisdictions: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    categories: dict[str, frozenset[str]] = field(default_factory=dict)
    # each feature's association with the spec's geography columns (none declared: empty)
    geography_columns: tuple[str, ...] = ()
    geography: tuple[ProxyScore, ...] = ()

    def metric(self, name: str, groupings: str = "all") -> list[MetricRecord]:
        """Records of metric ``name``, for single attributes, intersections or both."""
        out = [m for m in self.metrics if m.metric == name]
        if groupings == "attributes":
            out = [m for m in out if m.attribute not in self.intersections]
        elif groupings == "intersections":
            out = [m for m in out if m.attribute in self.intersections]
        return out

    def legal_categories(self) -> dict[str, frozenset[str]]:
        """Grouping -> legal categories: as the spec declared them, else by name."""
        from auditor.policy.roles import categories_by_name

        named = categories_by_name([*self.groupings, *self.intersections])
        return {**named, **self.categories}

    def scalar(self, name: str) -> Any:
        """The value of a scalar fact (``None`` when the audit has none)."""
        a = self.attributions
        return {
            "domain": self.domain,
            "audit_date": self.audit_date,
            "min_group_size": self.min_group_size,
            "groupings": list(self.groupings),
            "intersections": list(self.intersections),
            "feature_names": list(self.features),
            "attributions.computed": a.computed,
            "attributions.method": a.method,
            "attributions.additivity_error": a.additivity_error,
            "attributions.tolerance": a.tolerance,
            "attributions.n_explained": a.n_explained,
        }[name]

    def collection(self, name: str) -> list[dict[str, Any]]:
        """The items of a named collection, as mappings of their fields."""
        if name == "metrics":
            cats = self.legal_categories()
            effect = {
                (m.attribute, m.group, outcome_of(m.metric)): m.value
                for m in self.metrics
                if m.metric.startswith(RESIDUAL_SMD_PREFIX)
            }
            return [self._metric(m, cats, effect) for m in self.metrics]
        if name == "groups":
            return [asdict(g) for g in self.groups]
        if name == "features":
            return [self._feature(f) for f in self.features]
        a = self.attributions
        if name == "proxies":
            return [asdict(p) for p in a.proxies]
        if name == "proxy_ranking":
            return [asdict(p) for p in a.proxy_ranking]
        if name == "attribution_groups":
            out = []
            for g in a.groups:
                worst = min(g.gap, key=lambda k: g.gap[k], default=None)
                out.append(
                    {
                        "attribute": g.attribute,
                        "group": g.group,
                        "n": g.n,
                        "reference": g.reference,
                        "largest_gap_feature": worst,
                        "largest_gap": None if worst is None else g.gap[worst],
                    }
                )
            return out
        raise KeyError(name)

    def _metric(
        self,
        m: MetricRecord,
        cats: dict[str, frozenset[str]],
        effect: dict[tuple[str, str, str | None], float | None],
    ) -> dict[str, Any]:
        own = COLLECTIONS["metrics"] - DERIVED_METRIC_FIELDS
        item = {
            **{k: getattr(m, k) for k in own},
            "flags": list(m.flags),
            "intersection": m.attribute in self.intersections,
            "categories": sorted(cats.get(m.attribute, frozenset())),
        }
        outcome = outcome_of(m.metric)
        if outcome is not None:
            item["outcome"] = outcome
            stated = [
                f.removeprefix(DIRECTION_FLAG) for f in m.flags if f.startswith(DIRECTION_FLAG)
            ]
            item["unfavorable"] = stated[0] if stated else None
            if m.metric.startswith(ADJUSTED_MEAN_PREFIX):
                item["residual_smd"] = effect.get((m.attribute, m.group, outcome))
        if m.metric in RATIO_METRICS:
            v = self.verdicts()
            ev = v.evidence.get((m.attribute, m.metric, m.group))
            # below_line: both prongs of the verdict rule, as a ratio_threshold fail needs
            # them (evidence, and not hanging on one person: the flip test)
            if self.verdict_rule.name == "raw_p":
                item["below_line"] = (
                    m.value is not None
                    and m.value < v.line
                    and m.p_value is not None
                    and m.p_value < self.verdict_rule.alpha
                    and not m.flip_test
                )
                item["p_below_line"] = None  # the raw two-sided p_value decides
            elif m.value is not None and m.value >= v.line:
                item["below_line"] = False
                item["p_below_line"] = ev.p_adjusted if ev is not None else None
            elif ev is not None:  # below the line: the evidence decides
                item["below_line"] = ev.p_adjusted < self.verdict_rule.alpha and not m.flip_test
                item["p_below_line"] = ev.p_adjusted
        return item

    def _feature(self, name: str) -> dict[str, Any]:
        imp = self.attributions.global_importance if self.attributions.computed else {}
        total = sum(imp.values())
        # encoded columns (one-hot 'f=a', 'f_a') count towards their source feature
        value = sum(v for k, v in imp.items() if k == name or k.startswith((name + "=",)))
        known = bool(imp)
        return {
            "name": name,
            "importance": value if known else None,
            "importance_share": (value / total) if known and total > 0 else None,
        }
