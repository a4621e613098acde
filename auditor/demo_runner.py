"""Run the two demo audits with progress bars (used by ``auditor demo``)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from auditor.cli_report import rerender_report
from auditor.demo import prepare_credit, prepare_hiring, prepare_screeners
from auditor.service import AuditOutcome, perform_audit

HIRING_EPOCHS = 40
SCREENER_TRAINING = 3000  # training applications of each sample text screener


def run_demo(
    out_dir: Path, *, database_url: str | None, seed: int, console: Console
) -> list[AuditOutcome]:
    """Train both models, audit both, store both, write PDFs and JSON into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(
        *columns, console=console, transient=False, disable=not console.is_terminal
    ) as progress:
        task = progress.add_task("Training LightGBM on German credit", total=1)
        credit = prepare_credit(out_dir, seed=seed)
        progress.advance(task)
        task = progress.add_task("Training PyTorch MLP on hiring data", total=HIRING_EPOCHS)
        hiring = prepare_hiring(
            out_dir, seed=seed, epochs=HIRING_EPOCHS, on_epoch=lambda: progress.advance(task)
        )
        # issue 23: the two sample text screeners and their screener-audit specs
        # (demo/screener_audit.yaml and its clean twin; `auditor audit` runs them as is)
        task = progress.add_task("Training the sample text screeners", total=1)
        prepare_screeners(out_dir, seed=seed, n_train=SCREENER_TRAINING)
        progress.advance(task)
        outcomes = []
        for case in (credit, hiring):
            stages = [
                "load policies",
                "load data",
                "load model",
                "score",
                "explain",
                "measure",
                "check policies",
                "render report",
                "store",
            ]
            task = progress.add_task(f"Auditing {case.name}", total=len(stages))

            def step(stage: str, task: TaskID = task, name: str = case.name) -> None:
                progress.update(task, description=f"Auditing {name}: {stage}")
                progress.advance(task)

            outcomes.append(
                perform_audit(
                    case.spec_path,
                    json_path=out_dir / f"{case.name}.json",
                    pdf_path=out_dir / f"{case.name}.pdf",
                    database_url=database_url,
                    progress=step,
                )
            )
        # the hiring audit's public NYC LL144 summary (+ companion JSON), stored as a report
        hiring_outcome = outcomes[1]
        rerender_report(
            hiring_outcome.result.audit_id,
            preset="ll144",
            out_path=ll144_path(out_dir, hiring.name),
            database_url=database_url,
        )
    return outcomes


def ll144_path(out_dir: Path, name: str) -> Path:
    """Where the demo writes an audit's LL144 summary (its JSON goes beside it)."""
    return out_dir / f"{name}-ll144.pdf"
