"""Each finding's evidence (issue 21, item 4): what a reader needs to check a verdict.

For every finding of an audit: the metric rows it judged (an anchor to the group's row in
the results tables of the audit page), the charts that draw those metrics, the evidence
values it read (attested in the workspace, with who, when and the document's digest, or
given in the spec, or still open), and the rule itself (citation, what it checks, a link
to the policy catalogue).

Which metrics and evidence keys a rule reads is taken from the rule's own check (every
metric name and ``evidence.KEY`` fact it mentions), so a new rule needs no entry here.
Pure functions over the result and the report's tables; the page and the API call them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any, Literal

from auditor.policy.describe import describe
from auditor.policy.schema import Rule
from auditor.report.tables import AttributeTable, Family, short_label
from auditor.result import AuditResult, Finding

EvidenceKind = Literal["metric_row", "chart", "attestation", "spec_evidence", "open", "rule"]

_KIND_ORDER = ("metric_row", "chart", "attestation", "spec_evidence", "open", "rule")
_EVIDENCE_FACT = re.compile(r"\bevidence\.([A-Za-z0-9_]+)")
_NOT_ID = re.compile(r"[^a-z0-9]+")
MAX_METRIC_LINKS = 8
"""Links to metric rows shown for one row of a condensed run of scopes (the rest: a count)."""


@dataclass(frozen=True)
class EvidenceLink:
    """One piece of evidence behind a finding: a link (``href``, a fragment of the audit
    page or a site path) and/or the facts it stands for (``detail``)."""

    kind: EvidenceKind
    label: str
    href: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, page: str) -> dict[str, Any]:
        """The API form: fragments made absolute against the audit page ``page``."""
        out = asdict(self)
        if self.href is not None and self.href.startswith("#"):
            out["href"] = page + self.href
        return out


def row_anchor(table_anchor: str, first_metric: str, group: str) -> str:
    """The HTML id of ``group``'s row in the table of ``table_anchor`` whose first column
    is ``first_metric`` (each metric heads at most one table of an attribute, so the id
    is unique on the page). The results template calls this too."""
    slug = _NOT_ID.sub("-", group.lower()).strip("-") or "group"
    return f"{table_anchor}-{first_metric.replace('_', '-')}-{slug}"


def figure_anchor(table_anchor: str, index: int) -> str:
    """The HTML id of the ``index``-th (1-based) chart of a results table."""
    return f"{table_anchor}-fig-{index}"


@cache
def _shipped_rules() -> dict[tuple[str, str], Rule]:
    from auditor.policy import available_packs, load_packs

    return {(p.meta.id, r.id): r for p in load_packs(available_packs()) for r in p.rules}


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _strings(value)


def rule_reads(rule: Rule, metrics: Iterable[str]) -> tuple[list[str], list[str]]:
    """The metrics (of those in ``metrics``) and the evidence keys ``rule``'s check names."""
    words = list(_strings(rule.check.model_dump()))
    known = set(metrics)
    read_metrics = sorted({w for w in words if w in known})
    keys = sorted({k for w in words for k in _EVIDENCE_FACT.findall(w)})
    return read_metrics, keys


def _family_showing(table: AttributeTable, metric: str) -> Family | None:
    """The printed table of ``table`` that holds ``metric``'s column (a family left out as
    a duplicate points to the one it repeats)."""
    families = table.families
    for fam in families:
        if any(c.metric == metric for c in fam.columns):
            if fam.same_as is None:
                return fam if fam.key != "other" else _compact_part(table, metric)
            return next(
                (
                    f
                    for f in families
                    if f.same_as is None and any(c.metric == fam.same_as for c in f.columns)
                ),
                None,
            )
    return _compact_part(table, metric)


def _compact_part(table: AttributeTable, metric: str) -> Family | None:
    return next(
        (f for f in table.other_families if any(c.metric == metric for c in f.columns)), None
    )


def _metric_links(
    finding: Finding, metrics: list[str], tables: dict[str, AttributeTable]
) -> list[EvidenceLink]:
    attribute, sep, group = finding.scope.partition("=")
    table = tables.get(attribute) if sep else None
    if table is None or not metrics:
        return []
    row = next((r for r in table.rows if r.group == group), None)
    if row is None:
        return []
    links: list[EvidenceLink] = []
    seen: set[str] = set()
    for metric in metrics:
        rec = row.cells.get(metric)
        fam = _family_showing(table, metric)
        if rec is None or fam is None or not fam.shows(row):
            continue
        href = "#" + row_anchor(table.anchor, fam.columns[0].metric, row.group)
        detail = {
            "attribute": attribute,
            "group": group,
            "metric": metric,
            "value": rec.value,
            "ci_low": rec.ci_low,
            "ci_high": rec.ci_high,
            "n": rec.n,
            "reference": rec.reference,
        }
        label = f"{short_label(metric)} of {group} ({attribute})"
        links.append(EvidenceLink("metric_row", label, href if href not in seen else None, detail))
        seen.add(href)
    charts = [
        EvidenceLink(
            "chart",
            f"Figure {fig.number}" if fig.number else f"chart {i} of {table.name}",
            "#" + figure_anchor(table.anchor, i),
            {"attribute": attribute, "metrics": list(fig.metrics)},
        )
        for i, fig in enumerate(table.figures, start=1)
        if set(fig.metrics) & set(metrics)
    ]
    return links + charts


