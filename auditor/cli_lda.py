"""``auditor lda``: search for less discriminatory alternatives and write the record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from auditor._cli_common import DbOption, err, guard, out


def lda(
    spec: Annotated[Path, typer.Argument(help="Audit spec (YAML) with a training: section.")],
    tolerance: Annotated[
        float,
        typer.Option("--tolerance", min=0.0, max=0.5, help="AUC an alternative may lose."),
    ] = 0.01,
    budget: Annotated[
        int, typer.Option("--budget", min=1, max=500, help="Candidates tried at most.")
    ] = 16,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the record to this file.")
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
    """
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
        if store or db is not None:
            from auditor.lda.store import store_record

            where = store_record(record, db)
            out.print(f"record stored in {escape(where)} (event lda_search)", highlight=False)
        _summary(record)
        out.print(f"record: {escape(str(result.files['record']))}", highlight=False)

    guard(run)


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
    if not rec["holdout_confirms"]:
        out.print(
            "[bold yellow]the held-out split does not confirm it[/] (the AUC loss exceeds "
            "the tolerance there, or the worst ratio is not higher than the baseline's)",
            highlight=False,
        )
    out.print(f"reproduce: {escape(str(rec['reproduce']))}", highlight=False)


def _f(v: object) -> str:
    return "n/a" if not isinstance(v, int | float) else f"{v:.3f}"
