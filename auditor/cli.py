"""The ``auditor`` command line: thin adapters over the Python API.

User errors (``AuditorError``) print one message and exit 2; ``--fail-on`` exits 1 when a
rule at or above that severity failed. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from auditor._cli_common import DbOption, err, guard, out
from auditor._cli_progress import step_progress
from auditor.cli_attest import attest_cmd, evaluations_cmd, signoff_cmd
from auditor.cli_audits import audits_app
from auditor.cli_lda import lda
from auditor.cli_letters_review import letters_app
from auditor.cli_ops import db_prune, history, schedule_app, scheduler
from auditor.cli_policies import policy_app
from auditor.cli_report import report
from auditor.cli_serve import serve, users_app
from auditor.cli_verify import verify_cmd
from auditor.result import FINDING_STATUSES, SEVERITIES, AuditResult
from auditor.screener_block import ScreenerSummary

app = typer.Typer(
    help="Fairness and compliance audits of automated credit and hiring decisions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from auditor._version import __version__

        out.print(f"auditor {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level",
            help="Log records at this level or above to standard error: debug, info, "
            "warning, error or critical (default: $AUDITOR_LOG_LEVEL, else warning).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Fairness and compliance audits of automated credit and hiring decisions."""
    from auditor.log_setup import configure_logging

    guard(lambda: configure_logging(log_level))


db_app = typer.Typer(help="Manage the audit database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policies")


@app.command()
def audit(
    spec: Annotated[Path, typer.Argument(help="Audit spec (YAML).", show_default=False)],
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the JSON result.")] = None,
    pdf_path: Annotated[Path | None, typer.Option("--pdf", help="Write the PDF report.")] = None,
    db: DbOption = None,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Do not write the database.")
    ] = False,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            help=f"Exit 1 if a rule of this severity or higher failed: {', '.join(SEVERITIES)}.",
        ),
    ] = None,
    fail_on_advisory: Annotated[
        bool,
        typer.Option(
            "--fail-on-advisory",
            help="With --fail-on: also exit 1 when the check of a guidance, proposed or "
            "advisory rule failed (such findings only warn).",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")] = False,
    engine: Annotated[
        str | None,
        typer.Option("--engine", help="Where the work runs: local or spark (default: the spec's)."),
    ] = None,
    chunk_rows: Annotated[
        int | None,
        typer.Option(
            "--chunk-rows", min=1, help="Stream the decisions in chunks of this many rows."
        ),
    ] = None,
    master: Annotated[
        str | None, typer.Option("--master", help="Spark master URL (with --engine spark).")
    ] = None,
    junit_path: Annotated[
        Path | None,
        typer.Option(
            "--junit",
            help="Write the findings as JUnit XML (one test case per finding) for CI systems.",
        ),
    ] = None,
    mlflow: Annotated[
        bool,
        typer.Option(
            "--mlflow",
            help="Log the audit to MLflow (the active run or a new one; $MLFLOW_TRACKING_URI): "
            "key ratios with intervals, finding counts, PDF/JSON/spec, digests as tags.",
        ),
    ] = False,
    allow_module: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-module",
            help="Python module (or module:Class) a spec's model.module may import; "
            "repeatable; adds to $AUDITOR_ALLOWED_MODULES. A spec alone can import none.",
        ),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            help="Host (or host:port) a screener audit's http/chat target may call; "
            "repeatable; adds to $AUDITOR_SCREENER_HOSTS. A spec alone can call none.",
        ),
    ] = None,
) -> None:
    """Run an audit: decisions, attributions, group metrics and policy findings.

    The audit and its PDF report are stored in the database (one transaction); --json and
    --pdf also write them to files.
    """
    if fail_on is not None and fail_on not in SEVERITIES:
        err.print(
            f"[bold red]error:[/] --fail-on must be one of {', '.join(SEVERITIES)}; "
            f"got '{fail_on}'."
        )
        raise typer.Exit(2)
    if engine is not None and engine not in ("local", "spark"):
        err.print(f"[bold red]error:[/] --engine must be local or spark; got '{engine}'.")
        raise typer.Exit(2)
    from auditor.service import perform_audit


    if mlflow:
        from auditor.mlflow_logging import require_mlflow

        guard(require_mlflow)  # before the audit runs, not after minutes of work

    def run() -> Any:
        from auditor.engine import with_engine

        source = with_engine(spec, engine, chunk_rows, master)
        if allow_module or allow_host:
            from auditor.spec import load_spec

            # for this spec only (and its Spark workers): nothing process-wide
            source = load_spec(source) if isinstance(source, Path) else source
            source.allow_modules(allow_module or [])
            source.allow_hosts(allow_host or [])
        with (
            step_progress(not quiet and err.is_terminal) as progress,
            _report_file(pdf_path, mlflow) as report_path,
        ):
            done = perform_audit(
                source,
                json_path=json_path,
                pdf_path=report_path,
                database_url=db,
                store=not no_store,
                progress=progress,
                fast_render=True,  # this process only renders this one report
            )
            if junit_path is not None:
                from auditor.junit import write_junit

                write_junit(done.result, junit_path)
            if mlflow and report_path is not None:
                from auditor.mlflow_logging import log_to_mlflow

                if progress:
                    progress("log to MLflow")
                run_id = log_to_mlflow(done.result, pdf=report_path)
                if not quiet:
                    err.print(f"MLflow run: {run_id}", highlight=False)
            return done if report_path == pdf_path else replace(done, pdf_path=pdf_path)

    outcome = guard(run)
    if junit_path is not None and not quiet:
        out.print(f"JUnit: {junit_path}", highlight=False)
    if not quiet:
        _print_summary(outcome.result)
        for label, value in (
            ("JSON", outcome.json_path),
            ("PDF", outcome.pdf_path),
            ("database", outcome.database),
        ):
            if value:
                out.print(f"{label}: {value}", highlight=False)
    if fail_on is not None:
        _gate(outcome.result, fail_on, fail_on_advisory, quiet)


