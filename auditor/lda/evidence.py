"""A search's record read as evidence by the policy packs (UGESP 1607.3(B), N.J.A.C.
13:16, fair-lending practice).

The packs do not read the whole record: they read ``evidence.lda_record``, a short summary
of it (the outcome, the digest that identifies the record, one sentence stating what the
search found). An audit uses a record only when it is intact (its ``record_sha256``
recomputes) and was made for the audited model (same audit name, same model file).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from auditor.provenance import file_sha256
from auditor.spec import AuditSpec

Outcome = Literal["alternative_found", "alternative_unconfirmed", "none_within_tolerance"]
EVIDENCE_KEY = "lda_record"


def record_intact(record: Mapping[str, Any]) -> bool:
    """Whether ``record_sha256`` is the hash of the record without that field."""
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    text = json.dumps(body, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(text).hexdigest() == record.get("record_sha256")


def audited_model_sha256(spec: AuditSpec) -> str | None:
    """The SHA-256 of the audited model's file (``None`` without one)."""
    if spec.model is None or not spec.model.path:
        return None
    path = spec.resolve(spec.model.path)
    return file_sha256(path) if path.is_file() else None


def record_for(records: Iterable[Mapping[str, Any]], spec: AuditSpec) -> dict[str, Any] | None:
    """The first (newest, as given) intact record made for ``spec``'s audit and model file."""
    model = audited_model_sha256(spec)
    for record in records:
        audited = record.get("audited_model")
        made_for = audited.get("sha256") if isinstance(audited, Mapping) else None
        if (
            record.get("name") == spec.name
            and model is not None
            and made_for == model
            and record_intact(record)
        ):
            return dict(record)
    return None


def outcome_of(record: Mapping[str, Any]) -> Outcome:
    """What the search found: an alternative confirmed on the held-out split, one chosen on
    the search split that the held-out split does not confirm, or none within tolerance."""
    rec = record.get("recommended")
    if not isinstance(rec, Mapping):
        return "none_within_tolerance"
    return "alternative_found" if rec.get("holdout_confirms") else "alternative_unconfirmed"


def record_evidence(record: Mapping[str, Any]) -> dict[str, Any]:
    """The summary the packs read as ``evidence.lda_record``."""
    outcome = outcome_of(record)
    digest = str(record.get("record_sha256", ""))
    tolerance = (record.get("tolerance") or {}).get("auc")
    candidates = max(0, len(record.get("candidates") or []) - 1)
    when = str(record.get("created_at", ""))[:10]
    rec = record.get("recommended")
    lead = (
        f"the search for less discriminatory alternatives of {when} (record "
        f"{digest[:16]}, {candidates} candidates, tolerance {tolerance} AUC)"
    )
    if isinstance(rec, Mapping):
        worst, base = rec.get("holdout_worst_ratio"), rec.get("holdout_baseline_worst_ratio")
        figures = ""
        if isinstance(worst, Mapping) and isinstance(base, Mapping):
            figures = (
                f": held-out worst impact ratio {_f(worst.get('value'))} against the "
                f"audited model's {_f(base.get('value'))}, AUC change "
                f"{_signed(rec.get('holdout_auc_change'))}"
            )
        if outcome == "alternative_found":
            statement = f"{lead} found an alternative within tolerance, '{rec['id']}'{figures}"
        else:
            statement = (
                f"{lead} chose '{rec['id']}' on the search split, but the held-out split "
                f"does not confirm it{figures}"
            )
    else:
        statement = f"{lead} found no alternative within tolerance"
    return {
        "outcome": outcome,
        "record_sha256": digest,
        "created_at": record.get("created_at"),
        "recommended": rec.get("id") if isinstance(rec, Mapping) else None,
        "tolerance": tolerance,
        "candidates": candidates,
        "statement": statement,
    }


def _f(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "n/a"


def _signed(value: Any) -> str:
    return f"{value:+.4f}" if isinstance(value, int | float) else "n/a"
