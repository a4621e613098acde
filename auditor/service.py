"""Operations shared by the CLI, the Python API and (later) the web UI.

An audit and its report are stored in one transaction: a failure at any stage writes
nothing but an ``audit.failed`` event.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import AuditorError
from auditor.pipeline import Progress, run_audit
from auditor.provenance import current_user
from auditor.result import AuditResult
from auditor.spec import AuditSpec, load_spec

TREND_RUNS = 5
"""Earlier runs a report's trend subsection is built from (the newest before the audit)."""


@dataclass(frozen=True)
class AuditOutcome:
    """What ``perform_audit`` produced and where it went."""

    result: AuditResult
    report_sha256: str | None
    pdf_path: Path | None
    json_path: Path | None
    database: str | None


def perform_audit(
    spec_source: str | Path | dict[str, Any] | AuditSpec,
    *,
    json_path: Path | None = None,
    pdf_path: Path | None = None,
    database_url: str | None = None,
    store: bool = True,
    progress: Progress | None = None,
    fast_render: bool = False,
) -> AuditOutcome:
    """Run an audit, render its report, store both, and write the requested files.

    The database is written only after every stage succeeded; files are written last,
    atomically, so a failed audit leaves neither rows nor half-written files.
    ``fast_render``: render under :func:`auditor.report.speedups.render_speedups`
    (process-wide effects: for the CLI and worker processes, never a server process).
    """
    spec = spec_source if isinstance(spec_source, AuditSpec) else load_spec(spec_source)
    # found before the audit runs, not when its result is moved into place
    _check_outputs(spec, json_path, pdf_path)
    db = None
    if store:
        from auditor.store import open_store

        db = open_store(database_url)
    staged: list[tuple[Path, Path]] = []
    captured: list[Any] = []
    # per-decision records for letters: only when the spec asks for letters and we store;
    # a Spark audit keeps none (the driver holds no rows): its letters read data.path again
    letters = db is not None and spec.letters is not None
    spark = spec.engine.kind == "spark"
    capture = captured.append if letters and not spark else None
    try:
        lda_record = _lda_record(db, spec)
        result = run_audit(spec, progress=progress, capture=capture, lda_record=lda_record)
        report = None
        if pdf_path is not None or db is not None:
            from auditor.report import build_report
            from auditor.report.speedups import render_policy

            if progress:
                progress("render report")
            history = _earlier_runs(db, result)
            with render_policy(fast_render):
                report = build_report(result, history=history, lda=lda_record)
        # files are staged next to their targets, the database commits, then they move
        # into place: a failure anywhere leaves neither rows nor files behind
        if report is not None and pdf_path is not None:
            staged.append((stage_file(pdf_path, report.pdf), pdf_path))
        if json_path is not None:
            staged.append((stage_file(json_path, result.to_json().encode("utf-8")), json_path))
        if db is not None:
            from auditor.store import save_audit

            if progress:
                progress("store")
            with db.session() as session:
                save_audit(session, result, report=report)
                if captured:
                    from auditor.store.decisions import save_decisions

                    save_decisions(
                        session, result.audit_id, spec, captured[0], user=result.run.user
                    )
                elif letters and spark:
                    from auditor.store.decisions import save_decision_source

                    save_decision_source(
                        session, result.audit_id, spec, result.dataset.rows, user=result.run.user
                    )
        for tmp, final in staged:
            move_into_place(tmp, final)
        staged.clear()
    except AuditorError as exc:
        if db is not None:
            _record_failure(db, spec, exc)
        raise
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        if db is not None:
            db.dispose()
    return AuditOutcome(
        result, report.sha256 if report else None, pdf_path, json_path, db.url if db else None
    )


def _earlier_runs(db: Any, result: AuditResult) -> list[AuditResult]:
    """Earlier stored runs of this audit, for the report's trend (none without a store)."""
    if db is None:
        return []
    from auditor.store import load_earlier_runs

    with db.session() as session:
        return load_earlier_runs(session, result, limit=TREND_RUNS)


def _lda_record(db: Any, spec: AuditSpec) -> dict[str, Any] | None:
    """The newest stored search made for this audit's name and model file (none without a
    store): the packs read it as evidence and the report summarises it."""
    if db is None:
        return None
    from auditor.store.lda_records import stored_searches

    with db.session() as session:
        searches = stored_searches(session, spec.name)
    if not searches:
        return None
    from auditor.lda.evidence import record_for

    return record_for((s.record for s in searches), spec)


