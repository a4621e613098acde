"""ECOA / Regulation B prohibited bases: features that may never be stated as a reason.

12 CFR 1002.2(z) and the ECOA notice (1002.9(b)(1)) name the prohibited bases: race,
color, religion, national origin, sex, marital status, age (the applicant having the
capacity to contract), receipt of public assistance income, and the good-faith exercise
of a right under the Consumer Credit Protection Act. A credit letter stating one of
them as a reason for declining would state discrimination on its face, so:

- the spec maps the model's features to the bases they carry or stand in for
  (``letters.prohibited_bases: {marital_status: marital_status, relationship:
  marital_status, native_country: national_origin}``; ``none`` declares that a feature
  whose name looks like one is not);
- at spec validation, a credit spec whose features' names look like a basis
  (:func:`suggestions`) and are not mapped is refused, with advice;
- when letters are issued, a letter whose principal reason is a mapped feature is blocked
  with a message naming the feature and its basis, and a lesser reason on a basis is left
  out of the letter (recorded as ``withheld_reasons``, never printed).

Age: 1002.6(b)(2)(ii) lets an empirically derived, demonstrably and statistically sound
credit scoring system use age as a predictive variable, provided the age of an elderly
applicant is not assigned a negative factor or value. With ``letters.age_scoring_6b2:
true`` (the organisation's statement that its system is such a system) a feature mapped
to ``age`` may be stated, except for an applicant aged 62 or older, or when the value
does not show the age (a band, missing): then it is treated as any other basis.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

__all__ = [
    "BASIS_NAMES",
    "ELDERLY_AGE",
    "Basis",
    "basis_text",
    "stated_age_permitted",
    "suggestions",
]


Basis = Literal[
    "race",
    "color",
    "religion",
    "national_origin",
    "sex",
    "marital_status",
    "age",
    "public_assistance",
    "ccpa_rights",
    "none",
]
BASIS_NAMES: dict[str, str] = {
    "race": "race",
    "color": "color",
    "religion": "religion",
    "national_origin": "national origin",
    "sex": "sex",
    "marital_status": "marital status",
    "age": "age",
    "public_assistance": "receipt of public assistance income",
    "ccpa_rights": "exercise of rights under the Consumer Credit Protection Act",
}
ELDERLY_AGE = 62  # Regulation B's "elderly" applicant

# name tokens that suggest a basis (the feature's name split on non-letters and camelCase)
_HINTS: dict[str, tuple[str, ...]] = {
    "race": ("race", "racial", "ethnic", "ethnicity"),
    "color": ("color", "colour", "skin"),
    "religion": ("religion", "religious", "faith", "church"),
    "national_origin": (
        "nationality",
        "national",
        "native",
        "country",
        "citizen",
        "citizenship",
        "immigrant",
        "immigration",
        "birthplace",
        "origin",
        "language",
    ),
    "sex": ("sex", "gender", "female", "male", "pregnant", "pregnancy", "maiden"),
    "marital_status": (
        "marital",
        "married",
        "spouse",
        "husband",
        "wife",
        "relationship",
        "widowed",
        "divorced",
        "partner",
    ),
    "age": ("age", "dob", "birth", "birthdate", "born", "elderly", "senior", "retired"),
    "public_assistance": (
        "welfare",
        "assistance",
        "snap",
        "tanf",
        "medicaid",
        "ssi",
        "benefits",
        "foodstamps",
    ),
    "ccpa_rights": ("ccpa", "dispute", "complaint"),
}


def _tokens(name: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return {t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t}


def suggestions(features: Iterable[str], mapped: Mapping[str, str]) -> list[tuple[str, str]]:
    """(feature, basis) for each feature whose name looks like a prohibited basis and is
    not in ``mapped`` (the spec's ``prohibited_bases``)."""
    out = []
    for feature in features:
        if feature in mapped:
            continue
        words = _tokens(feature)
        for basis, hints in _HINTS.items():
            if words.intersection(hints):
                out.append((feature, basis))
                break
    return out


def stated_age_permitted(value: Any) -> bool:
    """Under 1002.6(b)(2)(ii): whether an age value may count against this applicant
    (a number below the elderly age; anything else is not known to be)."""
    try:
        age = float(value)
    except (TypeError, ValueError):
        return False
    return age == age and age < ELDERLY_AGE


def basis_text(basis: str) -> str:
    """The basis as the ECOA notice words it."""
    return BASIS_NAMES.get(basis, basis)
