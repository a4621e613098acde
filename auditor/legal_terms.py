"""The legal vocabulary the spec and the policy packs share: categories and territories.

A bottom-floor module (it imports nothing of auditor), so the spec can name legal
categories and jurisdictions without importing the policy engine, which imports the
statistics that import the models that read the spec.
"""

from __future__ import annotations

import re
from typing import Literal

LegalCategory = Literal[
    "sex",
    "race_ethnicity",
    "age",
    "disability",
    "religion",
    "national_origin",
    "color",
    "marital_status",
    "sexual_orientation",
    "gender_identity",
    "pregnancy",
    "genetic_information",
    "health",
    "political_opinion",
    "trade_union",
    "biometric",
    "public_assistance",
    "veteran_status",
    "other",
]
"""A legal category a protected attribute carries (issue 18): the role a law reads."""

TERRITORY_RE = re.compile(r"^(EU|[A-Z]{2}(-[A-Z0-9]{1,3})?)$")
"""An ISO 3166-1 alpha-2 code, optionally with a subdivision (US-NY), or EU."""
