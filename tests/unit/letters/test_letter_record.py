"""The typed letter record: its JSON form (the ``--json`` contract) and its JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest

from auditor.letters.record import IssuedLetter, LetterRecord, letter_record_schema
from auditor.letters.review import hold_summary
from tests._paths import REPO

SAVED = REPO / "auditor/schemas/letter-record.schema.json"


def _record(**changes: object) -> LetterRecord:
    fields: dict[str, object] = {
        "decision_id": "A-17",
        "kind": "reg_b",
        "status": "needs_review",
        "reasons": [
            {
                "feature": "debt_ratio",
                "contribution": -0.41,
                "text": "Debt too high relative to income",
                "code": "R07",
                "features": ["debt_ratio"],
            }
        ],
        "baseline": {"kind": "cutoff", "method": "interventional_tree_shap"},
        "counterfactual": {"debt_ratio": 0.3},
        "counterfactual_note": "lower debt_ratio to 0.3",
        "sha256": "",
        "failure": None,
        "checks": [{"rule_id": "REGB-9B2", "status": "pass", "message": "ok"}],
        "review": {
            "needed": True,
            "criterion": "principal reason",
            "changed_share": 0.25,
            "near_tie": False,
            "draws": 8,
            "noise": 0.05,
            "scale": "value",
            "threshold": 0.2,
        },
        "counterfactual_detail": {"note": "", "cost": 1.0, "score": 0.52},
        "addressed": False,
        "withheld_reasons": [],
    }
    fields.update(changes)
    return LetterRecord(**fields)  # type: ignore[arg-type]


def test_json_form_keeps_the_contract_order_and_credit_only_field() -> None:
    record = _record()
    data = record.to_json()
    assert list(data)[:3] == ["decision_id", "kind", "status"]
    assert list(data)[-2:] == ["addressed", "withheld_reasons"]
    hiring = _record(kind="hiring", withheld_reasons=None)
    assert "withheld_reasons" not in hiring.to_json()
    with pytest.raises(KeyError):
        hiring["withheld_reasons"]
    # read by key as the dict form was, and immutable: the digest is a new record
    assert record["review"]["changed_share"] == 0.25
    signed = record.with_digest("ab" * 32)
    assert (record.sha256, signed.sha256) == ("", "ab" * 32)
    assert signed.with_additivity_error(0.01).baseline["additivity_error"] == 0.01
    assert not IssuedLetter(record, "<html/>", b"%PDF").issued
    summary = hold_summary([record, _record(status="issued", review=None)])
    assert (summary["reviewed"], summary["held"], summary["issued"]) == (1, 1, 1)


def test_records_match_the_saved_schema() -> None:
    assert json.loads(SAVED.read_text()) == letter_record_schema(), (
        "stale: run python scripts/generate_schemas.py"
    )
    validator = jsonschema_rs.validator_for(letter_record_schema())
    for record in (_record(), _record(kind="hiring", withheld_reasons=None, review=None)):
        assert validator.is_valid(json.loads(json.dumps(record.to_json())))
    bad = _record().to_json()
    bad["status"] = "mailed"
    assert not validator.is_valid(bad)
    del bad["status"]
    assert not validator.is_valid({**bad, "status": "issued", "reasons": [{"feature": 1}]})


@pytest.mark.parametrize(
    "ids",
    [
        ["A/17", "A_17", "A 17", "A:17"],  # one file name once unsafe characters are '_'
        ["X" * 80 + "-1", "X" * 80 + "-2"],  # equal in the 80 characters a name keeps
        ["ab12", "AB12"],  # one file on a case-insensitive file system (macOS, Windows)
    ],
    ids=["unsafe characters", "long ids", "case only"],
)
def test_every_letter_gets_its_own_file(ids: list[str], tmp_path: Path) -> None:
    """Two decisions whose ids map to one file name: the second letter silently replaced
    the first, and one person's notice was missing from the folder for the mail room."""
    from auditor.letters.output import letter_path, write_letters

    letters = [
        IssuedLetter(_record(decision_id=i, status="issued"), "<html/>", i.encode())
        for i in ids
    ]
    write_letters(letters, tmp_path, None)
    written = {p.read_bytes() for p in tmp_path.glob("*.pdf")}
    assert written == {i.encode() for i in ids}
    names = [p.name.casefold() for p in tmp_path.glob("*.pdf")]
    assert len(set(names)) == len(ids)
    # an id that is already a safe name keeps it
    assert letter_path(tmp_path, _record(decision_id="A-17")).name == "A-17-reg_b.pdf"
