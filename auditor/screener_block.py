"""The screener block of an :class:`~auditor.result.AuditResult` (issue 23), typed.

A screener audit's standard tables (selection rates, impact ratios, the LL144 preset)
come from the variants it scored, through the ordinary decisions path; this block adds
what only a paired design shows: the within-application effect of each probe, with
intervals, and the record of what was asked of the screener and what it answered.
A stage type on the bottom floor: it imports nothing from auditor. Results without a
screener have no block (the JSON key is left out, so their digests do not change).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class PairedEffectRecord:
    """One contrast of one probe: the group's variants against the reference group's,
    within the same applications (score units of the screener)."""

    probe: str
    attribute: str
    group: str
    reference: str
    applications: int
    mean_difference: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str
    selection_rate_difference: float | None = None
    # the interval (simultaneous over every contrast of the audit) excludes zero
    finding: bool = False


@dataclass(frozen=True)
class ScreenerRecord:
    """What was called and what it said: the target's identity (function, URL and model,
    prompt template, file digest), call counts and the SHA-256 of every reply used."""

    kind: str
    identity: dict[str, Any]
    requests: int
    cache_hits: int
    retries: int
    response_digests: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScreenerSummary:
    """Paired effects of the probes, the probes' settings and the call record."""

    applications: int
    variants: int
    repeats: int
    output: str
    selection: dict[str, Any]
    probes: dict[str, tuple[str, ...]]
    alpha: float
    comparisons: int
    interval_level: float
    effects: tuple[PairedEffectRecord, ...]
    statement: str
    names_attribution: str
    record: ScreenerRecord
    tables_from: str = "name"
    consistency: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)
    # rankers (output: rank): each group's share of the top k against its share of the pool
    exposure: tuple[dict[str, Any], ...] = ()

    def findings(self) -> tuple[PairedEffectRecord, ...]:
        """The contrasts whose interval excludes zero."""
        return tuple(e for e in self.effects if e.finding)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data (tuples as lists)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScreenerSummary:
        """Rebuild the block from :meth:`to_json` output."""
        rec = data["record"]
        return cls(
            **{
                **data,
                "probes": {k: tuple(v) for k, v in data["probes"].items()},
                "effects": tuple(PairedEffectRecord(**e) for e in data["effects"]),
                "exposure": tuple(dict(e) for e in data.get("exposure", ())),
                "record": ScreenerRecord(
                    **{**rec, "response_digests": tuple(rec.get("response_digests", ()))}
                ),
            }
        )
