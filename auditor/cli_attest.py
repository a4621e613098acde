"""``auditor attest`` and ``auditor evaluations``: attested evidence makes a new
evaluation of a stored audit (issue 21), without the model or the data.

Exit codes: 0 success; 2 a user error (unknown audit id, unreadable or invalid evidence
file, an evidence key no rule reads, an unreadable document).
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from auditor._cli_common import DbOption, guard, out
from auditor.errors import SpecError
from auditor.result import AuditResult
from auditor.store import AttestOutcome, Document, EvaluationRow


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _document(path: Path | None) -> Document | None:
    if path is None:
        return None
    from auditor.input_files import read_limited
    from auditor.store.evaluations import MAX_DOCUMENT_BYTES

    try:
        # at most one byte past the limit: a device (/dev/zero) has no size and no end
        data = read_limited(path, MAX_DOCUMENT_BYTES)
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the document: {exc.strerror or exc}") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise SpecError(
            f"{path}: the document is larger than {MAX_DOCUMENT_BYTES:,} bytes, the most kept "
            "with an attestation; attach a smaller file (a summary, or the pages that matter)."
        )
    return Document(path.name, data)


def attest_cmd(
    audit_id: Annotated[str, typer.Argument(help="ID (or unique prefix) of a stored audit.")],
    evidence: Annotated[
        Path,
        typer.Option(
            "--evidence",
            "-e",
            help="YAML file of evidence keys and values, e.g. 'retention_months: 25'.",
        ),
    ],
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who attests the evidence (default: the current user)."),
    ] = None,
    document: Annotated[
        Path | None,
        typer.Option("--document", help="A supporting document, kept with its SHA-256."),
    ] = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Attest evidence for a stored audit: its evidence rules are evaluated again over
    the stored facts (no model, no data) and kept as a new evaluation."""
    from auditor.attest import attest
    from auditor.reevaluate import read_evidence_file
    from auditor.store import open_store
    from auditor.store.evidence_lookup import resolve_audit_id

    def run() -> AttestOutcome:
        values = read_evidence_file(evidence)
        attached = _document(document)
        store = open_store(db)
        try:
            with store.session() as session:
                full = resolve_audit_id(session, audit_id)
                return attest(
                    session,
                    full,
                    values,
                    attested_by=by or current_user(),
                    user=current_user(),
                    document=attached,
                    where=str(evidence),
                )
        finally:
            store.dispose()

    outcome = guard(run)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "audit_id": outcome.audit_id,
                    "evaluation": outcome.evaluation,
                    "attestation_id": outcome.attestation_id,
                    "result_sha256": outcome.result_sha256,
                    "document_sha256": outcome.document_sha256,
                    "findings": outcome.findings,
                    "changed": outcome.changed,
                }
            )
        )
        return
    out.print(
        f"Evaluation {outcome.evaluation} of audit {outcome.audit_id} stored "
        f"(attestation {outcome.attestation_id}; the model was not run again).",
        highlight=False,
    )
    if not outcome.changed:
        out.print("No finding changed status.", highlight=False)
    for change in outcome.changed:
        out.print(
            f"  {escape(change['rule_id'])} [{escape(change['scope'])}]: "
            f"{change['was'] or 'new'} -> {change['now']}",
            highlight=False,
        )
    out.print(
        f"Re-render the report with 'auditor report {outcome.audit_id}'; earlier "
        f"evaluations: 'auditor evaluations {outcome.audit_id}'.",
        highlight=False,
    )


