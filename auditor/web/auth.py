"""Who is asking: API tokens (``Authorization: Bearer``) or a server-side session cookie.

Route dependencies: :func:`api_user` answers 401/403 in JSON; :func:`page_user` sends
an anonymous browser to the login page. Roles are ordered viewer < officer < admin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request

from auditor.users import UserInfo, user_for_token
from auditor.web.context import WebContext
from auditor.web.sessions import COOKIE, SessionData, csrf_ok, find_session


@dataclass(frozen=True)
class Principal:
    """An authenticated caller; ``session`` is None for an API token."""

    user: UserInfo
    session: SessionData | None

    @property
    def name(self) -> str:
        """The user name recorded in events."""
        return self.user.name


class LoginRequired(Exception):
    """Raised by page dependencies for an anonymous request (answered with a redirect)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Forbidden(Exception):
    """Raised by page dependencies when the user's role is not enough."""

    def __init__(self, role: str) -> None:
        super().__init__(role)
        self.role = role


def web(request: Request) -> WebContext:
    """The application's settings, store and job runner."""
    context: WebContext = request.app.state.web
    return context


def identify(request: Request) -> Principal | None:
    """The caller, from a bearer token or else the session cookie; None if anonymous.

    Looked up once per request: the body guard identifies the caller before the body is
    read, and the route's dependency reuses that answer.
    """
    cached = request.scope.get(_PRINCIPAL_KEY, _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[no-any-return]
    who = _lookup(request)
    request.scope[_PRINCIPAL_KEY] = who
    return who


_PRINCIPAL_KEY = "auditor.principal"
_UNSET = object()


def _lookup(request: Request) -> Principal | None:
    ctx = web(request)
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        user = user_for_token(ctx.store, credentials.strip())
        return Principal(user, None) if user is not None else None
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    found = find_session(ctx.store, cookie)
    return Principal(*found) if found is not None else None


def api_user(role: str = "viewer") -> Callable[[Request], Principal]:
    """Dependency: the caller with at least ``role``; cookie writes need ``X-CSRF-Token``."""

    def dependency(request: Request) -> Principal:
        who = identify(request)
        if who is None:
            raise HTTPException(
                401, "Authentication required.", headers={"WWW-Authenticate": "Bearer"}
            )
        if not who.user.at_least(role):
            raise HTTPException(403, f"This needs the role {role} or higher.")
        if (
            request.method not in ("GET", "HEAD", "OPTIONS")
            and who.session is not None
            and not csrf_ok(who.session, request.headers.get("x-csrf-token"))
        ):
            raise HTTPException(403, "Missing or wrong X-CSRF-Token header.")
        return who

    return dependency


def page_user(role: str = "viewer") -> Callable[[Request], Principal]:
    """Dependency for pages: anonymous → login page; too low a role → 403 page."""

    def dependency(request: Request) -> Principal:
        who = identify(request)
        if who is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        request.state.principal = who  # the page renders the user without a second lookup
        if not who.user.at_least(role):
            raise Forbidden(role)
        return who

    return dependency


def check_form_csrf(who: Principal, submitted: str | None) -> None:
    """Refuse a form post whose CSRF token is not the session's."""
    if who.session is None or not csrf_ok(who.session, submitted):
        raise HTTPException(403, "The form expired or did not come from this site; reload it.")
