"""Golden letters: every letter kind rendered from one fixed decision, compared with the
HTML snapshots in ``tests/golden/snapshots/letters/``, and their PDFs' text checked (wording,
the FCRA block, the not-for-mailing marks on every page).

A wording or layout change shows in review as a snapshot diff. Regenerate after a
deliberate change with::

    PYTHONPATH=$PWD .venv/bin/python -m pytest --update-golden \
        tests/golden/test_letters_golden.py -q

The letters are built from the templates and the content code (``fields_for``,
``letter_context``), not from a model: fast, and independent of training noise.
"""

from __future__ import annotations

import subprocess
from datetime import date
from typing import Any

import pytest

from auditor.demo import CREDIT_LETTERS
from auditor.letters.consumer import ConsumerFacts
from auditor.letters.content import KIND_TITLES, fields_for, weight_text
from auditor.letters.context import letter_context
from auditor.letters.pdf import LetterRenderer
from auditor.letters.reasons import Reason
from auditor.letters.recipients import Recipient
from auditor.letters.render import render_body, wrap
from auditor.letters.settings import LettersSpec
from tests._golden import assert_snapshot, without_stylesheet

TODAY = date(2026, 12, 6)
RAW = {
    "duration": 48,
    "credit_amount": 9000.0,
    "checking_status": "... < 0 DM",
    "savings": "... < 100 DM",
}

LETTERS = LettersSpec.model_validate(
    {
        **CREDIT_LETTERS,
        "credit_applied_for": "a personal instalment loan of DM 9,000",
        "supervisory_authority": {
            "name": "Data Protection Commission",
            "address": "21 Fitzwilliam Square South\nDublin 2",
        },
        "consumer_report": {
            "used": True,
            "agency": {
                "name": "Example Bureau",
                "address": "PO Box 740241\nAtlanta, GA 30374",
                "phone": "1-800-685-1111",
            },
        },
    }
)
REASONS = [
    Reason(
        "checking_status",
        ("checking_status",),
        "R01",
        -0.82,
        "Balance or status of your checking account",
    ),
    Reason("duration", ("duration",), "R02", -0.41, "Length of the requested loan term"),
    Reason("credit_amount", ("credit_amount",), "R05", -0.22, "Amount of credit requested"),
]
HELPED = [Reason("job", ("job",), "R15", 0.3, "Type of employment")]
CONSUMER = ConsumerFacts(
    used=True,
    score=612,
    score_date="2026-11-28",
    score_range=(300, 850),
    key_factors=("Serious delinquency", "Number of recent inquiries"),
    source="Example Bureau",
    third_party=True,
)
# (file name, kind, domain, status, approved, consumer)
CASES = [
    ("reg_b", "reg_b", "credit", "issued", False, CONSUMER),
    (
        "reg_b_no_score",
        "reg_b",
        "credit",
        "issued",
        False,
        ConsumerFacts(True, None, "", None, (), "Example Bureau", False),
    ),
    ("reg_b_held", "reg_b", "credit", "needs_review", False, CONSUMER),
    ("reg_b_blocked", "reg_b", "credit", "blocked", False, CONSUMER),
    ("gdpr", "gdpr", "credit", "issued", False, CONSUMER),
    ("gdpr_approved", "gdpr", "credit", "issued", True, CONSUMER),
    ("ai_act", "ai_act", "credit", "issued", False, CONSUMER),
    (
        "hiring",
        "hiring",
        "hiring",
        "issued",
        False,
        ConsumerFacts(False, None, "", None, (), "", False),
    ),
]


