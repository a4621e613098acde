"""The ADEA comparison: 40 and over against under 40, as its own grouping.

The ADEA protects individuals at least 40 years of age (29 U.S.C. 631(a)); age is not a
Title VII category, so UGESP's four-fifths screen does not reach it (29 CFR 1607.2(D))
and the ``eeoc_ugesp`` pack's rule leaves every age grouping out. ADEA practice compares
those 40 and over with those under 40. A hiring audit with a protected attribute whose
legal category is ``age`` therefore gets one more grouping, ``<attribute> (ADEA)``, with
the two groups ``40 and over`` and ``under 40`` (the reference, a named control group:
the ADEA protects the older side only, so only ``40 and over`` is judged).

The grouping is formed from the age attribute's group counts, so every engine gives the
same numbers (the counts merge exactly). Each age group must lie wholly on one side of
40: a spec band, a number (ages written as whole numbers), or a text band in the data
(``25-39``, ``62 and over``, ``under 25``, ``40+``, ``<40``). A group that spans 40
stops the audit (exit 2); groups that say nothing about age in years (``young``) leave
the comparison out with a warning.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from auditor.bands import Bands
from auditor.batch import UNKNOWN
from auditor.metrics.counts import GroupCounts
from auditor.metrics.score_values import ScoreValues

ADEA_AGE = 40.0
OVER = "40 and over"
UNDER = "under 40"
SUFFIX = " (ADEA)"

_NUMBER = r"(\d+(?:\.\d+)?)"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^{_NUMBER}$"), "point"),
    (re.compile(rf"^{_NUMBER}\s*(?:-|–|to)\s*{_NUMBER}$"), "range"),
    (re.compile(rf"^{_NUMBER}\s*(?:\+|and over|and older|and above|or older|or over)$"), "from"),
    (re.compile(rf"^(?:>=|≥|at least)\s*{_NUMBER}$"), "from"),
    (re.compile(rf"^(?:under|below|less than|<)\s*{_NUMBER}$"), "below"),
]


def adea_name(attribute: str) -> str:
    """The ADEA grouping's name, e.g. ``age (ADEA)``."""
    return attribute + SUFFIX


@dataclass(frozen=True)
class AdeaPlan:
    """Which side of 40 each group of one age attribute lies on."""

    attribute: str
    side: dict[str, str]  # group -> OVER / UNDER (unknown stays unknown)

    @property
    def name(self) -> str:
        """The grouping's name."""
        return adea_name(self.attribute)


class StraddlesForty(ValueError):
    """An age group spans 40: the ADEA comparison cannot be formed from it."""


def interval(label: str, bands: Bands | None) -> tuple[float, float] | None:
    """[low, high) ages of one group label (None: the label is not an age range).

    Whole-number ages and text bands are read as ages in completed years, so ``25-39``
    is [25, 40) and ``40`` is [40, 41).
    """
    if bands is not None and label in bands.labels:
        i = bands.labels.index(label)
        edges = [-math.inf, *bands.edges, math.inf]
        return edges[i], edges[i + 1]
    text = label.strip().lower()
    for pattern, kind in _PATTERNS:
        m = pattern.match(text)
        if not m:
            continue
        a = float(m.group(1))
        if kind == "point":
            # a whole number is an age in completed years; a fraction is the age itself
            return (a, a + 1) if a.is_integer() else (a, a)
        if kind == "range":
            return a, float(m.group(2)) + 1
        if kind == "from":
            return a, math.inf
        return -math.inf, a
    return None


def side_of(label: str, bands: Bands | None) -> str | None:
    """``40 and over`` / ``under 40`` for one group (None: not an age range).

    Raises :class:`StraddlesForty` when the group has ages on both sides of 40.
    """
    if label in (OVER, UNDER):
        return label
    span = interval(label, bands)
    if span is None:
        return None
    low, high = span
    if low >= ADEA_AGE:
        return OVER
    if high <= ADEA_AGE:
        return UNDER
    raise StraddlesForty(label)


