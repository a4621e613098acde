"""Who may send a request body, and how large: decided before a byte of it is read.

FastAPI parses a form or upload (spooling it to a temporary file) before any route
dependency runs, so authentication in a dependency comes too late to stop an anonymous
200 MB upload, and a size check in the route comes after the whole body is in memory.
This ASGI middleware runs first: it identifies the caller from the headers alone
(bearer token or session cookie), refuses an anonymous or under-privileged writer
without touching the body, refuses a declared ``Content-Length`` over the route's limit
with 413, and counts the bytes as they stream in, answering 413 as soon as the limit is
passed. Only the sign-in form accepts an anonymous body (a small one).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auditor.web.settings import WebSettings

FORM_LIMIT = 64 * 1024
"""Bodies of routes that take a few form fields or a small JSON object."""
_READ_ONLY = frozenset(("GET", "HEAD", "OPTIONS"))


@dataclass(frozen=True)
class BodyRule:
    """What a route accepts: at most ``limit`` bytes, from ``role`` or higher (None:
    anyone, even anonymous)."""

    limit: int
    role: str | None


def body_rule(method: str, path: str, settings: WebSettings) -> BodyRule:
    """The rule for a request with a body."""
    if path == "/login":
        return BodyRule(FORM_LIMIT, None)
    if method == "POST" and path in ("/api/audits", "/audits/new"):
        return BodyRule(settings.max_spec_upload_bytes, "officer")
    if method == "POST" and path in ("/api/letters/issue", "/letters/issue"):
        return BodyRule(settings.max_upload_bytes, "officer")
    if method == "POST" and path.startswith(("/api/audits/", "/audits/")) and path.endswith(
        ("/attestations", "/attest")
    ):
        # evidence with an optional document (issue 21); base64 in JSON adds a third
        return BodyRule(settings.max_upload_bytes * 4 // 3 + FORM_LIMIT, "officer")
    return BodyRule(FORM_LIMIT, "viewer")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the streamed body passes the route's limit.

    An ``HTTPException`` so FastAPI re-raises it from its body parsing (closing any
    spooled upload) and the application's handler answers 413.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {_size(limit)}.")


def _size(limit: int) -> str:
    return f"{limit / 1048576:g} MiB" if limit >= 1048576 else f"{limit / 1024:g} KiB"


class BodyGuard:
    """ASGI middleware: authenticate and bound every request body before it is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _READ_ONLY:
            await self.app(scope, receive, send)
            return
        from auditor.web.auth import identify

        request = Request(scope)  # headers and cookies only: the body stays unread
        settings: WebSettings = request.app.state.web.settings
        path = scope["path"]
        rule = body_rule(scope["method"], path, settings)
        refusal: Response | None = None
        if rule.role is not None:
            who = await run_in_threadpool(identify, request)
            if who is None:
                refusal = _anonymous(path, scope.get("query_string", b""))
            elif not who.user.at_least(rule.role):
                refusal = JSONResponse(
                    {"detail": f"This needs the role {rule.role} or higher."}, status_code=403
                )
        declared = request.headers.get("content-length")
        if refusal is None and declared is not None:
            if not declared.isdigit():
                refusal = JSONResponse({"detail": "Bad Content-Length header."}, 400)
            elif int(declared) > rule.limit:
                refusal = JSONResponse({"detail": BodyTooLarge(rule.limit).detail}, 413)
        if refusal is not None:
            # the client may still be sending: close the connection rather than drain it
            refusal.headers["Connection"] = "close"
            await refusal(scope, receive, send)
            return
        await self.app(scope, _limited(receive, rule.limit), send)


def _anonymous(path: str, query: bytes) -> Response:
    if path.startswith("/api/"):
        return JSONResponse(
            {"detail": "Authentication required."},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    target = path + (f"?{query.decode('latin-1')}" if query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises :class:`BodyTooLarge` once more than ``limit`` bytes came."""
    seen = 0

    async def guarded() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return guarded
