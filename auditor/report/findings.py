"""Findings per policy pack, with long runs of met checks condensed into one row.

A pack can check the same rule for dozens of scopes (for example a proxy rule for every
feature × attribute pair). Findings that need attention are always shown one per row; a rule
met (or not applicable) for more than :data:`CONDENSE_AT` scopes becomes one row that
still lists every scope with its observed value, so no number is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.report.filters import observed as fmt_observed
from auditor.result import FINDING_STATUSES, AuditResult, Finding

CONDENSE_AT = 3
CONDENSABLE = frozenset({"pass", "not_applicable"})
LONG_OBSERVED = 24


@dataclass
class FindingRow:
    """One row of a pack's findings table: one finding, or a condensed run of met ones."""

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
    def threshold(self) -> float | str | None:
        """The threshold shared by all findings of the row (``"varies"`` if they differ)."""
        values = {f.threshold for f in self.findings}
        return self.first.threshold if len(values) == 1 else "varies"


@dataclass
class PackFindings:
    """The findings of one policy pack, as table rows."""

    pack: str
    version: str | None
    rows: list[FindingRow] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many findings the pack produced."""
        return sum(len(r.findings) for r in self.rows)


def build_packs(result: AuditResult) -> list[PackFindings]:
    """Findings grouped by pack (in first-seen order), status order within each pack."""
    order = {s: i for i, s in enumerate(FINDING_STATUSES)}
    by_pack: dict[str, list[Finding]] = {}
    for f in result.findings:
        by_pack.setdefault(f.pack, []).append(f)
    packs = []
    for pack, findings in by_pack.items():
        entry = PackFindings(pack, result.provenance.policy_packs.get(pack))
        runs: dict[tuple[str, str], list[Finding]] = {}
        for f in findings:
            if f.status in CONDENSABLE:
                runs.setdefault((f.rule_id, f.status), []).append(f)
        placed: set[tuple[str, str]] = set()
        rows: list[FindingRow] = []
        for f in findings:
            key = (f.rule_id, f.status)
            if key in runs and len(runs[key]) > CONDENSE_AT:
                if key not in placed:
                    placed.add(key)
                    rows.append(FindingRow(runs[key]))
            else:
                rows.append(FindingRow([f]))
        rows.sort(key=lambda r: order.get(r.first.status, len(order)))
        entry.rows = rows
        packs.append(entry)
    return packs
