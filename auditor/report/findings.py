"""Findings per policy pack, with long runs of one rule condensed into one row.

A pack can check the same rule for dozens of scopes (for example a proxy rule for every
feature × attribute pair, or a documentation rule for every element it asks for). Failed,
warned and insufficient-evidence findings are always shown one per row; a rule met, not
applicable or awaiting attestation for more than :data:`CONDENSE_AT` scopes becomes one row
that still lists every scope (with its observed value where there is one), so no scope or
number is dropped. A condensed row of findings that need attestation also keeps every
message, since the message says what to supply: once when all scopes share it (a leading
scope written as ``[scope]``), else beside each scope; a condensed row of met checks shows
one example message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.report.filters import observed as fmt_observed
from auditor.result import FINDING_STATUSES, AuditResult, Finding

CONDENSE_AT = 3
CONDENSABLE = frozenset({"pass", "not_applicable", "needs_attestation"})
# Statuses whose condensed row lists every distinct message, not one example.
ALL_MESSAGES = frozenset({"needs_attestation"})
LONG_OBSERVED = 24
SCOPE_MARK = "[scope]"


@dataclass
class FindingRow:
    """One row of a pack's findings table: one finding, or a condensed run of one rule."""

    findings: list[Finding]

    @property
    def first(self) -> Finding:
        """The finding whose rule, title and citation the row shows."""
        return self.findings[0]

    @property
    def condensed(self) -> bool:
        """Whether this row stands for several scopes of one rule."""
        return len(self.findings) > 1

    @property
    def long_observed(self) -> bool:
        """Whether the observed value is text too long for its column (shown with the message)."""
        value = self.first.observed
        return not self.condensed and isinstance(value, str) and len(value) > LONG_OBSERVED

    @property
    def observed_range(self) -> str:
        """For a condensed row: the lowest and highest numeric observed values."""
        numbers = [f.observed for f in self.findings if isinstance(f.observed, int | float)]
        if not numbers:
            return "—"
        low, high = min(numbers), max(numbers)
        return fmt_observed(low) if low == high else f"{fmt_observed(low)}–{fmt_observed(high)}"

    @property
    def any_observed(self) -> bool:
        """Whether any finding of the row has an observed value (else only scopes are listed)."""
        return any(f.observed is not None for f in self.findings)

    @property
    def threshold(self) -> float | str | None:
        """The threshold shared by all findings of the row (``"varies"`` if they differ)."""
        values = {f.threshold for f in self.findings}
        return self.first.threshold if len(values) == 1 else "varies"

    @property
    def rule_key(self) -> tuple[object, ...]:
        """What the rule cell shows besides the status: a row whose rule cell would repeat
        the row above's word for word shows only its status and rule id."""
        f = self.first
        return (
            f.rule_id,
            f.title,
            f.citation,
            f.verification,
            f.basis,
            f.rule_status,
            f.kind,
            f.severity,
        )

    @property
    def all_messages(self) -> bool:
        """Whether the condensed row lists every distinct message (else one example)."""
        return self.first.status in ALL_MESSAGES

    @property
    def messages(self) -> list[str]:
        """The distinct messages of the row in first-seen order (a leading scope as ``[scope]``)."""
        seen: dict[str, None] = {}
        for f in self.findings:
            rest = _without_scope(f)
            seen.setdefault(f.message if rest == f.message else f"{SCOPE_MARK}: {rest}", None)
        return list(seen)

    @property
    def per_scope_messages(self) -> bool:
        """Whether each scope is listed with its own message (the messages of a condensed
        row that lists every message differ beyond the scope, e.g. in a number)."""
        return self.all_messages and len(self.messages) > 1

    @property
    def scope_messages(self) -> list[tuple[Finding, str]]:
        """Each finding with its message, a leading ``scope: `` removed."""
        return [(f, _without_scope(f)) for f in self.findings]


def _without_scope(f: Finding) -> str:
    """``f.message`` without a leading ``"<scope>: "`` (unchanged if there is none)."""
    prefix = f"{f.scope}: "
    if f.scope and f.message.startswith(prefix):
        return f.message[len(prefix) :]
    return f.message


