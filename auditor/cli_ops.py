"""Operations commands: schedules, the scheduler loop, metric history, retention pruning.

Register them in ``auditor/cli.py`` (after ``app`` and ``db_app`` are created)::

    from auditor.cli_ops import db_prune, history, schedule_app, scheduler

    app.add_typer(schedule_app, name="schedule")
    app.command("scheduler")(scheduler)
    app.command("history")(history)
    db_app.command("prune")(db_prune)

Exit codes follow ``auditor``'s: 0 success; 1 ``schedule run-due`` ran an audit that
failed; 2 a user error (unknown schedule, bad cron expression, bad retention setting).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from auditor._cli_common import DbOption, err, guard, out

if TYPE_CHECKING:
    from auditor.history import Trend, TrendPoint
    from auditor.schedule import RunRecord
    from auditor.store import PruneReport, Store

schedule_app = typer.Typer(
    help="Run audits on a schedule (cron expressions, UTC).", no_args_is_help=True
)


@contextmanager
def _opened(db: str | None) -> Iterator[Store]:
    from auditor.store import open_store

    store = guard(lambda: open_store(db))
    try:
        yield store
    finally:
        store.dispose()


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "-"


def _print_run(record: RunRecord) -> None:
    took = f"{record.duration_s:.1f}s" if record.duration_s is not None else "-"
    if record.status == "completed":
        out.print(
            f"{record.schedule}: completed in {took}, audit {record.audit_id}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        err.print(
            f"[red]{escape(record.schedule)}: {record.status} after {took}:[/] "
            f"{escape(record.error or '')}",
            highlight=False,
            soft_wrap=True,
        )


@schedule_app.command("add")
def schedule_add(
    name: Annotated[str, typer.Argument(help="Schedule name (letters, digits, _ . -).")],
    spec: Annotated[Path, typer.Option("--spec", help="Audit spec (YAML).", show_default=False)],
    cron: Annotated[str, typer.Option("--cron", help='Cron expression in UTC, e.g. "0 6 * * 1".')],
    db: DbOption = None,
) -> None:
    """Add a schedule; its first run is the next fire time."""
    from auditor.schedule import add_schedule

    with _opened(db) as store:
        info = guard(lambda: add_schedule(store, name, spec, cron))
    out.print(
        f"Schedule {info.name} added: {info.cron}, next run {_when(info.next_run_at)}.",
        highlight=False,
    )


@schedule_app.command("list")
def schedule_list(db: DbOption = None) -> None:
    """List schedules with their next run and the status of their last run."""
    from auditor.schedule import list_schedules

    with _opened(db) as store:
        infos = guard(lambda: list_schedules(store))
    if not infos:
        out.print("No schedules.")
        return
    table = Table(title="Schedules", title_justify="left")
    for column in ("name", "cron", "enabled", "next run", "last run", "last status", "spec"):
        table.add_column(column, overflow="fold")
    for i in infos:
        table.add_row(
            i.name,
            i.cron,
            "yes" if i.enabled else "paused",
            _when(i.next_run_at),
            _when(i.last_run_at),
            i.last_status or "-",
            i.spec_path,
        )
    out.print(table)


@schedule_app.command("remove")
def schedule_remove(
    name: Annotated[str, typer.Argument(help="Schedule name.")], db: DbOption = None
) -> None:
    """Remove a schedule and its run history (the audits it produced are kept)."""
    from auditor.schedule import remove_schedule

    with _opened(db) as store:
        guard(lambda: remove_schedule(store, name))
    out.print(f"Schedule {name} removed.", highlight=False)


@schedule_app.command("pause")
def schedule_pause(
    name: Annotated[str, typer.Argument(help="Schedule name.")], db: DbOption = None
) -> None:
    """Stop running a schedule until it is resumed."""
    from auditor.schedule import set_enabled

    with _opened(db) as store:
        guard(lambda: set_enabled(store, name, False))
    out.print(f"Schedule {name} paused.", highlight=False)


@schedule_app.command("resume")
def schedule_resume(
    name: Annotated[str, typer.Argument(help="Schedule name.")], db: DbOption = None
) -> None:
    """Resume a paused schedule from its next fire time (missed runs are not caught up)."""
    from auditor.schedule import set_enabled

    with _opened(db) as store:
        info = guard(lambda: set_enabled(store, name, True))
    out.print(f"Schedule {name} resumed; next run {_when(info.next_run_at)}.", highlight=False)


@schedule_app.command("runs")
def schedule_runs(
    name: Annotated[str | None, typer.Argument(help="Only this schedule.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs, newest first.", min=1)] = 20,
    db: DbOption = None,
) -> None:
    """Show the run history: status, duration, error and the audit each run stored."""
    from auditor.schedule import list_runs

    with _opened(db) as store:
        records = guard(lambda: list_runs(store, name, limit=limit))
    if not records:
        out.print("No runs.")
        return
    table = Table(title="Schedule runs", title_justify="left")
    for column in ("schedule", "slot", "started", "status", "duration", "audit", "error"):
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(
            r.schedule,
            _when(r.scheduled_for),
            _when(r.started_at),
            r.status,
            f"{r.duration_s:.1f}s" if r.duration_s is not None else "-",
            r.audit_id or "-",
            r.error or "",
        )
    out.print(table)


@schedule_app.command("run-due")
def schedule_run_due(db: DbOption = None) -> None:
    """Run every due schedule once, then exit (for system cron or a Kubernetes CronJob).

    Safe to start several at once: each due run is claimed by exactly one process.
    Runs missed during downtime are run once. Exits 1 if any audit failed.
    """
    from auditor.schedule import run_due

    with _opened(db) as store:
        records = guard(lambda: run_due(store))
    if not records:
        out.print("Nothing due.")
    for record in records:
        _print_run(record)
    if any(r.status != "completed" for r in records):
        raise typer.Exit(1)


def scheduler(
    db: DbOption = None,
    poll: Annotated[
        float,
        typer.Option(
            "--poll", help="Check for new or changed schedules at least this often (s).", min=0.1
        ),
    ] = 30.0,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            help="Serve Prometheus /metrics on this port (runs, failures, durations, latest "
            "ratios per schedule); $AUDITOR_METRICS_TOKEN, if set, is required as a Bearer token.",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Address /metrics listens on.")
    ] = "127.0.0.1",
) -> None:
    """Run schedules until stopped; SIGTERM or Ctrl-C finish the current run, then exit 0."""
    from auditor.schedule import run_scheduler
    from auditor.settings import load_settings

    with _opened(db) as store:
        server = None
        if metrics_port is not None:
            from auditor.monitoring import serve_metrics

            token = load_settings().metrics_token  # $AUDITOR_METRICS_TOKEN
            server = guard(lambda: serve_metrics(store, metrics_host, metrics_port, token=token))
            port = server.server_address[1]
            err.print(f"metrics on http://{metrics_host}:{port}/metrics", highlight=False)
        err.print(f"scheduler started on {store.url}; SIGTERM or Ctrl-C to stop", highlight=False)
        try:
            count = guard(lambda: run_scheduler(store, poll_s=poll, on_run=_print_run))
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
    err.print(f"scheduler stopped after {count} run(s)", highlight=False)


def _cell(point: TrendPoint | None) -> str:
    if point is None or point.value is None:
        return "-"
    text = f"{point.value:.3f}"
    if point.change is not None and point.change != 0:
        text += f" ({point.change:+.3f})"
    if point.flags:
        text = f"[bold red]{text} ![/]"
    return text


def _print_trend(trend: Trend, show_all: bool) -> None:
    from auditor.history import SHARE_SHIFT

    table = Table(title=f"History of {trend.name}", title_justify="left")
    table.add_column("metric", no_wrap=True)
    for run in trend.runs:
        table.add_column(f"{run.started_at[:16].replace('T', ' ')}\n{run.audit_id[:8]}")
    rows = [s for s in trend.series if show_all or s.flagged or s.metric != "selection_rate"]
    for s in rows:
        by_id = {p.audit_id: p for p in s.points}
        table.add_row(escape(s.label), *(_cell(by_id.get(r.audit_id)) for r in trend.runs))
    out.print(table)
    flagged = trend.flagged()
    if not flagged:
        out.print("No change beyond its interval between consecutive runs.")
        return
    out.print(
        f"{len(flagged)} change(s) beyond the previous run's 95% interval "
        f"(attribution shares: a shift of {SHARE_SHIFT:.2f} or more), marked !:",
        soft_wrap=True,
    )
    for series, point in flagged:
        out.print(
            f"  {escape(series.label)} in audit {point.audit_id}: {', '.join(point.flags)}",
            highlight=False,
            soft_wrap=True,
        )


def history(
    name: Annotated[str, typer.Argument(help="Audit name (the spec's name).")],
    limit: Annotated[int, typer.Option(help="How many recent runs.", min=1)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also show unflagged selection rates.")
    ] = False,
    db: DbOption = None,
) -> None:
    """How the key metrics of an audit moved across its stored runs.

    Impact ratios, selection and scoring rates per group, and attribution shares; a
    value outside the previous run's 95% interval is flagged with "!".
    """
    from auditor.history import HistoryError, build_trend
    from auditor.store import load_history

    def load() -> Trend:
        with _opened(db) as store, store.session() as session:
            results = load_history(session, name, limit=limit)
        if not results:
            raise HistoryError(
                f"No stored audit is named {name!r}; the name is the spec's 'name' field."
            )
        return build_trend(results, name=name)

    trend = guard(load)
    if as_json:
        out.print_json(json.dumps(trend.to_dict()))
        return
    _print_trend(trend, show_all)


def db_prune(
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Retention YAML: 'retention: {letters: 762, ...}'."),
    ] = None,
    keep: Annotated[
        list[str] | None,
        typer.Option("--keep", help="Override one table: TABLE=DAYS or TABLE=keep (repeatable)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; change nothing.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Delete records older than their retention period and log it in the event log.

    Defaults: letters 762 days (Reg B's 25 months), schedule runs 730 days, audits and
    their aggregates kept.
    """
    from auditor.schedule.service import current_user, utc_now
    from auditor.store import prune, retention_settings

    settings = guard(lambda: retention_settings(config, keep or ()))

    def run() -> PruneReport:
        with _opened(db) as store, store.session() as session:
            return prune(session, settings, now=utc_now(), user=current_user(), dry_run=dry_run)

    report = guard(run)
    verb = "Would delete" if dry_run else "Deleted"
    for table, days in settings.items():
        kept = "kept" if days is None else f"older than {days} days"
        out.print(
            f"{table} ({kept}): {verb.lower()} {report.deleted.get(table, 0)}", highlight=False
        )
    out.print(f"{verb} {report.total} row(s).", highlight=False)
    if not dry_run:
        out.print("Logged as a db.pruned event.")
