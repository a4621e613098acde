"""The standalone document of a search: its record rendered to HTML and PDF (WeasyPrint),
through the report's own templates, filters, stylesheet and data-only fetcher."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from auditor.errors import DataValidationError, RenderError
from auditor.lda.evidence import record_intact
from auditor.report.lda import build_lda_view
from auditor.report.render import environment, render_pdf, stylesheet

TEMPLATE = "report/lda_document.html.j2"
STYLESHEET = "report/report.css"


def render_lda_html(record: Mapping[str, Any]) -> str:
    """The search's document as one self-contained HTML page (same record -> same bytes)."""
    view = build_lda_view(record)
    try:
        template = environment().get_template(TEMPLATE)
        return template.render(v=view, css=stylesheet(STYLESHEET))
    except jinja2.TemplateError as exc:
        raise RenderError(f"The search document's template failed: {exc}.") from None


def render_lda_pdf(record: Mapping[str, Any]) -> bytes:
    """The search's document as PDF bytes, dated by the record's finish time."""
    html = render_lda_html(record)
    run_by = record.get("run_by") or {}
    return render_pdf(
        html,
        title=f"{record.get('name', '')}: search for less discriminatory alternatives",
        author=f"auditor, run by {run_by.get('user', 'unknown')} on {run_by.get('host', '')}",
        subject=f"Search for less discriminatory alternatives, record "
        f"{record.get('record_sha256', '')}",
        created=str(record.get("finished_at") or "") or None,
    )


def read_record(path: Path) -> dict[str, Any]:
    """A record written by ``auditor lda`` (``lda_record.json``), checked intact."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataValidationError(f"{path}: cannot read the search record: {exc}") from None
    except ValueError as exc:
        raise DataValidationError(f"{path}: not a JSON search record: {exc}") from None
    if not isinstance(record, dict) or not str(record.get("schema", "")).startswith("auditor.lda/"):
        raise DataValidationError(
            f"{path}: not a search record of auditor lda (no 'schema: auditor.lda/…')"
        )
    if not record_intact(record):
        raise DataValidationError(
            f"{path}: record_sha256 does not match the record's content: it was changed "
            "after the search wrote it"
        )
    return record
