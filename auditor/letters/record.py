"""The letter record: what a letter says about itself (the JSON contract of ``auditor
letters --json``, the rows of the letters table, the web API).

A frozen dataclass rather than a pydantic model: the record is built from values the
letter code has already checked, and a validating model would coerce them (an ``int``
contribution into ``1.0``), which would change the JSON that golden tests and stored
letters hold. Its JSON Schema is generated from these types
(:func:`letter_record_schema`) and kept in ``auditor/schemas/letter-record.schema.json``
(``python scripts/generate_schemas.py`` rewrites it; a test fails when it is stale).

The nested parts whose keys are fixed (reasons, checks, review) are ``TypedDict`` s: at
run time plain dicts, so the record's JSON and the stored rows stay what they were.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

LETTER_RECORD_VERSION = 1
"""Version of the record's JSON (bumped, with a reader for the old form, on any change
of a field's meaning or a removal; adding an optional field is not a change)."""

LetterStatus = Literal["issued", "needs_review", "blocked"]
JsonObject = dict[str, Any]


class ReasonRecord(TypedDict):
    """One stated reason: the reason key, its summed contribution (toward the favourable
    outcome, rounded to 6 places), the text printed, its reason code and features."""

    feature: str
    contribution: float
    text: str
    code: str | None
    features: list[str]


class CheckRecord(TypedDict):
    """One content rule applied to the letter and its outcome."""

    rule_id: str
    status: str
    message: str


class ReviewRecord(TypedDict):
    """The stability review of an adverse letter's principal reason."""

    needed: bool
    criterion: str
    changed_share: float
    near_tie: bool
    draws: int
    noise: float
    scale: str
    threshold: float
    reasons_changed_share: NotRequired[float]
    principal_margin: NotRequired[float]
    principal_lead: NotRequired[float | None]
    lead_spread: NotRequired[float | None]
    tie_spreads: NotRequired[float]
    rechecked_draws: NotRequired[int]
    measurement: NotRequired[dict[str, Any]]


@dataclass(frozen=True)
class LetterRecord:
    """One letter's record. ``withheld_reasons`` is present on credit letters only
    (the adverse factors that map to a prohibited basis, never stated)."""

    decision_id: str
    kind: str
    status: LetterStatus
    reasons: list[ReasonRecord]
    baseline: JsonObject
    counterfactual: JsonObject | None
    counterfactual_note: str
    sha256: str
    failure: str | None
    checks: list[CheckRecord]
    review: ReviewRecord | None
    counterfactual_detail: JsonObject
    addressed: bool
    withheld_reasons: list[JsonObject] | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as JSON data, keys in the contract's order (``withheld_reasons``
        only on credit letters)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if self.withheld_reasons is None:
            del out["withheld_reasons"]
        return out

    def with_digest(self, sha256: str) -> LetterRecord:
        """The record of the rendered letter (its HTML's or PDF's SHA-256)."""
        return dataclasses.replace(self, sha256=sha256)

    def with_additivity_error(self, error: float) -> LetterRecord:
        """The record with the batch's largest attribution additivity error."""
        return dataclasses.replace(self, baseline={**self.baseline, "additivity_error": error})

    # Read access by key, as when records were dicts (``record["status"]``): kept for
    # callers of the Python API written against the dict form.
    def __getitem__(self, key: str) -> Any:
        data = self.to_json()
        return data[key]

    def get(self, key: str, default: Any = None) -> Any:
        """``record.get(key)`` as on the dict form."""
        return self.to_json().get(key, default)

    def keys(self) -> Iterator[str]:
        """The JSON keys, in order."""
        return iter(self.to_json())


def letter_record_schema() -> dict[str, Any]:
    """The JSON Schema of :meth:`LetterRecord.to_json`, generated from the types."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(LetterRecord).json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "LetterRecord"
    schema["description"] = (
        f"One letter's record (auditor letters --json), version {LETTER_RECORD_VERSION}."
    )
    schema["x-version"] = LETTER_RECORD_VERSION
    return schema


@dataclass(frozen=True)
class IssuedLetter:
    """One letter: its record (the JSON contract) and, when issued, its PDF."""

    record: LetterRecord
    html: str
    pdf: bytes | None

    @property
    def issued(self) -> bool:
        """Whether the letter was issued: content checks passed and its reasons are stable
        (a letter held for review has a PDF but is not issued)."""
        return self.record.status == "issued"
