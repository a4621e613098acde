"""The review queue of held and blocked letters (issue 21).

A letter whose principal reasons were unstable is stored ``needs_review`` (held), one
that failed a content check ``blocked``; neither may be mailed. A reviewer:

- **approves** a held letter: it becomes ``issued`` and its PDF is rendered again from
  its stored HTML without the "not for mailing" marks (nothing else in it changes);
- **rejects** a held or blocked letter: ``rejected``, never issued;
- **amends** a held letter's reasons: it may state fewer of the reasons the attributions
  gave, in their order (never another reason, never a new order), with a note; the
  letter stays held until someone approves it.

A blocked letter failed a rule about its content, so it cannot be approved as it is;
it is rejected (and issued again once the cause is fixed). With four eyes on, the
reviewer may not be the person who issued the batch. Each act is a ``letter.reviewed``
event that names the reviewer and re-seals the letter row.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditor.errors import AuditorError
from auditor.store import Store
from auditor.store.decisions import LETTER_ISSUED, LETTER_STATUS_CHANGED
from auditor.store.events import append_event
from auditor.store.models import Audit, Event, Letter

LETTER_REVIEWED = "letter.reviewed"
QUEUE_STATUSES = ("needs_review", "blocked")
ACTIONS = ("approve", "reject")
"""Acts of :func:`review_letter`; ``amend`` is :func:`amend_letter`."""
MAX_NOTE_CHARS = 2000


class ReviewError(AuditorError):
    """A review that cannot be done (wrong status, four eyes, unknown letter)."""


@dataclass(frozen=True)
class QueuedLetter:
    """A letter in (or once in) the review queue, with its history of acts."""

    id: int
    audit_id: str
    audit_name: str
    decision_id: str
    kind: str
    status: str
    created_at: datetime
    requested_by: str | None
    failure: str | None
    history: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[dict[str, Any]] = field(default_factory=list)
    """The reasons the letter states (feature, text), most important first."""


@dataclass(frozen=True)
class ReviewOutcome:
    """What a review changed."""

    letter_id: int
    action: str
    status: str
    reviewer: str
    sha256: str
    pdf: bytes | None


def _requester(session: Session, letter: Letter) -> str | None:
    """Who issued the batch the letter came in (its ``letters.issued`` event, found by the
    digest the letter had when issued: an amendment changes the stored one)."""
    digest = letter.sha256
    earliest = session.execute(
        select(Event.payload)
        .where(Event.kind == LETTER_REVIEWED)
        .where(Event.payload.contains(f'"letter_id":{letter.id},'))
        .order_by(Event.id)
        .limit(1)
    ).first()
    if earliest is not None:
        digest = str(json.loads(earliest[0]).get("sha256_before") or digest)
    found = session.execute(
        select(Event.user)
        .where(Event.kind == LETTER_ISSUED, Event.payload.contains(digest))
        .order_by(Event.id)
        .limit(1)
    ).first()
    return None if found is None else str(found[0])


def _history(session: Session, letter_id: int) -> list[dict[str, Any]]:
    out = []
    for event_id, kind, user, created, payload in session.execute(
        select(Event.id, Event.kind, Event.user, Event.created_at, Event.payload)
        .where(Event.kind.in_((LETTER_REVIEWED, LETTER_STATUS_CHANGED)))
        .where(Event.payload.contains(f'"letter_id":{letter_id},'))
        .order_by(Event.id)
    ):
        data = json.loads(payload)
        if data.get("letter_id") != letter_id:
            continue
        out.append(
            {
                "event": event_id,
                "kind": kind,
                "by": user,
                "at": created.isoformat(timespec="seconds"),
                "action": data.get("action"),
                "from": data.get("from"),
                "to": data.get("to"),
                "note": data.get("note"),
            }
        )
    return out


def letter_history(store: Store, letter_id: int) -> list[dict[str, Any]]:
    """The review acts on one letter (approve, amend, reject, status changes), oldest first."""
    with store.session() as session:
        return _history(session, letter_id)


def review_queue(
    store: Store, *, audit_id: str | None = None, include_done: bool = False
) -> list[QueuedLetter]:
    """Held and blocked letters (and, with ``include_done``, those already reviewed),
    oldest first, each with who issued it and its review history."""
    with store.session() as session:
        stmt = (
            select(Letter, Audit.name).join(Audit, Audit.id == Letter.audit_id).order_by(Letter.id)
        )
        if audit_id is not None:
            stmt = stmt.where(Letter.audit_id == audit_id)
        out = []
        for letter, name in session.execute(stmt):
            history = _history(session, letter.id)
            if letter.status not in QUEUE_STATUSES and not (include_done and history):
                continue
            out.append(
                QueuedLetter(
                    letter.id,
                    letter.audit_id,
                    name,
                    letter.decision_id,
                    letter.kind,
                    str(letter.status),
                    letter.created_at,
                    _requester(session, letter),
                    letter.failure,
                    history,
                    [
                        {"feature": r.get("feature"), "text": r.get("text")}
                        for r in letter.reasons or []
                    ],
                )
            )
        return out


_MARKS = (
    re.compile(r'<div class="watermark" aria-hidden="true">[^<]*</div>\s*'),
    re.compile(r'<p class="stop">[^<]*</p>\s*'),
)


def unheld_html(html: str) -> str:
    """The letter's HTML without the marks a held letter carries (the diagonal mark, the
    banner and the named page that repeats it in every margin); the rest is unchanged."""
    text = html.replace(' not-for-mailing-needs_review"', '"')
    for mark in _MARKS:
        text = mark.sub("", text)
    body = text.split("<body", 1)[-1]  # the stylesheet names the marks too; the body may not
    if "NOT FOR MAILING" in body or "not-for-mailing-" in body:
        raise ReviewError(
            "The held letter's stored HTML carries its 'not for mailing' mark in a form this "
            "version does not recognise; issue the letter again instead of approving it."
        )
    return text


def _meta(html: str, name: str, default: str) -> str:
    if name == "title":
        found = re.search(r"<title>([^<]*)</title>", html)
    else:
        found = re.search(rf'<meta name="{name}" content="([^"]*)"', html)
    return found.group(1) if found else default


def review_letter(
    store: Store,
    letter_id: int,
    action: str,
    *,
    reviewer: str,
    note: str | None = None,
    four_eyes: bool = False,
) -> ReviewOutcome:
    """Approve or reject a held or blocked letter as ``reviewer`` (see the module doc)."""
    from auditor.letters.pdf import local_renderer

    if action not in ACTIONS:
        raise ReviewError(f"Unknown review action {action!r}; use one of {', '.join(ACTIONS)}.")
    reviewer = " ".join(reviewer.split())
    if not reviewer:
        raise ReviewError("Name the reviewer (--by).")
    text = " ".join((note or "").split()) or None
    if text is not None and len(text) > MAX_NOTE_CHARS:
        raise ReviewError(f"The review note is longer than {MAX_NOTE_CHARS} characters.")
    with store.session() as session:
        letter = session.get(Letter, letter_id)
        if letter is None:
            raise ReviewError(f"No letter with id {letter_id} in the store.")
        where = f"Letter {letter_id} (decision {letter.decision_id!r})"
        if letter.status not in QUEUE_STATUSES:
            raise ReviewError(
                f"{where} is {letter.status!r}, not held or blocked: there is nothing to review."
            )
        if action == "approve" and letter.status == "blocked":
            cause = letter.failure or "see its record"
            raise ReviewError(
                f"{where} is blocked: it failed a content check ({cause}). A blocked letter "
                "cannot be approved as it is; reject it and issue it again once the cause is "
                "fixed."
            )
        requester = _requester(session, letter)
        if four_eyes and requester is not None and requester == reviewer:
            raise ReviewError(
                f"{where}: four eyes: {reviewer!r} issued this letter and may not review it; "
                "another reviewer must."
            )
        before, previous = letter.sha256, letter.status
        pdf: bytes | None = None
        if action == "approve":
            html = unheld_html(letter.html)
            pdf, digest = local_renderer().render(
                html,
                _meta(html, "title", f"Letter {letter.decision_id}"),
                _meta(html, "author", "auditor"),
            )
            letter.html, letter.pdf, letter.sha256, letter.status = html, pdf, digest, "issued"
        else:
            letter.status = "rejected"
        review = dict(letter.review or {})
        review["reviewed"] = {
            "action": action,
            "by": reviewer,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "note": text,
        }
        letter.review = review
        session.flush()
        append_event(
            session,
            LETTER_REVIEWED,
            {
                "letter_id": letter_id,
                "audit_id": letter.audit_id,
                "decision_id": letter.decision_id,
                "action": action,
                "from": previous,
                "to": letter.status,
                "requested_by": requester,
                "four_eyes": four_eyes,
                "note": text,
                "sha256_before": before,
                "sha256": letter.sha256,
            },
            user=reviewer,
            sealed={"letters": [letter_id]},
        )
        return ReviewOutcome(letter_id, action, str(letter.status), reviewer, letter.sha256, pdf)


_REASON_LIST = re.compile(r'<ol class="reasons">.*?</ol>\n?', re.DOTALL)


def _reason_list_html(reasons: list[dict[str, Any]]) -> str:
    from auditor.report.render import environment

    template = environment().from_string(
        '{% import "letters/_parts.html.j2" as p %}{{ p.reason_list(reasons) }}'
    )
    return template.render(
        reasons=[{"text": r.get("text"), "code": r.get("code")} for r in reasons]
    )


def amend_letter(
    store: Store,
    letter_id: int,
    keep: list[str],
    *,
    reviewer: str,
    note: str,
    four_eyes: bool = False,
) -> ReviewOutcome:
    """State only the reasons ``keep`` (features of the letter's own attributed reasons)
    in a held letter, in the attributions' order, recording ``note``. The letter is
    rendered again (still marked held) and stays in the queue."""
    from auditor.letters.pdf import local_renderer

    reviewer = " ".join(reviewer.split())
    text = " ".join((note or "").split())
    if not reviewer:
        raise ReviewError("Name the reviewer (--by).")
    if not text or len(text) > MAX_NOTE_CHARS:
        raise ReviewError(
            f"An amendment needs a note (at most {MAX_NOTE_CHARS} characters) saying why."
        )
    with store.session() as session:
        letter = session.get(Letter, letter_id)
        if letter is None:
            raise ReviewError(f"No letter with id {letter_id} in the store.")
        where = f"Letter {letter_id} (decision {letter.decision_id!r})"
        if letter.status != "needs_review":
            raise ReviewError(
                f"{where} is {letter.status!r}: only a letter held for review can be amended."
            )
        requester = _requester(session, letter)
        if four_eyes and requester is not None and requester == reviewer:
            raise ReviewError(f"{where}: four eyes: {reviewer!r} issued this letter.")
        stated = list(letter.reasons or [])
        known = [str(r.get("feature")) for r in stated]
        unknown = [k for k in keep if k not in known]
        if unknown or not keep:
            raise ReviewError(
                f"{where}: the amended reasons must be some of the letter's own reasons, "
                f"from its attributions: {', '.join(known) or 'none'}"
                + (f"; not {', '.join(unknown)}" if unknown else "; give at least one")
                + "."
            )
        amended = [r for r in stated if str(r.get("feature")) in keep]
        if amended == stated:
            raise ReviewError(f"{where}: the letter already states exactly these reasons.")
        found = _REASON_LIST.findall(letter.html)
        if len(found) != 1:
            raise ReviewError(
                f"{where}: its stored HTML has {len(found)} reason lists, not one; issue it "
                "again instead of amending it."
            )
        html = _REASON_LIST.sub(lambda _m: _reason_list_html(amended), letter.html, count=1)
        before = letter.sha256
        if letter.pdf is not None:
            pdf, digest = local_renderer().render(
                html,
                _meta(html, "title", f"Letter {letter.decision_id}"),
                _meta(html, "author", "auditor"),
            )
            letter.pdf, letter.sha256 = pdf, digest
        else:
            letter.sha256 = hashlib.sha256(html.encode()).hexdigest()
        letter.html = html
        letter.reasons = amended
        review = dict(letter.review or {})
        review["amended"] = {
            "by": reviewer,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "note": text,
            "dropped": [k for k in known if k not in keep],
        }
        letter.review = review
        session.flush()
        append_event(
            session,
            LETTER_REVIEWED,
            {
                "letter_id": letter_id,
                "audit_id": letter.audit_id,
                "decision_id": letter.decision_id,
                "action": "amend",
                "from": letter.status,
                "to": letter.status,
                "reasons_before": known,
                "reasons_after": [str(r.get("feature")) for r in amended],
                "requested_by": requester,
                "four_eyes": four_eyes,
                "note": text,
                "sha256_before": before,
                "sha256": letter.sha256,
            },
            user=reviewer,
            sealed={"letters": [letter_id]},
        )
        return ReviewOutcome(
            letter_id, "amend", str(letter.status), reviewer, letter.sha256, letter.pdf
        )