@dataclass
class PackFindings:
    """The findings of one policy pack, as table rows."""

    pack: str
    version: str | None
    rows: list[FindingRow] = field(default_factory=list)
    not_applicable: list[Finding] = field(default_factory=list)
    """Rules that did not reach this audit, listed in one line under the table (their
    citation is in the rule catalogue): a full row each cost the demo report a page."""

    @property
    def count(self) -> int:
        """How many findings the pack produced."""
        return sum(len(r.findings) for r in self.rows) + len(self.not_applicable)


def _run_key(f: Finding) -> tuple[str, ...]:
    """Findings that may share a row: same rule, status, severity, title and citation."""
    return (f.rule_id, f.status, f.severity, f.title, f.citation)


def condense(findings: list[Finding]) -> list[FindingRow]:
    """``findings`` as rows: long runs of a condensable rule share one row, placed where the
    run's first finding was; rows ordered by status (stable within a status)."""
    order = {s: i for i, s in enumerate(FINDING_STATUSES)}
    runs: dict[tuple[str, ...], list[Finding]] = {}
    for f in findings:
        if f.status in CONDENSABLE:
            runs.setdefault(_run_key(f), []).append(f)
    placed: set[tuple[str, ...]] = set()
    rows: list[FindingRow] = []
    for f in findings:
        key = _run_key(f)
        if key in runs and len(runs[key]) > CONDENSE_AT:
            if key not in placed:
                placed.add(key)
                rows.append(FindingRow(runs[key]))
        else:
            rows.append(FindingRow([f]))
    rows.sort(key=lambda r: order.get(r.first.status, len(order)))
    return rows


def build_packs(result: AuditResult) -> list[PackFindings]:
    """Findings grouped by pack (in first-seen order), status order within each pack."""
    by_pack: dict[str, list[Finding]] = {}
    for f in result.findings:
        by_pack.setdefault(f.pack, []).append(f)
    return [
        PackFindings(pack, result.provenance.policy_packs.get(pack), condense(findings))
        for pack, findings in by_pack.items()
    ]


# Findings shown once per scope in the "by group" table (section 6.1) instead of in each
# pack's table: one group failed by a UGESP rule, warned by Illinois and by the AAA pack is
# one row group with three rules, not three rows in three places.
ACTION_STATUSES = ("fail", "warn", "insufficient_evidence")


@dataclass
class ScopeFindings:
    """Every failed, warned or insufficient-evidence finding of one scope, across packs."""

    scope: str
    n: int | None
    findings: list[Finding]

    @property
    def worst(self) -> str:
        """The most serious status among the scope's findings."""
        return min((f.status for f in self.findings), key=ACTION_STATUSES.index)


def build_by_scope(result: AuditResult) -> list[ScopeFindings]:
    """The action findings grouped by scope: failed scopes first, then warned, then those
    with too little data; within a status in first-seen order."""
    sizes = {f"{g.attribute}={g.group}": g.n for g in result.dataset.groups}
    by: dict[str, list[Finding]] = {}
    for f in result.findings:
        if f.status in ACTION_STATUSES:
            by.setdefault(f.scope, []).append(f)
    rows = [
        ScopeFindings(
            scope, sizes.get(scope), sorted(fs, key=lambda f: ACTION_STATUSES.index(f.status))
        )
        for scope, fs in by.items()
    ]
    rows.sort(key=lambda r: ACTION_STATUSES.index(r.worst))
    return rows


def build_other_packs(result: AuditResult) -> list[PackFindings]:
    """Like :func:`build_packs`, without the action findings (those are in the by-group
    table); a pack with only action findings keeps an empty entry, so every pack is named.
    Findings of rules that do not apply are kept apart (:attr:`PackFindings.not_applicable`)."""
    by_pack: dict[str, list[Finding]] = {}
    for f in result.findings:
        by_pack.setdefault(f.pack, [])
        if f.status not in ACTION_STATUSES:
            by_pack[f.pack].append(f)
    return [
        PackFindings(
            pack,
            result.provenance.policy_packs.get(pack),
            condense([f for f in findings if f.status != "not_applicable"]),
            [f for f in findings if f.status == "not_applicable"],
        )
        for pack, findings in by_pack.items()
    ]
