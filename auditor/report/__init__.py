"""Audit reports: an :class:`~auditor.result.AuditResult` rendered to HTML and PDF.

The names below are imported on first use, so that importing a light module of this
package (:mod:`auditor.report.fetcher`, which letter-rendering processes need) does not
load the whole report machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auditor.report.render import ReportArtifact, build_report, render_html, render_pdf

__all__ = ["ReportArtifact", "build_report", "render_html", "render_pdf"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from auditor.report import render

        return getattr(render, name)
    raise AttributeError(f"module 'auditor.report' has no attribute {name!r}")
