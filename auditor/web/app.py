"""The FastAPI application: pages, the JSON API under ``/api``, login and static CSS."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse

from auditor._resources import templates_dir
from auditor.errors import AuditorError
from auditor.store import default_database_url, open_store
from auditor.web.auth import Forbidden, LoginRequired, Principal, api_user
from auditor.web.body_guard import BodyGuard
from auditor.web.context import WebContext
from auditor.web.jobs import AuditJobs
from auditor.web.metrics_route import install_metrics
from auditor.web.settings import WebSettings
from auditor.web.templating import render
from auditor.web.throttle import LoginThrottle
from auditor.web.worker import WorkerLimits, warm_up
from auditor.web.workspace import NotFoundError

CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "script-src 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; connect-src 'self'"
)


def create_app(settings: WebSettings | None = None) -> FastAPI:
    """The web workspace over the store in ``settings`` (migrated on start)."""
    from auditor.web import api, lda_pages, pages

    settings = settings or WebSettings()
    url = settings.database_url or default_database_url()
    store = open_store(url)
    jobs = AuditJobs(
        store, url, limits=WorkerLimits(settings.job_memory_mb, settings.job_timeout_s)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=warm_up, name="worker-warm-up", daemon=True).start()
        yield
        jobs.shutdown()
        store.dispose()

    app = FastAPI(
        title="auditor web workspace",
        version="1",
        description="Audits, findings, reports, letters, schedules and policy packs. "
        "Authenticate with 'Authorization: Bearer <token>' (auditor users token NAME).",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served below, to signed-in callers only
    )
    app.state.web = WebContext(settings, store, url, jobs, LoginThrottle())
    app.include_router(api.router)
    app.include_router(lda_pages.api_router)

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(who: Annotated[Principal, Depends(api_user("viewer"))]) -> dict[str, Any]:
        return app.openapi()

    app.include_router(pages.router)
    app.include_router(lda_pages.router)
    install_metrics(app)
    _install_handlers(app)
    app.add_middleware(BodyGuard)  # inside the security headers, so refusals get them too
    _install_headers(app)
    return app


def _install_handlers(app: FastAPI) -> None:
    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_path, safe='')}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        message = f"This page needs the role {exc.role} or higher."
        return render(request, "error.html.j2", {"title": "Not allowed", "message": message}, 403)

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> Response:
        if is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=404)
        return render(request, "error.html.j2", {"title": "Not found", "message": str(exc)}, 404)

    @app.exception_handler(AuditorError)
    async def user_error(request: Request, exc: AuditorError) -> Response:
        if is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=400)
        return render(request, "error.html.j2", {"title": "Problem", "message": str(exc)}, 400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if is_api(request) or exc.status_code == 401:
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        message = str(exc.detail)
        return render(
            request, "error.html.j2", {"title": "Problem", "message": message}, exc.status_code
        )

    @app.get("/static/web.css", include_in_schema=False)
    def stylesheet() -> Response:
        css = (templates_dir() / "web" / "web.css").read_text(encoding="utf-8")
        return PlainTextResponse(
            css, media_type="text/css", headers={"Cache-Control": "max-age=300"}
        )


def _install_headers(app: FastAPI) -> None:
    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.url.path != "/static/web.css":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