def plan(attribute: str, groups: list[str], bands: Bands | None) -> AdeaPlan | str:
    """The plan for one age attribute, or why the comparison is left out (a warning).

    Raises :class:`StraddlesForty` naming the first group that spans 40.
    """
    side: dict[str, str] = {}
    unread = []
    for g in groups:
        if g == UNKNOWN:
            continue
        s = side_of(g, bands)
        if s is None:
            unread.append(g)
        else:
            side[g] = s
    if unread:
        shown = ", ".join(f"'{g}'" for g in unread[:5])
        return (
            f"protected attribute '{attribute}' (category age): the ADEA comparison (40 and "
            f"over against under 40) was not formed: the group(s) {shown} do not say which "
            "side of 40 they are on; band the ages in the spec, e.g. protected: [{column: "
            f"{attribute}, category: age, bands: {{edges: [40], labels: ['under 40', "
            "'40 and over']}}]"
        )
    if OVER not in side.values() or UNDER not in side.values():
        return (
            f"protected attribute '{attribute}' (category age): the ADEA comparison was not "
            f"formed: every known group is {next(iter(side.values()), 'unknown')}"
        )
    return AdeaPlan(attribute, side)


def merged_counts(p: AdeaPlan, counts: Mapping[str, GroupCounts]) -> dict[str, GroupCounts]:
    """The two sides' counts (and unknown's), summed from the age groups' counts."""
    out: dict[str, GroupCounts] = {}
    for group, c in counts.items():
        key = UNKNOWN if group == UNKNOWN else p.side[group]
        out[key] = out[key].merge(c) if key in out else c
    return {k: out[k] for k in sorted(out)}


def merged_score_values(
    p: AdeaPlan, values: Mapping[str, ScoreValues] | None
) -> dict[str, ScoreValues] | None:
    """The two sides' rows per distinct score (exact KS), or None when not kept."""
    if values is None:
        return None
    import numpy as np

    from auditor.metrics.score_values import split_groups

    names = sorted({UNKNOWN if g == UNKNOWN else p.side[g] for g in values})
    keys, vals, counts = [], [], []
    for group, sv in values.items():
        side = UNKNOWN if group == UNKNOWN else p.side[group]
        keys.append(np.full(len(sv.values), names.index(side), dtype=np.int64))
        vals.append(sv.values)
        counts.append(sv.counts)
    return split_groups(np.concatenate(keys), np.concatenate(vals), np.concatenate(counts), names)


def straddle_message(attribute: str, group: str) -> str:
    """The exit-2 message for a group that spans 40."""
    return (
        f"protected attribute '{attribute}' (category age): the group '{group}' has ages on "
        "both sides of 40, so the ADEA comparison (40 and over against under 40) cannot be "
        "formed; band the ages with an edge at 40 (e.g. bands: {edges: [25, 40, 62], labels: "
        "['under 25', '25-39', '40-61', '62 and over']}) or record the ages themselves"
    )


def plans(
    domain: str,
    attributes: list[str],
    categories: Mapping[str, frozenset[str]],
    bands: Mapping[str, Bands],
    groups_of: Mapping[str, list[str]],
) -> tuple[list[AdeaPlan], list[str]]:
    """The ADEA comparisons of a hiring audit, and why any age attribute has none.

    ``groups_of``: each attribute's group labels. Raises :class:`StraddlesForty` (with the
    attribute and group in its message) when an age group spans 40.
    """
    if domain != "hiring":  # the ADEA is an employment statute
        return [], []
    out: list[AdeaPlan] = []
    notes: list[str] = []
    for attr in attributes:
        if categories.get(attr) != frozenset({"age"}):
            continue
        try:
            got = plan(attr, groups_of[attr], bands.get(attr))
        except StraddlesForty as e:
            raise StraddlesForty(straddle_message(attr, str(e))) from None
        if isinstance(got, str):
            notes.append(got)
        else:
            out.append(got)
    return out, notes


def bands_problem(column: str, bands: Bands) -> str | None:
    """Why an age column's spec bands cannot give the ADEA comparison (None: they can)."""
    if ADEA_AGE in bands.edges:
        return None
    return (
        f"protected.{column}.bands: the column carries the legal category age, and in a "
        "hiring audit the ADEA comparison (40 and over against under 40) needs 40 among "
        f"the edges; the band '{_spanning(bands)}' has ages on both sides of 40 (e.g. "
        "edges: [25, 40, 62])"
    )


def _spanning(bands: Bands) -> str:
    edges = [-math.inf, *bands.edges, math.inf]
    for i, label in enumerate(bands.labels):
        if edges[i] < ADEA_AGE < edges[i + 1]:
            return label
    return bands.labels[-1]
