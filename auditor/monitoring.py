"""Prometheus text exposition of the store's schedules and their latest ratios.

Served as ``/metrics`` by the web server and by ``auditor scheduler --metrics-port``.
Every number is read from the store at scrape time, so the web server and any number of
schedulers report the same values and a restart loses nothing; run counts are counters
(``db prune`` deleting old runs looks like a counter reset, which Prometheus handles).

Hand-written (format 0.0.4) rather than ``prometheus_client``: no new runtime
dependency, and the values are not process state that a client registry would hold.
Label values are escaped as the format requires (backslash, double quote, newline).
"""

from __future__ import annotations

import hmac
import math
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import func, select

from auditor.errors import AuditorError
from auditor.store import Store
from auditor.store.models import Audit, Metric, Schedule, ScheduleRun

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RATIO_METRICS = ("impact_ratio", "adverse_impact_ratio", "scoring_impact_ratio")
FAILED_STATUSES = frozenset({"failed", "abandoned"})


def escape_label(value: str) -> str:
    """A label value as the text format writes it inside double quotes."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


@dataclass
class Family:
    """One metric family: its HELP and TYPE lines and its samples."""

    name: str
    kind: str  # counter, gauge
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> None:
        self.samples.append((labels, value))

    def lines(self) -> Iterable[str]:
        help_text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        yield f"# HELP {self.name} {help_text}"
        yield f"# TYPE {self.name} {self.kind}"
        suffix = "_total" if self.kind == "counter" else ""
        for labels, value in self.samples:
            shown = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
            yield (
                f"{self.name}{suffix}{{{shown}}} {_number(value)}"
                if shown
                else (f"{self.name}{suffix} {_number(value)}")
            )


def exposition(families: Iterable[Family]) -> str:
    """The text document (ends with a newline, as the format requires)."""
    return "".join(line + "\n" for family in families for line in family.lines())


def store_families(store: Store) -> list[Family]:
    """Schedules, their runs and the latest stored ratios of each schedule."""
    runs = Family(
        "auditor_schedule_runs", "counter", "Finished schedule runs, by schedule and status."
    )
    failures = Family(
        "auditor_schedule_failures", "counter", "Schedule runs that failed or were abandoned."
    )
    seconds = Family(
        "auditor_schedule_run_duration_seconds",
        "counter",
        "Total seconds spent in finished runs (divide by the runs counter for a mean).",
    )
    last_duration = Family(
        "auditor_schedule_last_run_duration_seconds", "gauge", "Duration of the latest run."
    )
    last_finished = Family(
        "auditor_schedule_last_run_timestamp_seconds",
        "gauge",
        "When the latest run finished (Unix time).",
    )
    last_ok = Family(
        "auditor_schedule_last_run_success",
        "gauge",
        "1 if the latest finished run succeeded, else 0.",
    )
    enabled = Family("auditor_schedule_enabled", "gauge", "1 if the schedule is enabled.")
    ratio = Family(
        "auditor_schedule_impact_ratio",
        "gauge",
        "Latest stored ratio of a group to its reference group, per schedule (from the "
        "schedule's latest audit); 0.8 is a screen, not a legal threshold.",
    )
    ratio_low = Family(
        "auditor_schedule_impact_ratio_ci_low", "gauge", "Lower bound of the ratio's 95% interval."
    )
    ratio_high = Family(
        "auditor_schedule_impact_ratio_ci_high", "gauge", "Upper bound of the ratio's 95% interval."
    )
    audits = Family("auditor_audits_stored", "gauge", "Audits held in the store.")
    with store.session() as session:
        schedules = {s.id: s for s in session.scalars(select(Schedule).order_by(Schedule.name))}
        counts: dict[int, dict[str, int]] = defaultdict(dict)
        totals: dict[int, float] = defaultdict(float)
        for sid, status, n, total in session.execute(
            select(
                ScheduleRun.schedule_id,
                ScheduleRun.status,
                func.count(),
                func.coalesce(func.sum(ScheduleRun.duration_s), 0.0),
            )
            .where(ScheduleRun.finished_at.is_not(None))
            .group_by(ScheduleRun.schedule_id, ScheduleRun.status)
        ):
            counts[sid][status] = int(n)
            totals[sid] += float(total or 0.0)
        latest: dict[int, ScheduleRun] = {}
        latest_audit: dict[int, str] = {}
        for run in session.scalars(
            select(ScheduleRun)
            .where(ScheduleRun.finished_at.is_not(None))
            .order_by(ScheduleRun.finished_at, ScheduleRun.id)
        ):
            latest[run.schedule_id] = run
            if run.audit_id is not None:
                latest_audit[run.schedule_id] = run.audit_id
        wanted = set(latest_audit.values())
        records: dict[str, list[Metric]] = defaultdict(list)
        if wanted:
            for m in session.scalars(
                select(Metric)
                .where(Metric.audit_id.in_(wanted), Metric.metric.in_(RATIO_METRICS))
                .order_by(Metric.audit_id, Metric.seq)
            ):
                records[m.audit_id].append(m)
        stored = int(session.scalar(select(func.count()).select_from(Audit)) or 0)
        for sid, s in schedules.items():
            name = s.name
            enabled.add(1.0 if s.enabled else 0.0, schedule=name)
            for status, n in sorted(counts.get(sid, {}).items()):
                runs.add(n, schedule=name, status=status)
            failed = sum(n for st, n in counts.get(sid, {}).items() if st in FAILED_STATUSES)
            failures.add(failed, schedule=name)
            seconds.add(totals.get(sid, 0.0), schedule=name)
            last = latest.get(sid)
            if last is not None and last.finished_at is not None:
                if last.duration_s is not None:
                    last_duration.add(last.duration_s, schedule=name)
                last_finished.add(last.finished_at.timestamp(), schedule=name)
                last_ok.add(1.0 if last.status == "completed" else 0.0, schedule=name)
            audit_id = latest_audit.get(sid)
            for m in records.get(audit_id or "", []):
                if m.value is None or "reference" in (m.flags or []):
                    continue
                labels = {
                    "schedule": name,
                    "attribute": m.attribute,
                    "group": m.group,
                    "metric": m.metric,
                    "reference": m.reference or "",
                }
                ratio.add(m.value, **labels)
                if m.ci_low is not None and m.ci_high is not None:
                    ratio_low.add(m.ci_low, **labels)
                    ratio_high.add(m.ci_high, **labels)
    audits.add(float(stored))
    return [
        runs,
        failures,
        seconds,
        last_duration,
        last_finished,
        last_ok,
        enabled,
        ratio,
        ratio_low,
        ratio_high,
        audits,
    ]


def metrics_text(store: Store) -> str:
    """The ``/metrics`` document for ``store``."""
    return exposition(store_families(store))


def serve_metrics(
    store: Store, host: str, port: int, *, token: str | None = None
) -> ThreadingHTTPServer:
    """Serve ``/metrics`` for ``store`` on ``host:port`` from a daemon thread.

    What ``auditor scheduler --metrics-port`` starts. ``token``: the scrape token a request
    must send as ``Authorization: Bearer`` (None: none asked, so bind to a local address).
    Stop it with ``shutdown()`` then ``server_close()`` (which closes the socket).
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self._reply(404, "not found: the scheduler serves /metrics only\n", "text/plain")
                return
            scheme, _, given = self.headers.get("Authorization", "").partition(" ")
            if token and not (
                scheme.lower() == "bearer"
                and hmac.compare_digest(given.strip().encode(), token.encode())
            ):
                self._reply(401, "authentication required\n", "text/plain", bearer=True)
                return
            self._reply(200, metrics_text(store), CONTENT_TYPE)

        def _reply(self, code: int, body: str, kind: str, *, bearer: bool = False) -> None:
            data = body.encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            if bearer:
                self.send_header("WWW-Authenticate", "Bearer")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per scrape would drown the scheduler's own output

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise AuditorError(
            f"--metrics-port {port}: cannot listen on {host}:{port} ({exc.strerror})."
        ) from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
