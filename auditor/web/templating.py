"""Jinja2 for the web pages: autoescaped, StrictUndefined, with the report's filters.

The audit page includes the report's own section templates, so both share one loader
(the packaged ``templates/`` folder) and the same filters.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from auditor.report.render import safe_environment


@cache
def environment() -> jinja2.Environment:
    """The web pages' Jinja2 environment (created once)."""
    return safe_environment(
        when=lambda d: d.strftime("%Y-%m-%d %H:%M UTC") if d else "—",
    )


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Render ``web/<template>`` with the signed-in user and CSRF token available."""
    from auditor.web.auth import identify

    who = getattr(request.state, "principal", None)
    if who is None:
        try:
            who = identify(request)
        except Exception:  # an error page must render even if the store is down
            who = None
    page = environment().get_template(f"web/{template}")
    html = page.render(
        **context,
        user=who.user if who is not None else None,
        csrf=who.session.csrf if who is not None and who.session is not None else "",
        path=request.url.path,
    )
    return HTMLResponse(html, status_code=status_code)