def _record_failure(db: Any, spec: AuditSpec, exc: AuditorError) -> None:
    from auditor.store import record_failed_run

    try:
        with db.session() as session:
            record_failed_run(
                session, name=spec.name, source=spec.source, error=str(exc), user=current_user()
            )
    except AuditorError:
        pass  # the original error is the one the user needs to see


def is_stream(path: Path) -> bool:
    """Whether ``path`` (after links) is a character device or a pipe: ``/dev/stdout``,
    ``/dev/null``, a FIFO. Such an output is written into, not replaced (see
    :func:`move_into_place`)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _through_links(path: Path) -> Path:
    """The file a link points at (the link itself stays): ``/dev/stdout`` redirected to a
    file is ``/proc/self/fd/1``, a link to that file, and renaming over the link would
    replace ``/dev/stdout`` for the whole machine."""
    return path.resolve() if path.is_symlink() else path


def check_output(path: Path) -> None:
    """Refuse an output that cannot be written safely: a folder, or a node that is neither
    a regular file nor a stream (a block device, a socket). A stream (``--json
    /dev/stdout``, a FIFO) is allowed: it is written into when the outputs are committed,
    never renamed over (run as root, the rename replaced the device or link itself for
    the whole machine)."""
    if path.is_dir():
        raise AuditorError(f"Cannot write {path}: it is a folder; name a file.")
    if path.exists() and not path.is_file() and not is_stream(path):
        raise AuditorError(
            f"Cannot write {path}: not a regular file, a pipe or a character device (a "
            "block device or a socket); name a file."
        )


def _check_outputs(spec: AuditSpec, *targets: Path | None) -> None:
    """Each output is a file of its own, and none is one of the audit's inputs (the spec,
    data, protected-attribute file or model), which the result would replace."""
    from auditor.provenance import is_url

    inputs = {Path(spec.source).resolve(): "the spec"} if spec.source != "<dict>" else {}
    named = [
        ("the data", spec.data.path),
        ("the protected-attribute file", spec.data.protected_path),
    ]
    if spec.model is not None:
        named.append(("the model", spec.model.path))
    for what, value in named:
        if value and not is_url(value):
            inputs.setdefault(spec.resolve(value).resolve(), what)
    seen: dict[Path, Path] = {}
    for target in (t for t in targets if t is not None):
        check_output(target)
        where = target.resolve()
        if where in inputs:
            raise AuditorError(
                f"Cannot write {target}: it is {inputs[where]} of this audit; name another file."
            )
        if where in seen:
            raise AuditorError(
                f"Cannot write {target}: {seen[where]} is written too; name another file."
            )
        seen[where] = target


def stage_file(path: Path, data: bytes) -> Path:
    """Write ``data`` to a hidden temporary file beside ``path`` and return its path.

    On any failure (a full file system, a quota) the temporary file is removed before the
    error is raised: no ``.name.*`` file is left behind. ``path`` is checked first
    (:func:`check_output`).
    """
    check_output(path)
    try:
        if is_stream(path):  # staged in the temporary folder, copied in when committed
            fd, tmp = tempfile.mkstemp(prefix=".auditor-output.")
        else:
            real = _through_links(path)
            real.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", dir=real.parent)
    except OSError as exc:
        raise AuditorError(f"Cannot write {path}: {exc.strerror or exc}.") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())  # ENOSPC may only show when the data reach the disk
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise AuditorError(f"Cannot write {path}: {exc.strerror or exc}.") from None
        raise
    return Path(tmp)


def move_into_place(tmp: Path, final: Path) -> None:
    """Replace ``final`` by the staged ``tmp`` atomically, or, for a stream (a pipe,
    ``/dev/stdout``), write ``tmp``'s bytes into it; a failure is a user error."""
    if is_stream(final):
        try:
            with final.open("wb") as out:
                out.write(tmp.read_bytes())
        except OSError as exc:  # /dev/full, a pipe whose reader went away
            raise AuditorError(f"Cannot write {final}: {exc.strerror or exc}.") from None
        finally:
            tmp.unlink(missing_ok=True)
        return
    try:
        tmp.replace(_through_links(final))
    except OSError as exc:  # e.g. the target became a folder, or another file system
        raise AuditorError(f"Cannot write {final}: {exc.strerror or exc}.") from None
