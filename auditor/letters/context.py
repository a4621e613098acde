"""The values a letter template sees: parties, reasons, counterfactual, data table."""

from __future__ import annotations

from typing import Any

from auditor.letter_settings import LettersSpec
from auditor.letters.content import KIND_TITLES
from auditor.letters.recipients import Recipient


def method_text(method: str) -> str:
    """Plain description of an attribution method, for the letter's footnote."""
    return {
        "interventional_tree_shap": "exact interventional Shapley values (TreeSHAP)",
        "interventional_permutation_shap": "interventional Shapley values (permutation sampling)",
        "integrated_gradients": "integrated gradients",
    }.get(method, method)


def _label(letters: LettersSpec, feature: str) -> str:
    entry = letters.reason_codes.get(letters.reason_features().get(feature, feature))
    if entry is not None and entry.label and len(entry.features or [feature]) == 1:
        return entry.label
    return feature.replace("_", " ").capitalize()


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "not given" if value is None else str(value)


def letter_context(
    letters: LettersSpec,
    kind: str,
    decision_id: str,
    today: Any,
    fields: dict[str, str],
    reasons: list[Any],
    favorable: list[Any],
    changes: dict[str, float | str] | None,
    note: str,
    raw: dict[str, Any],
    baseline_text: str,
    method_text: str,
    *,
    recipient: Recipient | None = None,
    searched: tuple[str, ...] = (),
    status: str = "issued",
    domain: str = "credit",
    score: float | None = None,
    cutoff: float | None = None,
    favorable_decision: bool = False,
) -> dict[str, Any]:
    """Everything ``templates/letters/<kind>.html.j2`` renders (autoescaped there).

    Without a ``recipient`` the letter is addressed to "the applicant" by reference only.
    ``searched``: the actionable features when no counterfactual exists within bounds.
    ``status``: issued, needs_review or blocked (the last two print "not for mailing").
    ``score``/``cutoff``: the decision's score and the threshold it was compared with
    (GDPR letters show both); ``favorable_decision``: an approved applicant's letter.
    """
    cf_items = [
        {"label": _label(letters, f), "old": _shown(raw.get(f)), "new": _shown(v)}
        for f, v in (changes or {}).items()
    ]
    sources = letters.reason_features()
    data_items = [
        {
            "label": _label(letters, f),
            "value": _shown(v),
            "source": letters.reason_codes[sources[f]].source
            if f in sources
            else "your application",
        }
        for f, v in raw.items()
    ]
    return {
        "org": letters.organisation,
        "creditor": letters.creditor or letters.organisation,
        "agency": letters.agency,
        "title": KIND_TITLES[kind],
        "decision_id": decision_id,
        "recipient": recipient,
        "date": f"{today.day} {today:%B %Y}",
        "fields": fields,
        "reasons": [{"text": r.text, "code": r.code} for r in reasons],
        "favorable": [{"text": r.text} for r in favorable],
        "cf_items": cf_items,
        "cf_note": note,
        "cf_searched": [_label(letters, f) for f in searched],
        "cf_max": letters.counterfactual.max_features,
        "data_items": data_items,
        "consumer_report": letters.consumer_report.used,
        "baseline_text": baseline_text,
        "method_text": method_text,
        "status": status,
        "domain": domain,
        "score": None if score is None else f"{score:.2f}",
        "cutoff": None if cutoff is None else f"{cutoff:.2f}",
        "approved": favorable_decision,
        "authority": letters.supervisory_authority,
    }
