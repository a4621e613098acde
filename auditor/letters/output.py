"""Where issued letters go: the database (one transaction) and the files (``--out``,
``--json``), moved into place only once every letter was built."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auditor.letters.record import IssuedLetter, LetterRecord
from auditor.letters.review import hold_summary
from auditor.provenance import current_user
from auditor.store import Store
from auditor.store.decisions import add_letters

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def store_letters(store: Store, audit_id: str, letters: list[IssuedLetter]) -> None:
    """Add the letters to the database in one transaction (with their event)."""
    # the letters table's columns: the record's fields (but withheld_reasons) plus the
    # documents
    rows = [
        {
            "decision_id": lt.record.decision_id,
            "kind": lt.record.kind,
            "html": lt.html,
            "pdf": lt.pdf,
            "sha256": lt.record.sha256,
            "status": lt.record.status,
            "failure": lt.record.failure,
            "reasons": lt.record.reasons,
            "baseline": lt.record.baseline,
            "counterfactual": lt.record.counterfactual,
            "checks": lt.record.checks,
            "review": lt.record.review,
            "counterfactual_detail": lt.record.counterfactual_detail,
            "addressed": lt.record.addressed,
        }
        for lt in letters
    ]
    with store.session() as session:
        add_letters(session, audit_id, rows, user=current_user())


# where a letter's PDF goes under ``--out``: only issued letters sit in the folder itself,
# so that a folder handed to the mail room holds nothing that must not be mailed
STATUS_FOLDERS = {"issued": "", "needs_review": "held", "blocked": "blocked"}
SUMMARY_FILE = "letters-summary.json"


def letter_path(
    out_dir: Path, record: LetterRecord | Mapping[str, Any], *, distinct: bool = False
) -> Path:
    """Where ``record``'s PDF is written under ``out_dir`` (by its status).

    An id that is a safe file name is the name (``A-17-reg_b.pdf``). Any other id (unsafe
    characters made ``_``, cut at 80 characters), or one that ``distinct`` says shares its
    name with another letter's when case is ignored, gets a digest of the id as well, so
    that ``A/17`` and ``A_17`` (or ``ab`` and ``AB`` on macOS or Windows) are two files.
    """
    decision_id = str(record["decision_id"])
    name = _SAFE.sub("_", decision_id)[:80] or "letter"
    if distinct or name != decision_id:
        name += "-" + hashlib.sha256(decision_id.encode("utf-8")).hexdigest()[:12]
    folder = STATUS_FOLDERS[str(record["status"])]
    return (out_dir / folder if folder else out_dir) / f"{name}-{record['kind']}.pdf"


def letter_paths(out_dir: Path, records: list[LetterRecord]) -> list[Path]:
    """:func:`letter_path` of each record, distinct even where case is ignored."""
    paths = [letter_path(out_dir, r) for r in records]
    shared = Counter(str(p).casefold() for p in paths)
    return [
        letter_path(out_dir, r, distinct=True) if shared[str(p).casefold()] > 1 else p
        for r, p in zip(records, paths, strict=True)
    ]


def write_letters(
    letters: list[IssuedLetter], out_dir: Path | None, json_path: Path | None
) -> None:
    """Write the PDFs (by status), the batch summary and the JSON records, all or none."""
    from auditor.service import move_into_place, stage_file

    staged = []
    try:
        if out_dir is not None:
            pdfs = [(lt.record, lt.pdf) for lt in letters if lt.pdf is not None]
            paths = letter_paths(out_dir, [record for record, _ in pdfs])
            for (_, pdf), path in zip(pdfs, paths, strict=True):
                staged.append((stage_file(path, pdf), path))
            if letters:
                # the batch's counts and hold rate, for whoever receives the folder
                path = out_dir / SUMMARY_FILE
                summary = json.dumps(hold_summary([lt.record for lt in letters]), indent=2)
                staged.append((stage_file(path, summary.encode("utf-8")), path))
        if json_path is not None:
            data = json.dumps([lt.record.to_json() for lt in letters], indent=2, ensure_ascii=False)
            staged.append((stage_file(json_path, data.encode("utf-8")), json_path))
        for tmp, final in staged:
            move_into_place(tmp, final)
        staged.clear()
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
