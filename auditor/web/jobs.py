"""Audits started from the web, run one at a time, each in a worker process.

A job's state (queued, running with its current stage, completed with the audit id, or
failed with the error message) lives in memory for the page that watches it; the audit
itself goes through :func:`auditor.service.perform_audit`, exactly as ``auditor audit``,
so it is stored in one transaction or leaves only an ``audit.failed`` event. Jobs are
forgotten when the server restarts; their audits and events are not.

An audit of an uploaded spec runs in a child process with memory and time limits
(:mod:`auditor.web.worker`): a spec that makes the audit explode costs that job, which
fails with the reason (and an ``audit.failed`` event), not the server. Letters for a
stored audit come from stored data and run in the job thread itself.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from auditor.errors import AuditorError
from auditor.letters.recipients import Recipient
from auditor.letters.review import hold_summary
from auditor.spec import AuditSpec
from auditor.store import Store, append_event, record_failed_run
from auditor.web.worker import WorkerFailed, WorkerLimits, run_isolated, send_progress

log = logging.getLogger(__name__)

AUDIT_REQUESTED = "audit.requested"
LETTERS_REQUESTED = "letters.requested"


@dataclass(frozen=True)
class Job:
    """A snapshot of one background audit."""

    id: str
    name: str
    source: str
    user: str
    state: str
    stage: str
    created_at: datetime
    finished_at: datetime | None = None
    audit_id: str | None = None
    error: str | None = None
    stages: tuple[str, ...] = ()
    """The stages reached so far, in order (the last one is the current stage)."""
    kind: str = "audit"
    """``audit`` (an uploaded spec) or ``letters`` (a batch of letters for a stored audit)."""
    summary: str | None = None

    @property
    def done(self) -> bool:
        """True once the job completed or failed."""
        return self.state in ("completed", "failed")


class AuditJobs:
    """Runs uploaded specs in the background (one worker: audits are CPU-heavy)."""

    def __init__(
        self,
        store: Store,
        database_url: str,
        *,
        workers: int = 1,
        limits: WorkerLimits | None = None,
    ) -> None:
        self._store = store
        self._url = database_url
        self._limits = limits or WorkerLimits(memory_mb=4096, timeout_s=3600.0)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="audit-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def submit(
        self, spec: AuditSpec, *, source: str, user: str, spec_sha256: str | None = None
    ) -> Job:
        """Queue an audit of ``spec`` on behalf of ``user`` (logged as ``audit.requested``).

        Every spec the web runs came from an upload: its model may import no module and
        unpickle no file, whatever the spec says or the server's settings allow.
        ``spec_sha256``: the spec's digest when the caller already has it (an upload's is
        computed in the worker that parsed it, off the event loop).
        """
        spec.forbid_code()
        job = Job(
            id=uuid.uuid4().hex,
            name=spec.name,
            source=source,
            user=user,
            state="queued",
            stage="queued",
            created_at=datetime.now(UTC),
        )
        with self._store.session() as session:
            append_event(
                session,
                AUDIT_REQUESTED,
                {
                    "job_id": job.id,
                    "name": spec.name,
                    "source": source,
                    "spec_sha256": spec_sha256 or spec.digest(),
                },
                user=user,
            )
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._run, job.id, spec)
        return job

    def submit_letters(
        self,
        audit_id: str,
        *,
        kind: str | None,
        decisions: str,
        user: str,
        recipients: Mapping[str, Recipient] | None = None,
    ) -> Job:
        """Queue a batch of letters for a stored audit (logged as ``letters.requested``).

        The same service as ``auditor letters``: content checks, reason stability review,
        storage with digests and one ``letters.issued`` event. ``recipients`` (parsed from
        an uploaded CSV) stay in this job's memory; the event records only their number.
        """
        job = Job(
            id=uuid.uuid4().hex,
            name=f"letters for {audit_id}",
            source=f"audit {audit_id}, decisions: {decisions}, kind: {kind or 'default'}",
            user=user,
            state="queued",
            stage="queued",
            created_at=datetime.now(UTC),
            kind="letters",
            audit_id=audit_id,
        )
        with self._store.session() as session:
            append_event(
                session,
                LETTERS_REQUESTED,
                {
                    "job_id": job.id,
                    "audit_id": audit_id,
                    "decisions": decisions,
                    "kind": kind,
                    "recipients": None if recipients is None else len(recipients),
                },
                user=user,
            )
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._run_letters, job.id, audit_id, kind, decisions, recipients)
        return job

    def _run_letters(
        self,
        job_id: str,
        audit_id: str,
        kind: str | None,
        decisions: str,
        recipients: Mapping[str, Recipient] | None,
    ) -> None:
        from auditor.letters.service import issue_letters

        self._update(job_id, state="running", stage="letters")
        try:
            letters = issue_letters(
                self._store,
                audit_id,
                kind=kind,
                decisions=decisions,
                recipients=recipients,
                progress=lambda done, total: self._update(
                    job_id, stage=f"rendered {done} of {total} letters"
                ),
            )
        except Exception as exc:  # user errors and bugs alike end the job, not the server
            if not isinstance(exc, AuditorError):
                log.exception("letters job %s for audit %s: internal error", job_id, audit_id)
            prefix = (
                "" if isinstance(exc, AuditorError) else f"Internal error ({type(exc).__name__}): "
            )
            self._update(
                job_id,
                state="failed",
                stage="failed",
                error=prefix + str(exc),
                finished_at=datetime.now(UTC),
            )
            return
        status = [lt.record.status for lt in letters]
        self._update(
            job_id,
            state="completed",
            stage="done",
            summary=(
                f"{status.count('issued')} issued, {status.count('blocked')} blocked by a "
                f"content check, {status.count('needs_review')} held for human review "
                f"(hold rate {hold_summary([lt.record for lt in letters])['hold_rate']:.1%})"
            ),
            finished_at=datetime.now(UTC),
        )

    def get(self, job_id: str) -> Job | None:
        """The job's current state, or None for an unknown id."""
        with self._lock:
            return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        """All jobs of this server process, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created_at, reverse=True)

    def shutdown(self) -> None:
        """Wait for the running audit to finish and stop the worker."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _update(self, job_id: str, **changes: object) -> None:
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], **changes)  # type: ignore[arg-type]

    def _advance(self, job_id: str, stage: str) -> None:
        with self._lock:
            job = self._jobs[job_id]
            self._jobs[job_id] = replace(job, stage=stage, stages=(*job.stages, stage))

    def _run(self, job_id: str, spec: AuditSpec) -> None:
        self._update(job_id, state="running", stage="starting")
        try:
            audit_id = run_isolated(
                _audit_in_worker,
                spec,
                self._url,
                limits=self._limits,
                what=f"The audit {spec.name!r}",
                on_progress=lambda stage: self._advance(job_id, stage),
            )
        except WorkerFailed as exc:  # the child could not log it: killed or out of memory
            self._fail(job_id, str(exc))
            job = self.get(job_id)
            with self._store.session() as session:
                record_failed_run(
                    session,
                    name=spec.name,
                    source=spec.source,
                    error=str(exc),
                    user=job.user if job else "web",
                )
        except AuditorError as exc:
            self._fail(job_id, str(exc))
        except Exception as exc:  # a bug: keep the server up and show what happened
            log.exception("audit job %s (%s): internal error", job_id, spec.name)
            self._fail(job_id, f"Internal error ({type(exc).__name__}): {exc}")
        else:
            self._update(
                job_id,
                state="completed",
                stage="done",
                audit_id=audit_id,
                finished_at=datetime.now(UTC),
            )

    def _fail(self, job_id: str, error: str) -> None:
        self._update(
            job_id, state="failed", stage="failed", error=error, finished_at=datetime.now(UTC)
        )


def _audit_in_worker(spec: AuditSpec, database_url: str) -> str:
    """The audit, in the worker process (same service as ``auditor audit``); its id."""
    from auditor.service import perform_audit

    # a worker process of its own: the render's performance policy stays inside it
    outcome = perform_audit(
        spec, database_url=database_url, progress=send_progress, fast_render=True
    )
    return outcome.result.audit_id