def _evidence_links(result: AuditResult, keys: list[str]) -> list[EvidenceLink]:
    attested: dict[str, list[Any]] = {}
    for a in result.attested:
        attested.setdefault(a.key, []).append(a)
    given = result.spec.get("evidence") or {}
    links = []
    for key in keys:
        if key in attested:
            for a in attested[key]:
                doc = f", document {a.document_name}" if a.document_name else ""
                links.append(
                    EvidenceLink(
                        "attestation",
                        f"{key} = {a.value} attested by {a.by} at {_minute(a.at)}{doc}",
                        "#attested-evidence",
                        {
                            "key": key,
                            "value": a.value,
                            "by": a.by,
                            "at": a.at,
                            "attestation_id": a.attestation_id,
                            "document_name": a.document_name,
                            "document_sha256": a.document_sha256,
                        },
                    )
                )
        elif isinstance(given, dict) and key in given:
            links.append(
                EvidenceLink(
                    "spec_evidence",
                    f"{key} given in the audit spec",
                    None,
                    {"key": key, "value": given[key]},
                )
            )
        else:
            links.append(
                EvidenceLink("open", f"{key}: not attested yet", "#attest-form", {"key": key})
            )
    return links


def _minute(at: str) -> str:
    """An ISO 8601 UTC time to the minute, as the pages print times."""
    return f"{at[:16].replace('T', ' ')} UTC" if len(at) >= 16 and at[10] == "T" else at


def _rule_link(finding: Finding, rule: Rule | None) -> EvidenceLink:
    detail: dict[str, Any] = {
        "rule_id": finding.rule_id,
        "pack": finding.pack,
        "citation": finding.citation,
        "verification": finding.verification,
        "verified_source": finding.verified_source,
    }
    if rule is not None:
        detail["title"] = rule.title
        detail["checks"] = describe(rule)
        href: str | None = f"/policies#rule-{rule.id}"
    else:  # an organisation's own pack: the finding's citation is all the store holds
        href = None
    # the citation itself is printed beside the rule id; the link leads to the rule's text
    return EvidenceLink("rule", "rule text and citation", href, detail)


def finding_evidence(
    result: AuditResult, tables: list[AttributeTable]
) -> dict[str, list[EvidenceLink]]:
    """Evidence per finding, keyed by :func:`finding_key`."""
    rules = _shipped_rules()
    by_name = {t.name: t for t in tables}
    present = {m.metric for m in result.metrics}
    out: dict[str, list[EvidenceLink]] = {}
    for f in result.findings:
        rule = rules.get((f.pack, f.rule_id))
        metrics, keys = rule_reads(rule, present) if rule is not None else ([], [])
        links = _metric_links(f, metrics, by_name)
        links += _evidence_links(result, keys)
        links.append(_rule_link(f, rule))
        out[finding_key(f)] = links
    return out


@dataclass(frozen=True)
class EvidenceIndex:
    """The evidence of an audit's findings, as the page's templates read it."""

    links: dict[str, list[EvidenceLink]]

    def of(self, findings: Iterable[Finding]) -> list[EvidenceLink]:
        """The evidence of one finding, or of a condensed run of one rule's scopes: each
        link once, at most :data:`MAX_METRIC_LINKS` metric rows (then a count)."""
        out: list[EvidenceLink] = []
        seen: set[tuple[str, str, str | None]] = set()
        rows = 0
        for f in findings:
            for link in self.links.get(finding_key(f), []):
                if (link.kind, link.label, link.href) in seen:
                    continue
                seen.add((link.kind, link.label, link.href))
                if link.kind == "metric_row":
                    rows += 1
                    if rows > MAX_METRIC_LINKS:
                        continue
                out.append(link)
        if rows > MAX_METRIC_LINKS:
            more = rows - MAX_METRIC_LINKS
            out.append(EvidenceLink("metric_row", f"{more} more group row(s) in section 4"))
        order = list(_KIND_ORDER)
        return sorted(out, key=lambda link: order.index(link.kind))


def finding_key(f: Finding) -> str:
    """The key of a finding in :func:`finding_evidence` (rule and scope are unique)."""
    return f"{f.rule_id}|{f.scope}"


def page_tables(result: AuditResult) -> list[AttributeTable]:
    """The results tables with their charts, numbered as the audit page numbers them
    (for the API, which renders no page)."""
    from auditor.report.context import build_context

    tables: list[AttributeTable] = build_context(result)["tables"]
    return tables