def evaluations_cmd(
    audit_id: Annotated[str, typer.Argument(help="ID (or unique prefix) of a stored audit.")],
    number: Annotated[
        int | None,
        typer.Option(
            "--evaluation", "-n", min=1, help="Print this evaluation's findings (1: the run)."
        ),
    ] = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the evaluations of a stored audit (the run, then one per attestation), or
    print the findings of one of them."""
    from auditor.store import list_evaluations, load_result, open_store
    from auditor.store.evidence_lookup import resolve_audit_id

    def run() -> tuple[list[EvaluationRow], AuditResult | None]:
        store = open_store(db)
        try:
            with store.session() as session:
                full = resolve_audit_id(session, audit_id)
                rows = list_evaluations(session, full)
                chosen = load_result(session, full, evaluation=number) if number else None
                return rows, chosen
        finally:
            store.dispose()

    rows, chosen = guard(run)
    if chosen is not None:
        _print_findings(chosen, as_json)
        return
    if as_json:
        out.print_json(json.dumps([_row_dict(r) for r in rows]))
        return
    table = Table(title=f"Evaluations of audit {escape(audit_id)}")
    for column in ("#", "when (UTC)", "by", "attested", "fail", "needs attestation", "pass"):
        table.add_column(column)
    for r in rows:
        attested = "; ".join(f"{', '.join(a['keys'])} by {a['by']}" for a in r.attested) or (
            "the run" if r.number == 1 else ""
        )
        table.add_row(
            f"{r.number}{' (latest)' if r.latest else ''}",
            r.created_at.strftime("%Y-%m-%d %H:%M"),
            escape(r.user),
            escape(attested),
            str(r.findings["fail"]),
            str(r.findings["needs_attestation"]),
            str(r.findings["pass"]),
        )
    out.print(table)


def _row_dict(r: EvaluationRow) -> dict[str, object]:
    return {
        "evaluation": r.number,
        "created_at": r.created_at.isoformat(timespec="seconds"),
        "user": r.user,
        "result_sha256": r.result_sha256,
        "findings": r.findings,
        "attestations": r.attested,
        "latest": r.latest,
    }


def _print_findings(result: AuditResult, as_json: bool) -> None:
    if as_json:
        out.print_json(result.to_json())
        return
    table = Table(title=f"Evaluation {result.evaluation} of audit {result.audit_id}")
    for column in ("rule", "scope", "status", "observed"):
        table.add_column(column)
    for f in result.findings:
        table.add_row(escape(f.rule_id), escape(f.scope), f.status, escape(str(f.observed or "")))
    out.print(table)
    if result.attested:
        out.print("Attested evidence:", highlight=False)
        for a in result.attested:
            out.print(
                f"  {escape(a.key)} = {escape(json.dumps(a.value))} (by {escape(a.by)}, {a.at})",
                highlight=False,
            )


def signoff_cmd(
    audit_id: Annotated[str, typer.Argument(help="ID (or unique prefix) of a stored audit.")],
    report_id: Annotated[
        int, typer.Option("--report", min=1, help="The stored report to sign (its number).")
    ],
    by: Annotated[str, typer.Option("--by", help="The signer's name.")],
    role: Annotated[str, typer.Option("--role", help="The signer's role, e.g. 'CCO'.")],
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the signed copy's PDF here.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Sign a stored report: an event in the hash chain with the signer, role, time and
    the report's SHA-256, and a signed copy (the report with its sign-off block filled).
    A later attestation or re-render supersedes the sign-off ('auditor verify' says so)."""
    from auditor.signoff import SignedReport, sign_report
    from auditor.store import open_store
    from auditor.store.evidence_lookup import resolve_audit_id

    def run() -> SignedReport:
        store = open_store(db)
        try:
            with store.session() as session:
                full = resolve_audit_id(session, audit_id)
            signed = sign_report(store, full, report_id, signer=by, role=role, user=current_user())
        finally:
            store.dispose()
        if out_path is not None:
            _write(out_path, signed.artifact.pdf)
        return signed

    signed = guard(run)
    s = signed.signoff
    out.print(
        f"Report {s.report_id} of audit {s.audit_id} (SHA-256 {s.report_sha256}) signed by "
        f"{escape(s.signer)} ({escape(s.role)}) at {s.created_at.isoformat(timespec='seconds')}; "
        f"signed copy stored as report {s.signed_report_id} (SHA-256 {s.signed_sha256}).",
        highlight=False,
    )
    if out_path is not None:
        out.print(f"PDF: {escape(str(out_path))}", highlight=False)


def _write(path: Path, data: bytes) -> None:
    from auditor.service import move_into_place, stage_file

    move_into_place(stage_file(path, data), path)  # a failure is a user error (exit 2)
