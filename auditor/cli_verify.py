"""``auditor verify``: is the stored evidence as auditor wrote it? (whole store, one audit,
or one PDF someone was handed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from sqlalchemy import text

from auditor._cli_common import DbOption, err, guard, out
from auditor.errors import AuditorError, StorageError

if TYPE_CHECKING:
    from auditor.store import VerifyReport
    from auditor.store.evidence_lookup import PdfMatch

SUPERSEDED_EXIT = 3
"""Exit code of ``--pdf`` for a genuine report that a later report of its audit replaced."""


def _read_pdf(path: Path) -> bytes:
    if path.exists() and not path.is_file():
        # a folder, or a device such as /dev/zero, which would be read until memory ran out
        raise AuditorError(f"Cannot read the PDF {path}: not a file; name the report's PDF.")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AuditorError(f"Cannot read the PDF {path}: {exc.strerror or exc}.") from None


def verify_cmd(
    db: DbOption = None,
    audit: Annotated[
        str | None,
        typer.Option(
            "--audit",
            help="Check one audit only (its full id or the short id 'auditor history' prints).",
        ),
    ] = None,
    pdf: Annotated[
        Path | None,
        typer.Option(
            "--pdf",
            help="Is this PDF a report (or letter) stored here, of which audit, and was it "
            f"superseded? Exit 0: stored and current (a letter: issued); {SUPERSEDED_EXIT}: "
            "stored but superseded; 1: not stored, a letter not issued, or the audit's "
            "records were altered.",
        ),
    ] = None,
    head: Annotated[
        str | None,
        typer.Option(
            "--head",
            help="A chain head hash printed by an earlier verify: it must still be in the log.",
        ),
    ] = None,
) -> None:
    """Check the event chain, every result's and report's digest and every stored row.

    Metrics, findings, counts, decisions, letters and their statuses, users, tokens,
    schedules and their runs are compared with the digests the event log recorded when
    auditor wrote them; any change, insertion or deletion is named (exit 1).
    """
    from auditor.store import open_store, verify
    from auditor.store.evidence_lookup import locate_pdf, pinned_event, resolve_audit_id

    data = guard(lambda: _read_pdf(pdf)) if pdf is not None else None
    signed_here: list[Any] = []

    def run() -> tuple[PdfMatch | None, VerifyReport | None]:
        store = open_store(db, upgrade=False)
        try:
            with store.session() as session:
                if session.get_bind().dialect.name == "postgresql":
                    # one snapshot for the log and the rows: a write committed while verify
                    # reads would otherwise look like a row inserted outside auditor
                    session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
                match = locate_pdf(session, data) if data is not None else None
                audit_id = resolve_audit_id(session, audit) if audit is not None else None
                if match is not None and match.audit_id is not None:
                    if audit_id is not None and audit_id != match.audit_id:
                        raise StorageError(
                            f"{pdf} is a report of audit {match.audit_id}, not of {audit_id}."
                        )
                    audit_id = match.audit_id
                if match is not None and match.audit_id is None:
                    return match, None
                report = verify(session, audit_id)
                if match is not None and match.report_id is not None:
                    # the sign-offs this PDF carries (a signed copy) or received (issue 21)
                    signed_here.extend(
                        sg
                        for sg in report.signoffs
                        if match.report_id in (sg.report_id, sg.signed_report_id)
                    )
                if head is not None and pinned_event(session, head) is None:
                    report.problems.append(
                        f"the event log no longer contains the chain head {head.strip()} "
                        "given with --head: it was rewritten from an earlier event on"
                    )
                return match, report
        finally:
            store.dispose()

    match, report = guard(run)
    if match is not None:
        _print_match(pdf, match)
    shown_id = match.report_id if match is not None else None
    for sg in signed_here:
        what = "a signed copy of report" if sg.signed_report_id == shown_id else "report"
        out.print(
            f"It is {what} {sg.report_id}, signed by {escape(sg.signer)} ({escape(sg.role)}) "
            f"at {sg.created_at.isoformat(timespec='seconds')}; the sign-off is "
            f"{'current' if sg.current else 'superseded by ' + str(sg.superseded_by)}.",
            highlight=False,
            soft_wrap=True,
        )
    if report is None:
        raise typer.Exit(1)
    scope = f"audit {report.audit_id}: " if report.audit_id else ""
    out.print(
        f"{scope}{report.events} events, {report.audits} audits, {report.reports} reports, "
        f"{report.rows} rows checked.",
        highlight=False,
        soft_wrap=True,
    )
    if report.head is not None:
        out.print(
            f"Chain head: event {report.head[0]}, hash {report.head[1]}.",
            highlight=False,
            soft_wrap=True,
        )
    for signed in report.signoffs:
        state = (
            "current"
            if signed.current
            else f"superseded by {signed.superseded_by}"
        )
        out.print(
            f"Sign-off {signed.id}: report {signed.report_id} of audit {signed.audit_id} "
            f"signed by {escape(signed.signer)} ({escape(signed.role)}) at "
            f"{signed.created_at.isoformat(timespec='seconds')}, SHA-256 "
            f"{signed.report_sha256}; signed copy report {signed.signed_report_id}; {state}.",
            highlight=False,
            soft_wrap=True,
        )
    if not report.ok:
        for problem in report.problems:
            err.print(f"[red]- {escape(problem)}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    out.print("[green]No alteration or deletion detected.[/]")
    if match is not None and (not match.stored or _unissued(match)):
        raise typer.Exit(1)
    if match is not None and match.superseded:
        raise typer.Exit(SUPERSEDED_EXIT)


def _unissued(match: PdfMatch) -> bool:
    return match.letter is not None and match.letter[3] != "issued"


def _print_match(path: Path | None, match: PdfMatch) -> None:
    name = escape(str(path))
    if match.audit_id is None:
        out.print(
            f"{name} (SHA-256 {match.sha256}) is not a report stored in or recorded by this "
            "database.",
            highlight=False,
            soft_wrap=True,
        )
        return
    if match.letter is not None:
        letter_id, decision_id, kind, status = match.letter
        out.print(
            f"{name} is letter {letter_id} ({escape(kind)} for decision {escape(decision_id)!r}) "
            f"of audit {match.audit_id} ({escape(match.audit_name or '?')}); its stored "
            f"status is {escape(str(status))!r}.",
            highlight=False,
            soft_wrap=True,
        )
        if status != "issued":
            out.print(
                "[yellow]It was not issued:[/] a letter held for review, blocked or rejected "
                "should not have reached anyone.",
                highlight=False,
            )
        return
    if not match.stored:
        out.print(
            f"{name} is a report of audit {match.audit_id} recorded in event {match.event_id}, "
            "but no stored report has it any more (pruned with its audit, or deleted).",
            highlight=False,
            soft_wrap=True,
        )
        return
    when = match.created_at.isoformat(timespec="seconds") if match.created_at else "?"
    out.print(
        f"{name} is report {match.report_id} of audit {match.audit_id} "
        f"({escape(match.audit_name or '?')}), stored {when}, recorded in event "
        f"{match.event_id}; the stored copy is {'intact' if match.intact else 'ALTERED'}.",
        highlight=False,
        soft_wrap=True,
    )
    if match.superseded:
        report_id, created, sha = match.later[-1]
        out.print(
            f"[yellow]Superseded:[/] audit {match.audit_id} has {len(match.later)} later "
            f"report(s); the latest is report {report_id} of "
            f"{created.isoformat(timespec='seconds')} (SHA-256 {sha}).",
            highlight=False,
            soft_wrap=True,
        )
    else:
        out.print("It is the latest report of its audit.", highlight=False)