@contextmanager
def _report_file(pdf_path: Path | None, needed: bool) -> Iterator[Path | None]:
    """Where the PDF goes: ``--pdf``'s file, or a temporary one when MLflow needs it."""
    if pdf_path is not None or not needed:
        yield pdf_path
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="auditor-report-") as tmp:
        yield Path(tmp) / "report.pdf"


def _gate(result: AuditResult, fail_on: str, include_advisory: bool, quiet: bool) -> None:
    """Exit 1 as ``--fail-on`` asks; never pass quietly over checks that failed but warn."""
    failed = result.failed(fail_on)  # type: ignore[arg-type]  # checked against SEVERITIES
    flagged = result.advisory_failed(fail_on)  # type: ignore[arg-type]
    if failed and not quiet:
        err.print(f"{len(failed)} finding(s) failed at severity {fail_on} or above.")
    if flagged:
        # a disparity screen whose legal basis is guidance on the audit date (UGESP, the
        # Reg B effects test after 2026-07-21) warns; a CI gate must not hide that (issue 17)
        first = flagged[0]
        err.print(
            f"[bold yellow]warning:[/] {len(flagged)} finding(s) at severity {fail_on} or "
            "above failed their check but only warn, because the rule is guidance, proposed "
            f"law or advisory on the audit date (first: {escape(first.rule_id)} "
            f"{escape(first.scope)}, {first.rule_status}). "
            + (
                "--fail-on-advisory counts them."
                if not include_advisory
                else "--fail-on-advisory counts them: exit 1."
            ),
            highlight=False,
        )
    if failed or (include_advisory and flagged):
        raise typer.Exit(1)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for models, specs, PDFs.")] = Path(
        "demo"
    ),
    db: DbOption = None,
    seed: Annotated[int, typer.Option(help="Seed for model training.")] = 0,
) -> None:
    """Train a LightGBM credit model and a PyTorch hiring model, audit both, store both."""
    from auditor.demo_runner import ll144_path, run_demo

    cases = guard(lambda: run_demo(out_dir, database_url=db, seed=seed, console=err))
    _findings_table("Demo audits", [c.result for c in cases])
    for case in cases:
        out.print(f"PDF report: {case.pdf_path}", highlight=False, soft_wrap=True)
    summary = ll144_path(out_dir, cases[1].result.name)
    out.print(
        f"NYC LL144 summary: {summary} (companion JSON beside it)", highlight=False, soft_wrap=True
    )
    out.print(f"Both audits are stored in {cases[0].database}.", highlight=False)
    out.print(
        f"Specs, models and JSON results are in {out_dir}/; open the PDFs to read the reports.",
        highlight=False,
    )
    out.print(
        f"Search for a less discriminatory alternative: auditor lda {out_dir}/hiring_audit.yaml",
        highlight=False,
        soft_wrap=True,
    )
    out.print(
        f"Audit a text screener with paired name, pronoun and age probes: auditor audit "
        f"{out_dir}/screener_audit.yaml (clean twin: {out_dir}/screener_audit_clean.yaml)",
        highlight=False,
        soft_wrap=True,
    )


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create the database or upgrade it to the latest schema."""
    from auditor.store import open_store

    store = guard(lambda: open_store(db))
    out.print(f"{store.url} is at schema revision {store.head_revision()}.", highlight=False)
    store.dispose()


_SHORT = {
    "insufficient_evidence": "insufficient",
    "needs_attestation": "attest",
    "not_applicable": "n/a",
}


def _findings_table(title: str, results: list[AuditResult]) -> None:
    """Findings per status, one row per audit."""
    table = Table(title=title, title_justify="left")
    table.add_column("audit", no_wrap=True)
    for status in FINDING_STATUSES:
        table.add_column(_SHORT.get(status, status), justify="right")
    for r in results:
        counts = r.findings_by_status()
        table.add_row(r.name, *(str(counts[s]) for s in FINDING_STATUSES))
    out.print(table)


def _screener_extras(sc: ScreenerSummary) -> list[str]:
    """Repeat consistency (stochastic screeners), whether each name finding runs through a
    field, and top-k exposure (rankers): what the summary shows besides the findings."""
    lines = []
    cs = sc.consistency
    if cs and cs.get("units"):
        flips = cs.get("decision_flip_share")
        lines.append(
            f"Repeats: {cs['units']:,} variants scored {cs['repeats']} times each; score SD "
            f"across repeats {cs['mean_sd']:.4f} on average, {cs['max_sd']:.4f} at most"
            + ("" if flips is None else f"; decisions flip for {flips:.1%} of variants")
        )
    for probe in sc.sections.get("probes", ()):
        lines.append(f"Through a field? {probe['contrast']}: {probe['reading']}")
    if sc.exposure:
        k, pool = sc.exposure[0]["k"], sc.exposure[0]["pool_size"]
        low = sorted(sc.exposure, key=lambda x: float(x["exposure_ratio"]))[:3]
        lines.append(
            f"Top-{k} exposure (of {pool:,} name variants), lowest: "
            + "; ".join(
                f"{x['attribute']} = {x['group']} {float(x['exposure_ratio']):.3f}" for x in low
            )
        )
    return lines


def _print_summary(result: AuditResult) -> None:
    _findings_table(f"Findings of audit {result.audit_id}", [result])
    if result.screener is not None:
        sc = result.screener
        found = sc.findings()
        out.print(
            f"Paired probes: {len(found)} of {sc.comparisons} contrasts have an effect "
            f"(interval excludes 0; any false finding at most {sc.alpha:g})"
            + "".join(
                f"\n  {e.probe}: {e.attribute} = {e.group} vs {e.reference}: "
                f"{e.mean_difference:+.4f} [{e.ci_low:+.4f}, {e.ci_high:+.4f}]"
                for e in found[:8]
            ),
            highlight=False,
            soft_wrap=True,
        )
        for line in _screener_extras(sc):
            out.print(line, highlight=False, soft_wrap=True)
    for w in result.warnings:
        err.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)


# commands defined in their own modules
app.add_typer(audits_app, name="audits")
app.add_typer(schedule_app, name="schedule")
app.command("scheduler")(scheduler)
app.command("history")(history)
db_app.command("prune")(db_prune)
app.command("report")(report)
app.command("serve")(serve)
app.add_typer(users_app, name="users")
app.add_typer(letters_app, name="letters")
app.command("lda")(lda)
app.command("verify")(verify_cmd)
app.command("attest")(attest_cmd)
app.command("evaluations")(evaluations_cmd)
app.command("signoff")(signoff_cmd)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
