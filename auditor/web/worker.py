"""Run untrusted work (an uploaded spec's parsing, its audit) in a child process with
memory and time limits, so a hostile upload costs one failed job, never the server.

The child is forked from a small ``forkserver`` process (not from the web server, whose
threads and connections must not be copied), caps its own data segment with
``RLIMIT_DATA`` before running anything, and reports progress and its outcome over a
pipe. The parent kills it when the time limit passes; a child that dies without an
answer (out of memory in native code, a crash) is reported as such.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from auditor.errors import AuditorError, SpecError

_CHANNEL: list[Connection] = []  # set in the child: where progress messages go
_PRELOAD = ["auditor.service", "auditor.web.uploads"]  # imported once, in the fork server


@dataclass(frozen=True)
class WorkerLimits:
    """How much memory (MiB of data segment) and wall-clock time one child may use."""

    memory_mb: int
    timeout_s: float


class WorkerFailed(AuditorError):
    """The child ran out of time or memory, or died (the message says which)."""


def send_progress(stage: str) -> None:
    """Report a stage to the parent (called in the child; a no-op elsewhere)."""
    if _CHANNEL:
        _CHANNEL[0].send(("progress", stage))


def _context() -> Any:
    if sys.platform.startswith("linux"):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def warm_up() -> None:
    """Start the fork server now (it imports the audit code once), so the first upload
    after a restart does not wait for it."""
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def run_isolated(
    target: Callable[..., Any],
    *args: Any,
    limits: WorkerLimits,
    what: str,
    on_progress: Callable[[str], None] | None = None,
) -> Any:
    """``target(*args)`` in a child process under ``limits``; returns its result.

    An :class:`AuditorError` in the child is raised again here with the same message
    (a :class:`SpecError` stays one); any other failure, the time limit and a dead child
    raise :class:`WorkerFailed` naming ``what``.
    """
    context = _context()
    parent_end, child_end = context.Pipe(duplex=False)
    # the child configures its own logging (a forkserver child inherits none) at the
    # level this process logs ``auditor`` records at
    level = logging.getLogger("auditor").getEffectiveLevel()
    process = context.Process(
        target=_child, args=(child_end, limits.memory_mb, level, target, args), daemon=True
    )
    process.start()
    child_end.close()
    deadline = time.monotonic() + limits.timeout_s
    try:
        while True:
            remaining = deadline - time.monotonic()
            # poll is also true when the child died: recv then raises EOFError
            if remaining <= 0 or not parent_end.poll(remaining):
                raise WorkerFailed(
                    f"{what} ran past the time limit of {limits.timeout_s:g} s and was stopped."
                )
            try:
                kind, payload = parent_end.recv()
            except (EOFError, OSError):
                process.join(5)
                raise WorkerFailed(_death(what, process.exitcode, limits)) from None
            if kind == "progress":
                if on_progress is not None:
                    on_progress(str(payload))
                continue
            if kind == "ok":
                return payload
            error_type, message = payload
            if error_type == "SpecError":
                raise SpecError(message)
            if error_type == "MemoryError":
                raise WorkerFailed(f"{what} {message}")
            raise AuditorError(message)
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        parent_end.close()


def _death(what: str, exitcode: int | None, limits: WorkerLimits) -> str:
    if exitcode is not None and exitcode < 0:
        return (
            f"{what} was ended by signal {-exitcode}: it crashed or ran out of memory (the "
            f"limit is {limits.memory_mb} MiB)."
        )
    return f"{what} ended without an answer (exit status {exitcode})."


def _child(
    channel: Connection,
    memory_mb: int,
    log_level: int,
    target: Callable[..., Any],
    args: tuple[Any, ...],
) -> None:
    import resource

    from auditor.log_setup import configure_logging

    configure_logging(log_level)

    limit = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    _CHANNEL.append(channel)
    try:
        result = target(*args)
    except AuditorError as exc:
        outcome: tuple[str, Any] = ("error", (type(exc).__name__, str(exc)))
    except MemoryError:
        outcome = ("error", ("MemoryError", f"ran out of memory (the limit is {memory_mb} MiB)."))
    except Exception as exc:  # a bug: the parent reports it, the server stays up
        logging.getLogger(__name__).exception("worker process: internal error")
        outcome = ("error", (type(exc).__name__, f"Internal error ({type(exc).__name__}): {exc}"))
    else:
        outcome = ("ok", result)
    channel.send(outcome)
    channel.close()
