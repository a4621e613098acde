"""What each consumer's letter says: FCRA facts from the consumer's own data columns,
the Reg B notice's credit applied for, plain consumer wording, more than four reasons as
guidance, GDPR explanations for approved applicants too, the Art. 86 weight from data."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest
import yaml

from auditor.demo import DemoCase
from auditor.letters.service import IssuedLetter, issue_letters
from auditor.service import perform_audit
from auditor.store import open_store
from auditor.store.decisions import load_decisions
from tests.integration.letters.test_letters import _spec_copy

BUREAU = {
    "name": "Example Bureau",
    "address": "PO Box 1\nAtlanta, GA",
    "phone": "1-800-555-0199",
}


@pytest.fixture(scope="module")
def audit(credit_case: DemoCase, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("content")
    spec_path = _spec_copy(
        credit_case,
        tmp,
        rows=300,
        max_reasons=5,
        review={"threshold": 1.0},
        credit_applied_for="a personal instalment loan",
        supervisory_authority={"name": "Data Protection Office", "address": "1 Privacy Way"},
        consumer_report={
            "used": True,
            "agency": BUREAU,
            "score_range": [300, 850],
            "columns": {
                "used": "report_used",
                "score": "bureau_score",
                "score_date": "score_date",
                "key_factors": "key_factors",
                "third_party": "employer_check",
            },
        },
    )
    data = yaml.safe_load(spec_path.read_text())
    frame = pd.read_csv(data["data"]["path"])
    n = len(frame)
    # per consumer: integer scores (one in three without a score), own dates and factors
    frame["bureau_score"] = pd.array(
        [None if i % 3 == 0 else 520 + i for i in range(n)], dtype="Int64"
    )
    frame["score_date"] = [f"2026-11-{1 + i % 28:02d}" for i in range(n)]
    frame["key_factors"] = [f"Factor A{i}; Factor B{i}" for i in range(n)]
    frame["report_used"] = [i % 5 != 4 for i in range(n)]
    frame["employer_check"] = [i % 2 == 0 for i in range(n)]
    frame.to_csv(data["data"]["path"], index=False)
    url = f"sqlite:///{tmp / 'c.db'}"
    audit_id = perform_audit(spec_path, database_url=url).result.audit_id
    with open_store(url) as s, s.session() as session:
        stored = load_decisions(session, audit_id)
    return {"url": url, "id": audit_id, "frame": frame.set_index("applicant_id"), "stored": stored}


def _issue(audit: dict[str, Any], **kw: Any) -> list[IssuedLetter]:
    with open_store(audit["url"]) as s:
        return issue_letters(s, audit["id"], **kw)


def _ids(audit: dict[str, Any], favorable: bool, n: int) -> list[str]:
    stored = audit["stored"]
    return [d for d, f in zip(stored.ids, stored.favorable, strict=True) if f == favorable][:n]


def test_fcra_facts_are_each_consumers_own(audit: dict[str, Any]) -> None:
    letters = _issue(audit, decisions=",".join(_ids(audit, False, 15)))
    frame = audit["frame"]
    seen = {"score": 0, "no_score": 0, "no_report": 0, "third": 0}
    for lt in letters:
        row = frame.loc[lt.record["decision_id"]]
        html = lt.html
        assert lt.record["status"] != "blocked", lt.record["failure"]
        assert "Credit applied for" in html
        assert "a personal instalment loan" in html
        # plain consumer wording: no method names, no hiring wording in a credit letter
        assert "TreeSHAP" not in html
        assert "Shapley" not in html
        assert "offer of credit or employment" not in html
        assert lt.record["baseline"]["method"] == "interventional_tree_shap"
        if not row["report_used"]:
            assert "Example Bureau" not in html
            seen["no_report"] += 1
        elif pd.isna(row["bureau_score"]):
            assert "Example Bureau" in html
            assert "Your credit score" not in html
            seen["no_score"] += 1
        else:
            score_row = re.search(r"Your credit score</th><td[^>]*>([^<]*)<", html)
            assert score_row is not None
            assert score_row.group(1) == str(int(row["bureau_score"]))
            assert row["score_date"] in html
            assert row["key_factors"].split(";")[0] in html
            seen["score"] += 1
        third = "outside source other than a consumer reporting agency" in html
        assert third == bool(row["employer_check"])
        seen["third"] += third
    assert all(seen.values()), seen


def test_more_than_four_reasons_warn_not_block(audit: dict[str, Any]) -> None:
    letters = _issue(audit, decisions=",".join(_ids(audit, False, 10)))
    five = [lt for lt in letters if len(lt.record["reasons"]) == 5]
    assert five
    for lt in five:
        assert lt.record["status"] == "issued"
        rule = {c["rule_id"]: c for c in lt.record["checks"]}["REGB-9B2-SPECIFIC-REASONS"]
        assert rule["status"] == "warn"
        assert "not likely to be helpful" in rule["message"]


def test_gdpr_letter_for_approved_and_declined_applicants(audit: dict[str, Any]) -> None:
    approved = _ids(audit, True, 2)
    declined = _ids(audit, False, 2)
    letters = _issue(audit, kind="gdpr", decisions=",".join(approved + declined))
    for lt in letters:
        assert lt.record["status"] != "blocked", lt.record["failure"]
        html = lt.html
        assert "Your score and the cut-off" in html
        assert "Applications scoring 0.50 or more are approved" in html
        assert "What this decision means for you" in html
        assert "Data Protection Office" in html
        assert lt.record["reasons"]
    by_id = {lt.record["decision_id"]: lt for lt in letters}
    assert "What raised your score the most" in by_id[approved[0]].html
    assert "What would have changed the outcome" not in by_id[approved[0]].html
    assert "What lowered your score the most" in by_id[declined[0]].html


def test_ai_act_weight_comes_from_the_decision(audit: dict[str, Any]) -> None:
    letters = _issue(audit, kind="ai_act", decisions=",".join(_ids(audit, False, 3)))
    sentences = set()
    for lt in letters:
        found = re.search(r"gave your application a score of (\d\.\d\d)", lt.html)
        assert found is not None
        assert float(found.group(1)) < 0.5
        sentences.add(found.group(1))
    assert len(sentences) > 1  # from each decision, not one sentence for all
