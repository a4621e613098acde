"""``auditor report``: re-render a stored audit's report from the database.

Register it in ``auditor/cli.py`` (after ``app`` is created)::

    from auditor.cli_report import report

    app.command("report")(report)

The report is rendered from the stored :class:`~auditor.result.AuditResult` alone (no
model, no data), in the chosen preset, and stored as a new report row (stored reports
are never updated in place). ``--out`` writes the PDF atomically, after the database
committed; the ``ll144`` preset also writes its companion JSON beside it
(``ll144.pdf`` -> ``ll144.json``). Exit codes: 0 success; 2 a user error (unknown audit id
or preset, unwritable file, unreadable store, an LL144 summary missing a required fact).
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from auditor._cli_common import DbOption, err, guard, out
from auditor.report.presets import PRESETS

if TYPE_CHECKING:
    from auditor.report import ReportArtifact


def rerender_report(
    audit_id: str,
    *,
    preset: str = "full",
    out_path: Path | None = None,
    database_url: str | None = None,
    user: str | None = None,
) -> ReportArtifact:
    """Render the stored result of ``audit_id`` in ``preset`` and store it as a new report.

    Loading, rendering and storing happen in one transaction: a render or storage error
    stores nothing. The trend subsection uses the stored runs that started before this
    audit, so a re-render of an old audit shows the trend as it stood then. ``out_path``
    is written (atomically) only after the commit; the summary shows the audit's stored
    letter batches (issued, held, blocked, hold rate); an unknown audit id raises
    :class:`~auditor.errors.StorageError`.
    """
    from auditor.lda.evidence import stored_record_for
    from auditor.report import build_report
    from auditor.report.render import companion_path
    from auditor.service import TREND_RUNS, move_into_place, stage_file
    from auditor.store import (
        add_report,
        load_earlier_runs,
        load_letter_batches,
        load_result,
        open_store,
    )

    store = open_store(database_url)
    staged: list[tuple[Path, Path]] = []  # (temporary file, final path)
    try:
        with store.session() as session:
            from auditor.store.search import resolve_stored_id

            audit_id = resolve_stored_id(session, audit_id)  # the short id history prints
            result = load_result(session, audit_id)
            # the runs before this audit only: a re-render shows the trend as it stood then
            history = load_earlier_runs(session, result, limit=TREND_RUNS)
            # letters are issued after the audit: a re-render shows their batches' counts
            batches = load_letter_batches(session, audit_id)
            # the search the audit read when it ran (none: no subsection, as then)
            lda = stored_record_for(session, result)
            artifact = build_report(
                result, preset=preset, history=history, letters=batches, lda=lda
            )
            if out_path is not None:
                staged.append((stage_file(out_path, artifact.pdf), out_path))
                if artifact.companion is not None:  # the LL144 summary's JSON, beside it
                    json_path = companion_path(out_path)
                    staged.append((stage_file(json_path, artifact.companion.encode()), json_path))
            add_report(session, audit_id, artifact, user=user or _user(), result=result)
        while staged:
            tmp, final = staged.pop()
            move_into_place(tmp, final)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        store.dispose()
    return artifact


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def report(
    audit_id: Annotated[
        str,
        typer.Argument(
            help="ID of a stored audit, or its short id (a unique prefix).", show_default=False
        ),
    ],
    preset: Annotated[
        str,
        typer.Option(
            "--preset",
            "-p",
            help="Report layout: "
            + "; ".join(f"{k} ({v.description})" for k, v in PRESETS.items())
            + ".",
        ),
    ] = "full",
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the PDF to this file.")
    ] = None,
    db: DbOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")] = False,
) -> None:
    """Re-render a stored audit's report (without the model or the data) and store it."""
    if preset not in PRESETS:
        err.print(
            f"[bold red]error:[/] --preset must be one of {', '.join(PRESETS)}; "
            f"got '{escape(preset)}'.",
            highlight=False,
        )
        raise typer.Exit(2)
    from auditor._cli_progress import step_progress

    def run() -> ReportArtifact:
        from auditor.report.speedups import render_speedups

        with render_speedups():  # the CLI process renders this one report
            return rerender_report(audit_id, preset=preset, out_path=out_path, database_url=db)

    with step_progress(not quiet and err.is_terminal) as progress:
        if progress:
            progress("render report")
        outcome = guard(run)
    if not quiet:
        out.print(
            f"Report of audit {escape(audit_id)} ({preset}) stored, SHA-256 {outcome.sha256}.",
            highlight=False,
        )
        if out_path is not None:
            out.print(f"PDF: {escape(str(out_path))}", highlight=False)
            if outcome.companion is not None:
                from auditor.report.render import companion_path

                json_path = companion_path(out_path)
                out.print(f"Companion JSON: {escape(str(json_path))}", highlight=False)
