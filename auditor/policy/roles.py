"""Legal categories as roles: which protected category a grouping carries, whatever its name.

Laws name categories (LL144: sex, race/ethnicity and their intersection; GDPR Art. 9:
racial or ethnic origin, health, ...), while data names columns (``gender``, ``race``,
``ethnicity_code``). A spec declares the category of each protected column
(``{column: gender, category: sex}``); an older spec's column names imply it (``sex`` and
``gender`` carry sex, ``race`` / ``ethnicity`` / ``race_ethnicity`` carry race_ethnicity,
``age`` / ``age_band`` carry age). Rules ask for categories, never for column names, and an
intersection is the unordered set of its parts' categories.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

CATEGORY_LABELS: dict[str, str] = {
    "sex": "sex",
    "race_ethnicity": "race/ethnicity",
    "age": "age",
    "disability": "disability",
    "religion": "religion or belief",
    "national_origin": "national origin",
    "color": "colour",
    "marital_status": "marital status",
    "sexual_orientation": "sexual orientation",
    "gender_identity": "gender identity",
    "pregnancy": "pregnancy",
    "genetic_information": "genetic information",
    "health": "health",
    "political_opinion": "political opinion",
    "trade_union": "trade-union membership",
    "biometric": "biometric data",
    "public_assistance": "receipt of public assistance",
    "veteran_status": "veteran status",
    "other": "other",
}
# GDPR Art. 9(1): the special categories (sex and age are not among them)
GDPR_ART9 = frozenset(
    {
        "race_ethnicity",
        "political_opinion",
        "religion",
        "trade_union",
        "genetic_information",
        "biometric",
        "health",
        "sexual_orientation",
    }
)
# name tokens that imply a category when the spec declares none (whole tokens only:
# "trace_id" is not race, "page" is not age)
_NAME_HINTS: dict[str, str] = {
    "sex": "sex",
    "gender": "sex",
    "race": "race_ethnicity",
    "ethnicity": "race_ethnicity",
    "ethnic": "race_ethnicity",
    "age": "age",
    "disability": "disability",
    "disabled": "disability",
    "religion": "religion",
    "marital": "marital_status",
    "nationality": "national_origin",
    "origin": "national_origin",
    "colour": "color",
    "color": "color",
    "veteran": "veteran_status",
    "pregnancy": "pregnancy",
    "health": "health",
}
INTERSECTION_SEP = " & "


def category_from_name(column: str) -> str | None:
    """The category a column's name implies, or None (``race_ethnicity`` -> race_ethnicity)."""
    tokens = [t for t in re.split(r"[^a-z]+", column.lower()) if t]
    if "race" in tokens or "ethnicity" in tokens:
        return "race_ethnicity"
    return next((_NAME_HINTS[t] for t in tokens if t in _NAME_HINTS), None)


def grouping_categories(
    attributes: Iterable[str],
    intersections: Iterable[Iterable[str]],
    declared: Mapping[str, str],
) -> dict[str, frozenset[str]]:
    """Grouping name -> the categories it carries (an intersection: its parts' union).

    ``declared`` maps a column to its category as the spec declares it; other columns
    take the category their name implies, or none.
    """

    def one(column: str) -> str | None:
        return declared.get(column) or category_from_name(column)

    out: dict[str, frozenset[str]] = {}
    for a in attributes:
        c = one(a)
        out[a] = frozenset({c} if c else ())
    for combo in intersections:
        parts = list(combo)
        cats = [one(p) for p in parts]
        known = frozenset(c for c in cats if c)
        # an intersection carries a set of categories only if each part carries one
        out[INTERSECTION_SEP.join(parts)] = known if len(known) == len(parts) else frozenset()
    return out


def categories_by_name(groupings: Iterable[str]) -> dict[str, frozenset[str]]:
    """Categories implied by grouping names alone (fixtures, results stored before roles)."""
    out: dict[str, frozenset[str]] = {}
    for g in groupings:
        parts = g.split(INTERSECTION_SEP)
        cats = [category_from_name(p) for p in parts]
        known = frozenset(c for c in cats if c)
        out[g] = known if len(known) == len(parts) else frozenset()
    return out


def wanted_categories(required: str) -> frozenset[str]:
    """The category set a rule's grouping names (``sex & race_ethnicity``, any order)."""
    return frozenset(p.strip() for p in required.split("&") if p.strip())


def find_grouping(required: str, categories: Mapping[str, frozenset[str]]) -> str | None:
    """The audit grouping that carries exactly the categories ``required`` names."""
    want = wanted_categories(required)
    for name, cats in categories.items():
        if cats == want and len(name.split(INTERSECTION_SEP)) == len(want):
            return name
    return None


def describe_categories(cats: Iterable[str]) -> str:
    """Human-readable categories, e.g. ``sex × race/ethnicity``."""
    return " × ".join(CATEGORY_LABELS.get(c, c) for c in sorted(cats)) or "no legal category"
