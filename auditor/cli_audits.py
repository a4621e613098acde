"""``auditor audits list``: search the stored audits (by name, model, date and status)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from auditor._cli_common import DbOption, err, guard, out
from auditor.result import FINDING_STATUSES

audits_app = typer.Typer(help="Search the stored audits.", no_args_is_help=True)


def _date(value: str | None, flag: str) -> datetime | None:
    """A date or date-time from the command line (UTC unless it names its offset)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        err.print(
            f"[bold red]error:[/] {flag} must be a date (2026-11-30) or a date and time "
            f"(2026-11-30T14:00); got '{escape(value)}'.",
            highlight=False,
        )
        raise typer.Exit(2) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@audits_app.command("list")
def audits_list(
    name: Annotated[
        str | None, typer.Option("--name", help="Part of the audit's name (any case).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Start of the model's SHA-256, or part of its path."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Audits started on or after this date (UTC).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Audits started before this date (UTC).")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help=f"Audits with at least one finding of this status: {', '.join(FINDING_STATUSES)}.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line instead of a table.")
    ] = False,
    db: DbOption = None,
) -> None:
    """List stored audits, newest first, with their short ids and findings by status."""
    from auditor.store import open_store
    from auditor.store.search import SHORT_ID, search_audits

    start, end = _date(since, "--since"), _date(until, "--until")

    def find() -> list:  # type: ignore[type-arg]
        store = open_store(db)
        try:
            with store.session() as session:
                return search_audits(
                    session,
                    name=name,
                    model=model,
                    since=start,
                    until=end,
                    status=status,
                    limit=limit,
                )
        finally:
            store.dispose()

    found = guard(find)
    if as_json:
        for m in found:
            r = m.row
            line = {
                "audit_id": r.id,
                "short_id": r.id[:SHORT_ID],
                "name": r.name,
                "domain": r.domain,
                "started_at": r.created_at.isoformat(),
                "model": m.model,
                "model_sha256": r.model_sha256,
                "findings": dict(r.findings),
            }
            out.print_json(json.dumps(line), indent=None)
        return
    if not found:
        out.print("No stored audit matches.")
        return
    table = Table(title=f"Stored audits ({len(found)})", title_justify="left")
    for column in ("id", "started (UTC)", "name", "model", "fail", "warn", "pass"):
        table.add_column(column, overflow="fold")
    for m in found:
        r = m.row
        table.add_row(
            r.id[:SHORT_ID],
            r.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            escape(r.name),
            escape(m.model),
            str(r.findings.get("fail", 0)),
            str(r.findings.get("warn", 0)),
            str(r.findings.get("pass", 0)),
        )
    out.print(table)
