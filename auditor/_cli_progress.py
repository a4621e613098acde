"""Progress on stderr for commands whose steps can take minutes (issue 24).

A spinner names the current step with its elapsed time; a step that took longer than
:data:`SLOW_S` leaves one line behind (``explain: 174.2 s``), so a long permutation SHAP
run is visibly alive and its cost is on screen afterwards. Nothing is drawn when stderr
is not a terminal (CI logs, pipes) or with ``--quiet``. Methods that report rows done
(permutation SHAP) show them in the step's line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from auditor._cli_common import err

SLOW_S = 2.0


@contextmanager
def step_progress(enabled: bool) -> Iterator[Callable[[str], None] | None]:
    """Yield ``progress(step_name)`` to call as each step starts (None when disabled)."""
    if not enabled:
        yield None
        return
    # imported here: auditor.explain loads every method, which the CLI's start need not
    from auditor.explain.progress import listening

    current: list[tuple[str, float]] = []
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)

        def finish() -> None:
            if current:
                name, began = current.pop()
                took = time.perf_counter() - began
                if took > SLOW_S:
                    bar.console.print(f"  {name}: {took:.1f} s", highlight=False)

        def step(name: str) -> None:
            finish()
            current.append((name, time.perf_counter()))
            bar.reset(task, description=f"{name} …", total=None)

        def rows(done: int, total: int) -> None:
            if current:
                bar.update(task, description=f"{current[-1][0]} … {done:,}/{total:,} rows")

        try:
            with listening(rows):
                yield step
        finally:
            finish()
