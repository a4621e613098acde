"""``auditor letters``: per-decision letters for a stored audit.

Registered in ``auditor/cli.py`` with ``app.command("letters")(letters)``. The batch
logic is :func:`auditor.letters.service.issue_letters` (the web UI calls it too).
Exit codes: 0 every letter issued; 1 some letters were blocked by a content check (their
failures are printed and stored); 2 a user error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from auditor._cli_common import DbOption, err, guard, out

if TYPE_CHECKING:
    from auditor.letters.record import IssuedLetter


def letters(
    audit_id: Annotated[
        str,
        typer.Argument(
            help="ID of a stored audit, or its short id (a unique prefix).", show_default=False
        ),
    ],
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind", "-k", help="reg_b, gdpr, ai_act or hiring (default: the spec's first)."
        ),
    ] = None,
    decisions: Annotated[
        str, typer.Option("--decisions", help="adverse, all, or decision ids separated by commas.")
    ] = "adverse",
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write one PDF per issued letter here.")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write one JSON record per letter to this file.")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Render on this many processes.")
    ] = 1,
    recipients: Annotated[
        Path | None,
        typer.Option(
            "--recipients",
            help="CSV of decision_id, name, address_1..address_6: address the letters "
            "(printed in the letters only, never stored apart).",
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="local (the stored decisions) or spark (the audited data, read with Spark; "
            "default for an audit run on Spark).",
        ),
    ] = None,
    master: Annotated[
        str | None, typer.Option("--master", help="Spark master URL (with --engine spark).")
    ] = None,
    db: DbOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")] = False,
) -> None:
    """Issue explanation letters for the decisions of a stored audit, and store them."""
    from auditor.letters.recipients import read_recipients
    from auditor.letters.service import issue_letters
    from auditor.store import open_store

    with Progress(
        TextColumn("letters"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        disable=quiet,
        transient=True,
    ) as bar:
        task = bar.add_task("render", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        def run() -> list[IssuedLetter]:
            addressed = read_recipients(recipients) if recipients is not None else None
            store = open_store(db)
            try:
                with store.session() as session:
                    from auditor.store.search import resolve_stored_id

                    full_id = resolve_stored_id(session, audit_id)  # short ids work too
                return issue_letters(
                    store,
                    full_id,
                    kind=kind,
                    decisions=decisions,
                    out_dir=out_dir,
                    json_path=json_path,
                    progress=step,
                    workers=workers,
                    recipients=addressed,
                    engine=engine,
                    master=master,
                )
            finally:
                store.dispose()

        issued = guard(run)
    blocked = [lt for lt in issued if lt.record.status == "blocked"]
    held = [lt for lt in issued if lt.record.status == "needs_review"]
    if not quiet:
        out.print(
            f"{len(issued) - len(blocked) - len(held)} letter(s) issued, {len(blocked)} "
            f"blocked by a content check, {len(held)} held for human review (unstable "
            f"reasons), for audit {escape(audit_id)}.",
            highlight=False,
        )
    if not quiet:
        from auditor.letters.review import hold_summary

        summary = hold_summary([lt.record for lt in issued])
        if summary["reviewed"]:
            out.print(
                f"Review: {summary['held']} of {summary['reviewed']} adverse letter(s) held "
                f"(hold rate {summary['hold_rate']:.1%}); {summary['held_near_tie']} of the "
                "held are near ties (the principal reason's lead within twice its median "
                "change under the noise).",
                highlight=False,
            )
    for lt in held[:20]:
        share = lt.record.review["changed_share"] if lt.record.review is not None else 0.0
        err.print(
            f"review {escape(lt.record.decision_id)}: its principal reason changed "
            f"in {share:.0%} of copies of its inputs with plausible measurement noise",
            highlight=False,
            soft_wrap=True,
        )
    for lt in blocked[:20]:
        err.print(
            f"blocked {escape(lt.record.decision_id)}: {escape(str(lt.record.failure))}",
            highlight=False,
            soft_wrap=True,
        )
    if blocked or held:
        raise typer.Exit(1)