def _html(kind: str, domain: str, status: str, approved: bool, consumer: ConsumerFacts) -> str:
    score = 0.71 if approved else 0.38
    fields = fields_for(
        kind,
        LETTERS,
        domain=domain,
        reasons_text="; ".join(r.text for r in (HELPED if approved else REASONS)),
        factors_text="; ".join(r.text for r in (HELPED if approved else REASONS)),
        data_used=", ".join(f"{k}: {v}" for k, v in RAW.items()),
        sources="your application",
        consumer=consumer,
        favorable=approved,
        weight=weight_text(score, 0.5, not approved, LETTERS.review_process),
    )
    context: dict[str, Any] = letter_context(
        LETTERS,
        kind,
        "GC-0042",
        TODAY,
        fields,
        HELPED if approved else REASONS,
        [] if approved else HELPED,
        None if approved else {"duration": 24.0},
        "the decision was favourable" if approved else "",
        RAW,
        "applicants whose scores were at or just above the approval cut-off",
        "exact interventional Shapley values (TreeSHAP)",
        recipient=Recipient("Ada Example", ("1 Sample Street", "Springfield, IL 62701")),
        status=status,
        domain=domain,
        score=score,
        cutoff=0.5,
        favorable_decision=approved,
    )
    body = render_body(kind, context, "letter-0")
    return wrap([body], f"{KIND_TITLES[kind]} (GC-0042)")


@pytest.mark.parametrize(("name", "kind", "domain", "status", "approved", "consumer"), CASES)
def test_letter_html_matches_its_snapshot(
    name: str, kind: str, domain: str, status: str, approved: bool, consumer: ConsumerFacts
) -> None:
    html = without_stylesheet(
        _html(kind, domain, status, approved, consumer), "templates/letters/letters.css"
    )
    assert_snapshot(f"letters/{name}.html", html)


def _pdf_pages(html: str) -> list[str]:
    pdf, _ = LetterRenderer().render(html, "golden", "Example Savings Bank")
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    pages = [p for p in text.split("\f") if p.strip()]
    return [" ".join(p.split()) for p in pages]


def test_pdf_text_of_each_kind() -> None:
    reg_b = " ".join(_pdf_pages(_html("reg_b", "credit", "issued", False, CONSUMER)))
    for phrase in (
        "Credit applied for: a personal instalment loan of DM 9,000",
        "Balance or status of your checking account",
        "Your credit score 612",
        "300 to 850",
        "Serious delinquency; Number of recent inquiries",
        "2026-11-28",
        "outside source other than a consumer reporting agency",
        "The Federal Equal Credit Opportunity Act prohibits",
        "not an offer of credit.",
    ):
        assert phrase in reg_b, phrase
    assert "TreeSHAP" not in reg_b
    assert "employment" not in reg_b.split("Notice")[0]
    no_score = " ".join(_pdf_pages(_html("reg_b", "credit", "issued", False, CASES[1][5])))
    assert "Example Bureau" in no_score
    assert "Your credit score" not in no_score
    gdpr = " ".join(_pdf_pages(_html("gdpr", "credit", "issued", True, CONSUMER)))
    for phrase in (
        "score of 0.71",
        "0.50 or more are approved",
        "Data Protection Commission",
        "What this decision means for you",
        "What raised your score the most",
    ):
        assert phrase in gdpr, phrase
    ai = " ".join(_pdf_pages(_html("ai_act", "credit", "issued", False, CONSUMER)))
    assert "a score of 0.38" in ai
    hiring = " ".join(_pdf_pages(_html("hiring", "hiring", "issued", False, CASES[-1][5])))
    assert "not an offer of employment." in hiring


@pytest.mark.parametrize(
    ("status", "mark"),
    [
        ("needs_review", "HELD FOR REVIEW — NOT FOR MAILING"),
        ("blocked", "BLOCKED — NOT FOR MAILING"),
    ],
)
def test_not_for_mailing_on_every_page(status: str, mark: str) -> None:
    pages = _pdf_pages(_html("gdpr", "credit", status, False, CONSUMER))
    assert len(pages) >= 2  # the GDPR letter runs over a page: the mark must repeat
    assert all(mark in page for page in pages)
    issued = _pdf_pages(_html("gdpr", "credit", "issued", False, CONSUMER))
    assert not any("NOT FOR MAILING" in page for page in issued)
