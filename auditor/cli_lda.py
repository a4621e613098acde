"""``auditor lda``: search for less discriminatory alternatives and write the record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from auditor._cli_common import DbOption, err, guard, out


def lda(
    spec: Annotated[
        Path | None,
        typer.Argument(help="Audit spec (YAML) with a training: section (not with --record)."),
    ] = None,
    tolerance: Annotated[
        float | None,
        typer.Option(
            "--tolerance",
            min=0.0,
            help="AUC an alternative may lose (default 0.01, or training.tolerance); with "
            "training.tolerance_on, the most the chosen business measure may worsen.",
        ),
    ] = None,
    budget: Annotated[
        int, typer.Option("--budget", min=1, max=500, help="Candidates tried at most.")
    ] = 16,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the record to this file.")
    ] = None,
    pdf_path: Annotated[
        Path | None,
        typer.Option(
            "--pdf",
            help="Write the search's standalone document (PDF): every candidate, the "
            "frontier chart, the recommendation, digests and legal caveats.",
        ),
    ] = None,
    record_path: Annotated[
        Path | None,
        typer.Option(
            "--record",
            help="Render --pdf from this lda_record.json instead of running a search.",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder for the record, models and held-out rows (default: lda/NAME)."
        ),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", min=1, max=64, help="Worker processes fitting candidates (same results)."
        ),
    ] = 2,
    db: DbOption = None,
    store: Annotated[
        bool, typer.Option("--store/--no-store", help="Append the record to the database.")
    ] = False,
) -> None:
    """Search for a less discriminatory alternative to the audited model.

    Candidates aimed at the features carrying the gap are fitted and compared on a search
    split, then the frontier is judged on a held-out split. Writes lda_record.json, the
    frontier's models (with SHA-256) and an audit spec reproducing the recommendation.
    A stored record (--store or --db) is read by later audits of the same model: the
    report summarises it and the packs cite it as evidence.
    """
    if (spec is None) == (record_path is None):
        err.print("[bold red]error:[/] give a spec to search, or --record FILE with --pdf.")
        raise typer.Exit(2)
    if record_path is not None:
        if pdf_path is None:
            err.print("[bold red]error:[/] --record renders a document: give --pdf FILE too.")
            raise typer.Exit(2)
        guard(lambda: _from_record(record_path, pdf_path))
        return
    assert spec is not None
    from auditor.lda import SearchOptions, search_alternatives

    def run() -> None:
        result = search_alternatives(
            spec,
            options=SearchOptions(tolerance=tolerance, budget=budget, jobs=jobs),
            out_dir=out_dir,
            progress=lambda m: err.print(f"[dim]{escape(m)}[/]", highlight=False),
        )
        record = result.record
        if json_path is not None:
            json_path.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
        if pdf_path is not None:
            _write_pdf(record, pdf_path)
        if store or db is not None:
            from auditor.lda.store import store_record

            where = store_record(record, db)
            out.print(f"record stored in {escape(where)} (event lda_search)", highlight=False)
        _summary(record)
        out.print(f"record: {escape(str(result.files['record']))}", highlight=False)
        if pdf_path is not None:
            out.print(f"PDF: {escape(str(pdf_path))}", highlight=False)

    guard(run)


def _from_record(record_path: Path, pdf_path: Path) -> None:
    from auditor.lda.document import read_record

    _write_pdf(read_record(record_path), pdf_path)
    out.print(f"PDF: {escape(str(pdf_path))}", highlight=False)


def _write_pdf(record: dict[str, Any], pdf_path: Path) -> None:
    from auditor.lda.document import render_lda_pdf
    from auditor.service import move_into_place, stage_file

    err.print("[dim]rendering the search document[/]", highlight=False)
    # staged beside the target, then moved: no half-written PDF on failure
    move_into_place(stage_file(pdf_path, render_lda_pdf(record)), pdf_path)


def _summary(record: dict[str, object]) -> None:
    candidates = record["candidates"]
    assert isinstance(candidates, list)
    out.print(f"{len(candidates) - 1} candidates tried ({record['stopped']})", highlight=False)
    rec = record["recommended"]
    if not isinstance(rec, dict):
        out.print(
            f"no recommendation: {escape(str(record['no_recommendation_reason']))}", highlight=False
        )
        return
    worst, base = rec["holdout_worst_ratio"], rec["holdout_baseline_worst_ratio"]
    out.print(f"recommended: {escape(str(rec['id']))}", highlight=False)
    if worst and base:
        out.print(
            f"held-out worst {worst['metric'].replace('_', ' ')} {worst['value']:.3f} "
            f"[{_f(worst['ci_low'])}, {_f(worst['ci_high'])}] ({escape(worst['group'])}) "
            f"against the baseline's {base['value']:.3f} ({escape(base['group'])}); "
            f"AUC change {rec['holdout_auc_change']:+.4f}",
            highlight=False,
        )
    smd, base_smd = rec.get("holdout_worst_smd"), rec.get("holdout_baseline_worst_smd")
    if smd and base_smd:
        out.print(
            f"held-out most negative score SMD {smd['value']:+.3f} "
            f"[{_f(smd['ci_low'])}, {_f(smd['ci_high'])}] ({escape(smd['attribute'])}="
            f"{escape(smd['group'])}) against the baseline's {base_smd['value']:+.3f}",
            highlight=False,
        )
    counts = (rec.get("holdout_verdicts") or {}).get("counts")
    if counts:
        shown = ", ".join(f"{n} {status}" for status, n in counts.items())
        out.print(f"packs' ratio rules on the held-out split: {escape(shown)}", highlight=False)
    business = rec.get("holdout_business") or {}
    if business.get("bad_rate") is not None:
        line = (
            f"held-out {business['rate_name']} among approved {business['bad_rate']:.3f} "
            f"[{_f((business.get('bad_rate_ci') or [None])[0])}, "
            f"{_f((business.get('bad_rate_ci') or [None, None])[1])}]"
        )
        if business.get("bad_rate_change") is not None:
            line += f", change {business['bad_rate_change']:+.3f} against the baseline"
        if business.get("expected_loss_change") is not None:
            line += (
                f"; expected loss per application {business['expected_loss']:+.3f}, "
                f"change {business['expected_loss_change']:+.3f}"
            )
        out.print(escape(line), highlight=False)
    if not rec["holdout_confirms"]:
        out.print(
            "[bold yellow]the held-out split does not confirm it[/] (it is outside the "
            "tolerance there, or the worst ratio is not higher than the baseline's)",
            highlight=False,
        )
    out.print(f"reproduce: {escape(str(rec['reproduce']))}", highlight=False)


def _f(v: object) -> str:
    return "n/a" if not isinstance(v, int | float) else f"{v:.3f}"
