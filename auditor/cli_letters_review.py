"""``auditor letters review``: the queue of held and blocked letters (issue 21), and
``auditor letters`` as a group whose default command is still ``issue``.

``auditor letters AUDIT_ID ...`` keeps working unchanged (a contract): any first word
that is not a subcommand is taken as the start of ``auditor letters issue``'s arguments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from auditor._cli_common import DbOption, guard, out
from auditor.cli_letters import letters as issue_cmd

ISSUE = "issue"


class LettersGroup(TyperGroup):
    """A group that runs ``issue`` when the first word is not one of its commands."""

    # ctx: typer's own (vendored) click Context, whose module is private to typer
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Insert ``issue`` before arguments that do not name a subcommand."""
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [ISSUE, *args]
        return super().parse_args(ctx, args)


letters_app = typer.Typer(
    cls=LettersGroup,
    help="Per-decision letters: issue them (the default: 'auditor letters AUDIT_ID') and "
    "review the held and blocked ones ('auditor letters review').",
    no_args_is_help=True,
)
letters_app.command(ISSUE)(issue_cmd)


@letters_app.command("review")
def review_cmd(
    audit_id: Annotated[
        str | None, typer.Argument(help="Only this audit's letters (id or unique prefix).")
    ] = None,
    approve: Annotated[
        int | None, typer.Option("--approve", min=1, help="Approve this held letter (its id).")
    ] = None,
    reject: Annotated[
        int | None, typer.Option("--reject", min=1, help="Reject this held or blocked letter.")
    ] = None,
    amend: Annotated[
        int | None,
        typer.Option("--amend", min=1, help="State only the --keep reasons in this held letter."),
    ] = None,
    keep: Annotated[
        str | None,
        typer.Option(
            "--keep",
            help="With --amend: the reasons to state (features, comma-separated), some of "
            "the letter's own; they keep the attributions' order.",
        ),
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="The reviewer's name.")] = None,
    note: Annotated[str | None, typer.Option("--note", help="The reviewer's note.")] = None,
    four_eyes: Annotated[
        bool,
        typer.Option(
            "--four-eyes",
            envvar="AUDITOR_LETTERS_FOUR_EYES",
            help="The reviewer may not be the person who issued the letter.",
        ),
    ] = False,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write an approved letter's PDF into this folder."),
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also list letters already reviewed.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    db: DbOption = None,
) -> None:
    """List the letters held for review or blocked, or approve / reject one.

    An approved letter is issued: its PDF is rendered again without the 'not for
    mailing' marks. A rejected letter is never issued. Each act is an event naming the
    reviewer.
    """
    from auditor.cli_attest import current_user
    from auditor.letters.queue import review_letter, review_queue
    from auditor.store import open_store
    from auditor.store.evidence_lookup import resolve_audit_id

    chosen = [a for a in (approve, reject, amend) if a is not None]
    if len(chosen) > 1:
        guard(_fail("Give one of --approve, --reject and --amend."))
    if amend is not None:
        from auditor.letters.queue import amend_letter

        kept = [k.strip() for k in (keep or "").split(",") if k.strip()]

        def amending() -> Any:
            store = open_store(db)
            try:
                return amend_letter(
                    store, amend, kept, reviewer=by or current_user(), note=note or "",
                    four_eyes=four_eyes,
                )  # fmt: skip
            finally:
                store.dispose()

        done = guard(amending)
        out.print(
            f"Letter {done.letter_id} amended by {escape(done.reviewer)}; still held for "
            f"review (SHA-256 {done.sha256}).",
            highlight=False,
        )
        return
    if approve is None and reject is None:

        def listing() -> list[Any]:
            store = open_store(db)
            try:
                full = None
                if audit_id is not None:
                    with store.session() as session:
                        full = resolve_audit_id(session, audit_id)
                return review_queue(store, audit_id=full, include_done=show_all)
            finally:
                store.dispose()

        queued = guard(listing)
        if as_json:
            out.print_json(json.dumps([_queued_dict(q) for q in queued]))
            return
        _print_queue(queued)
        return
    letter_id = approve if approve is not None else reject
    assert letter_id is not None
    action = "approve" if approve is not None else "reject"

    def act() -> Any:
        store = open_store(db)
        try:
            outcome = review_letter(
                store,
                letter_id,
                action,
                reviewer=by or current_user(),
                note=note,
                four_eyes=four_eyes,
            )
        finally:
            store.dispose()
        if outcome.pdf is not None and out_dir is not None:
            from auditor.service import move_into_place, stage_file

            path = out_dir / f"letter-{letter_id}.pdf"
            move_into_place(stage_file(path, outcome.pdf), path)
        return outcome

    outcome = guard(act)
    out.print(
        f"Letter {outcome.letter_id} {'approved: issued' if action == 'approve' else 'rejected'}"
        f" by {escape(outcome.reviewer)} (SHA-256 {outcome.sha256}).",
        highlight=False,
    )


def _fail(message: str) -> Any:
    from auditor.letters.queue import ReviewError

    def raise_it() -> None:
        raise ReviewError(message)

    return raise_it


def _queued_dict(q: Any) -> dict[str, Any]:
    return {
        "id": q.id,
        "audit_id": q.audit_id,
        "audit_name": q.audit_name,
        "decision_id": q.decision_id,
        "kind": q.kind,
        "status": q.status,
        "created_at": q.created_at.isoformat(timespec="seconds"),
        "requested_by": q.requested_by,
        "failure": q.failure,
        "history": q.history,
        "reasons": q.reasons,
    }


def _print_queue(queued: list[Any]) -> None:
    if not queued:
        out.print("No letter is held for review or blocked.", highlight=False)
        return
    table = Table(title="Letters to review")
    for column in ("letter", "audit", "decision", "kind", "status", "issued by", "history"):
        table.add_column(column)
    for q in queued:
        history = "; ".join(f"{h['action'] or h['to']} by {h['by']}" for h in q.history)
        table.add_row(
            str(q.id),
            escape(q.audit_name),
            escape(q.decision_id),
            q.kind,
            q.status,
            escape(q.requested_by or "?"),
            escape(history),
        )
    out.print(table)
