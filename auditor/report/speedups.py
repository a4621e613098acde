"""The report renderer's performance policy, applied only where a caller asks for it.

Three measures make a full report render faster, and all act on the whole process:

* the cyclic garbage collector is paused during the render (:func:`paused_gc`: WeasyPrint's
  document is one large web of reference cycles alive until the
  render ends, so the collections meanwhile found little to free and took 10-15% of it);
* SVG chart labels are drawn as whole runs by a function swapped into a private WeasyPrint
  table (:mod:`auditor.report.svgtext`), for the WeasyPrint version it was checked against;
* two per-box layout helpers are replaced by equivalent single functions
  (:mod:`auditor.report.layout_fastpath`, same version check, same PDF bytes).

A process that renders and does little else at the same time may use them: the CLI
(``auditor audit``, ``auditor report``), the web server's audit worker processes and the
scheduler. The web server process itself must not: a paused collector and a patched
library would reach every request it serves. So :func:`build_report` and friends apply
neither; those callers wrap their render in :func:`render_speedups`, which restores the
collector and WeasyPrint's own function when the last render inside it ends.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

from auditor.report import layout_fastpath, svgtext

_GC_LOCK = threading.Lock()
_gc_pauses = 0  # renders in progress (threads may render at once)
_gc_resume = False  # whether the collector was enabled when the first of them started

_POLICY_LOCK = threading.Lock()
_policy_depth = 0
_installed_here = False  # whether the outermost render_speedups installed the fast path
_layout_installed_here = False  # ... and the layout fast path


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector; collect what was allocated at the end.

    Nested and concurrent pauses share one: the collector is enabled again (and one
    collection runs) when the last of them ends, and only if it was enabled when the
    first began, so a caller that disabled it keeps it disabled.
    """
    global _gc_pauses, _gc_resume
    with _GC_LOCK:
        if _gc_pauses == 0:
            _gc_resume = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_pauses -= 1
            resume = _gc_pauses == 0 and _gc_resume
            if resume:
                gc.enable()
        if resume:
            # Generation 0 holds exactly what was allocated during the pause (nothing was
            # promoted): the render's garbage, found without re-scanning the older heap.
            gc.collect(0)


@contextlib.contextmanager
def render_speedups() -> Iterator[bool]:
    """The performance policy around a render: the collector paused and the SVG text fast
    path installed (when the installed WeasyPrint is a verified version), both undone when
    the outermost block ends, also after an error. Yields whether the fast path is in use
    (a report rendered inside records it, see ``ReportArtifact.svg_fast_path``).

    For the CLI, render worker processes and the scheduler only (see the module doc).
    """
    global _policy_depth, _installed_here, _layout_installed_here
    with _POLICY_LOCK:
        if _policy_depth == 0:
            _installed_here = not svgtext.installed() and svgtext.install()
            _layout_installed_here = not layout_fastpath.installed() and layout_fastpath.install()
        _policy_depth += 1
        fast = svgtext.installed()
    try:
        with paused_gc():
            yield fast
    finally:
        with _POLICY_LOCK:
            _policy_depth -= 1
            if _policy_depth == 0 and _installed_here:
                svgtext.uninstall()
                _installed_here = False
            if _policy_depth == 0 and _layout_installed_here:
                layout_fastpath.uninstall()
                _layout_installed_here = False


def render_policy(enabled: bool) -> contextlib.AbstractContextManager[object]:
    """:func:`render_speedups` when ``enabled``, else a block that changes nothing."""
    return render_speedups() if enabled else contextlib.nullcontext()
