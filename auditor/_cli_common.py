"""Console, options and error handling shared by the CLI modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from auditor.errors import AuditorError

out = Console()
err = Console(stderr=True)
T = TypeVar("T")

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (default: $AUDITOR_DATABASE_URL or sqlite:///auditor.db).",
        envvar="AUDITOR_DATABASE_URL",
        show_envvar=False,
    ),
]


def guard(fn: Callable[[], T]) -> T:
    """Run ``fn``; turn user errors into a message and exit code 2."""
    try:
        return fn()
    except AuditorError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
