"""``auditor serve`` (the web workspace) and ``auditor users`` (its accounts and tokens)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from auditor._cli_common import DbOption, err, guard, out
from auditor.provenance import current_user

users_app = typer.Typer(help="Users of the web workspace and API tokens.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    db: DbOption = None,
    data_root: Annotated[
        Path | None,
        typer.Option(
            "--data-root",
            help="Folder that uploaded specs' and schedules' paths are relative to "
            "(default: $AUDITOR_DATA_ROOT or the current folder).",
        ),
    ] = None,
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            help="Proxies whose X-Forwarded-Proto/For headers are trusted (comma list, or *).",
        ),
    ] = "127.0.0.1",
) -> None:
    """Run the web workspace and JSON API with uvicorn (needs the 'web' extra)."""
    try:
        import uvicorn
    except ImportError:
        err.print("error: the web workspace needs the 'web' extra: pip install 'auditor[web]'.")
        raise typer.Exit(2) from None
    from auditor.web.app import create_app
    from auditor.web.settings import WebSettings

    settings = guard(lambda: WebSettings(database_url=db))  # limits from the environment
    if data_root is not None:
        if not data_root.is_dir():
            err.print(f"error: --data-root {data_root} is not a folder.")
            raise typer.Exit(2)
        settings = replace(settings, data_root=data_root.resolve())
    app = guard(lambda: create_app(settings))
    out.print(
        f"auditor web workspace on http://{host}:{port}/ (data root {settings.data_root})",
        highlight=False,
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level="info",
    )


def _read_password(from_stdin: bool, prompt: str) -> str:
    """One line of standard input, or a hidden prompt asked twice."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True))


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name (the login).")],
    role: Annotated[str, typer.Option(help="viewer, officer or admin.")] = "viewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Add a user; the password is prompted for (or read from stdin) and stored hashed."""
    from auditor.store import open_store
    from auditor.users import add_user

    password = _read_password(password_stdin, "Password")

    def run() -> str:
        with open_store(db) as store:
            info = add_user(store, name, role, password, actor=current_user())
        return f"Added user {info.name} with role {info.role}."

    out.print(guard(run), highlight=False)


@users_app.command("passwd")
def users_passwd(
    name: Annotated[str, typer.Argument(help="The user whose password changes.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Change a user's password; the user's browser sessions end at once."""
    from auditor.store import open_store
    from auditor.users import change_password

    password = _read_password(password_stdin, "New password")

    def run() -> str:
        with open_store(db) as store:
            ended = change_password(store, name, password, actor=current_user())
        return f"Changed the password of {name}; ended {ended} web session(s)."

    out.print(guard(run), highlight=False)


@users_app.command("token")
def users_token(
    name: Annotated[str, typer.Argument(help="The user the token acts for.")],
    label: Annotated[str, typer.Option(help="What the token is for.")] = "api",
    db: DbOption = None,
) -> None:
    """Create an API token for a user; it is printed once and only its hash is stored."""
    from auditor.store import open_store
    from auditor.users import create_token

    def run() -> str:
        with open_store(db) as store:
            return create_token(store, name, label=label, actor=current_user())

    secret = guard(run)
    err.print(
        "Store this token now; it cannot be shown again. Use it as 'Authorization: Bearer …'."
    )
    out.print(secret, highlight=False)


@users_app.command("list")
def users_list(db: DbOption = None) -> None:
    """List users: role, whether active, number of API tokens."""
    from auditor.store import open_store
    from auditor.users import list_users

    def run() -> list[str]:
        with open_store(db) as store:
            return [
                f"{u.name}  {u.role}  {'active' if active else 'disabled'}  {tokens} token(s)"
                for u, active, tokens in list_users(store)
            ]

    for line in guard(run) or ["No users yet; add one with 'auditor users add NAME'."]:
        out.print(line, highlight=False)


@users_app.command("disable")
def users_disable(
    name: Annotated[str, typer.Argument(help="The user to disable.")],
    db: DbOption = None,
) -> None:
    """Disable a user: sign-ins, sessions and API tokens stop working at once."""
    from auditor.store import open_store
    from auditor.users import disable_user

    def run() -> None:
        with open_store(db) as store:
            disable_user(store, name, actor=current_user())

    guard(run)
    out.print(f"Disabled user {name}.", highlight=False)
