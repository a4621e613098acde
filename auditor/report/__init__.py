"""Audit reports: an :class:`~auditor.result.AuditResult` rendered to HTML and PDF."""

from auditor.report.render import ReportArtifact, build_report, render_html, render_pdf

__all__ = ["ReportArtifact", "build_report", "render_html", "render_pdf"]
