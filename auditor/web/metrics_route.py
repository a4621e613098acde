"""``GET /metrics``: the store's schedules and latest ratios for Prometheus.

Who may scrape: by default a caller with the scrape token (``$AUDITOR_METRICS_TOKEN``, sent
as ``Authorization: Bearer``, what Prometheus' ``authorization`` setting does) or with
any viewer's API token or session; the document names schedules, protected groups and
their ratios, which is audit content. ``$AUDITOR_METRICS_PUBLIC=1`` drops the check for
deployments where the network already decides who reaches the server.
"""

from __future__ import annotations

import hmac

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import HTTPException

from auditor.monitoring import CONTENT_TYPE, metrics_text
from auditor.web.auth import identify, web


def scrape_allowed(request: Request, token: str | None) -> bool:
    """Whether the request carries the scrape token or a viewer's credentials."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if (
        token
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    ):
        return True
    who = identify(request)
    return who is not None and who.user.at_least("viewer")


def install_metrics(app: FastAPI) -> None:
    """Add the ``/metrics`` route to ``app``."""

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        ctx = web(request)
        if not ctx.settings.metrics_public and not scrape_allowed(
            request, ctx.settings.metrics_token
        ):
            raise HTTPException(
                401, "Authentication required.", headers={"WWW-Authenticate": "Bearer"}
            )
        return Response(metrics_text(ctx.store), media_type=CONTENT_TYPE)
