"""Render an :class:`AuditResult` to HTML (Jinja2) and PDF (WeasyPrint).

One Jinja2 environment, created on first use and cached: templates come from
``templates/report/`` (see :func:`auditor._resources.templates_dir`), every template is
autoescaped and a missing variable is an error (``StrictUndefined``), because a blank in
legal text is worse than a failed render.

WeasyPrint gets the HTML as a string with ``base_url=None`` and a fetcher that serves only
``data:`` URLs (:class:`~auditor.report.fetcher.DataOnlyFetcher`); the stylesheet is inlined
in the HTML, so a render reads no file and makes no request.

Neither the garbage collector nor WeasyPrint is touched here: the performance policy
(collector paused, SVG text fast path) is process-wide, so only callers that own their
process apply it, with :func:`auditor.report.speedups.render_speedups` around the render
(the CLI, render worker processes, the scheduler; never the web server). A report made
inside it records that the fast path drew it (:attr:`ReportArtifact.svg_fast_path`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from auditor._resources import templates_dir
from auditor.errors import RenderError
from auditor.report import svgtext
from auditor.report.attachments import Attachment
from auditor.report.context import build_context
from auditor.report.fetcher import DataOnlyFetcher, FetchRefusedError
from auditor.report.filters import FILTERS
from auditor.report.ll144 import LL144View
from auditor.report.presets import get_preset
from auditor.report.signature import Signature
from auditor.report.speedups import paused_gc as paused_gc  # moved there; still importable
from auditor.report.tables import short_label, test_name
from auditor.result import AuditResult

if TYPE_CHECKING:
    from auditor.store.letter_batches import LetterBatchRow

TEMPLATE = "report/base.html.j2"
STYLESHEET = "report/report.css"


@dataclass(frozen=True)
class ReportArtifact:
    """A rendered report: the HTML, the PDF made from it, the PDF's SHA-256 (hex), the
    preset it was rendered in (stored with it) and, for the public LL144 summary, its
    machine-readable companion (JSON text, see :mod:`auditor.report.ll144_companion`)."""

    html: str
    pdf: bytes
    sha256: str
    preset: str = "full"
    companion: str | None = None
    svg_fast_path: bool = False
    """Whether the PDF's chart labels were drawn by auditor's SVG text fast path
    (:mod:`auditor.report.svgtext`) rather than WeasyPrint's own code; stored in the
    event that records the report."""

    def write(self, path: Path) -> None:
        """Write the PDF to ``path`` atomically (temporary file, then ``os.replace``), and
        the companion, if any, to :func:`companion_path` of ``path`` the same way.

        Parent folders are created. On failure no partial file is left at ``path``.
        """
        path = Path(path)
        if self.companion is not None:
            _write_atomic(companion_path(path), self.companion.encode("utf-8"))
        _write_atomic(path, self.pdf)


def companion_path(pdf_path: Path) -> Path:
    """Where the companion JSON of a report written to ``pdf_path`` goes: beside it, same
    name, ``.json`` (``ll144.pdf`` -> ``ll144.json``)."""
    return Path(pdf_path).with_suffix(".json")


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from None
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)  # atomic on POSIX and Windows (os.replace)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _write_error(path, exc) from None


def _write_error(path: Path, exc: OSError) -> RenderError:
    return RenderError(f"Cannot write the report to {path}: {exc.strerror or exc}.")


def safe_environment(**filters: Any) -> jinja2.Environment:
    """A Jinja2 environment over the packaged templates that escapes everything.

    Autoescaping (also for templates from strings) and strict undefined variables; the
    report's filters plus ``filters``. Shared by the report, the letters and the web pages.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters.update(FILTERS)
    env.filters["test_name"] = test_name
    env.filters["short_label"] = short_label
    env.filters.update(filters)
    return env


@cache
def environment() -> jinja2.Environment:
    """The report's Jinja2 environment (created once)."""
    return safe_environment()


@cache
def stylesheet(name: str) -> Markup:
    """A packaged stylesheet (``templates/<name>``), to be placed inside ``<style>``."""
    path = templates_dir() / name
    try:
        css = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RenderError(f"Cannot read the stylesheet {path}: {exc}.") from None
    if "</" in css:
        raise RenderError(f"The stylesheet {path} must not contain '</'.")
    # Our own packaged file, placed inside <style>, where HTML escaping would corrupt it.
    return Markup(css)


def render_html(
    result: AuditResult,
    preset: str = "full",
    *,
    history: Sequence[AuditResult] = (),
    signoff: Signature | None = None,
    letters: Sequence[LetterBatchRow] = (),
    lda: Mapping[str, Any] | None = None,
) -> str:
    """The report as one self-contained HTML document (same inputs -> identical bytes).

    ``preset`` picks the layout (see :mod:`auditor.report.presets`): ``full``, ``ll144``
    or ``aaa``; an unknown name is a :class:`RenderError`. ``history`` holds earlier
    stored runs of the same audit (the caller loads them; the report never queries the
    database): with at least one run before ``result`` the full report gains a trend
    subsection. Runs after ``result`` are ignored, so a re-render of an old audit shows
    the trend as it stood at that audit. ``signoff`` fills the sign-off block (issue 21).
    ``letters``: the audit's stored letter batches (a re-render shows their counts and
    hold rate in the summary). ``lda``: the record of a stored search for less
    discriminatory alternatives made for this audit and model (section 4 summarises it).
    """
    return _render_html(result, preset, history, signoff, letters, lda)[0]


def _render_html(
    result: AuditResult,
    preset: str,
    history: Sequence[AuditResult],
    signoff: Signature | None = None,
    letters: Sequence[LetterBatchRow] = (),
    lda: Mapping[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The HTML and the context it was rendered from (the LL144 companion reuses its view)."""
    chosen = get_preset(preset)
    try:
        template = environment().get_template(TEMPLATE)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(
            f"Report template '{exc.name}' not found under {templates_dir()}; reinstall auditor."
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(
            f"Report template {exc.filename or exc.name}, line {exc.lineno}: {exc.message}."
        ) from None
    context = build_context(result, chosen, history=history, letters=letters, lda=lda)
    context["signoff"] = signoff
    try:
        return template.render(**context, css=stylesheet(STYLESHEET)), context
    except jinja2.UndefinedError as exc:
        raise RenderError(f"Report template uses an undefined value: {exc.message}.") from None
    except jinja2.TemplateError as exc:
        raise RenderError(f"Report template failed: {exc}.") from None


def render_pdf(
    html: str,
    *,
    title: str,
    author: str,
    subject: str,
    created: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> bytes:
    """Render ``html`` to PDF bytes, with the given document metadata.

    Nothing is fetched: ``base_url`` is ``None`` and only ``data:`` URLs are served.
    ``created`` (ISO 8601) becomes the PDF's creation date; without it none is written.
    ``attachments`` are embedded as files (see :mod:`auditor.report.attachments`).
    """
    return _pdf(
        html,
        title=title,
        author=author,
        subject=subject,
        created=created,
        attachments=attachments,
    )


def _pdf(
    html: str,
    *,
    title: str,
    author: str,
    subject: str,
    created: str | None,
    attachments: Sequence[Attachment],
) -> bytes:
    import weasyprint  # heavy import (Pango, fonts): only when a PDF is made

    from auditor.report.html_tree import weasyprint_html

    fetcher = DataOnlyFetcher()
    try:
        document = weasyprint_html(html, fetcher).render()
        meta = document.metadata
        meta.title = title
        meta.authors = [author]
        meta.description = subject
        meta.created = _iso(created)
        meta.modified = meta.created
        # the files carry the report's own date (WeasyPrint would stamp each with the
        # time of rendering, so the same audit rendered twice gave different bytes)
        stamp = datetime.fromisoformat(meta.created) if meta.created else None
        files = [
            weasyprint.Attachment(
                string=a.data,
                name=a.name,
                description=a.description,
                created=stamp,
                modified=stamp,
            )
            for a in attachments
        ]
        pdf = document.write_pdf(
            pdf_identifier=hashlib.sha256(html.encode()).digest()[:16], attachments=files
        )
    except FetchRefusedError as exc:
        raise RenderError(f"PDF rendering stopped: {exc}.") from None
    except Exception as exc:
        raise RenderError(f"PDF rendering failed ({type(exc).__name__}): {exc}") from exc
    if not isinstance(pdf, bytes) or not pdf.startswith(b"%PDF"):
        raise RenderError("PDF rendering produced no PDF document.")
    return pdf


def _iso(value: str | None) -> str | None:
    if not value:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return None
    return value


def build_report(
    result: AuditResult,
    *,
    preset: str = "full",
    history: Sequence[AuditResult] = (),
    signoff: Signature | None = None,
    letters: Sequence[LetterBatchRow] = (),
    lda: Mapping[str, Any] | None = None,
) -> ReportArtifact:
    """Render ``result`` to HTML and PDF (in the layout ``preset``) and fingerprint the PDF.

    ``history``: earlier stored runs of the same audit, for the trend subsection (see
    :func:`render_html`); ``signoff``: a recorded sign-off that fills the sign-off block;
    ``letters``: the audit's stored letter batches; ``lda``: the record of a stored search
    for less discriminatory alternatives made for this audit and model.
    """
    return _build(result, preset, history, signoff, letters, lda)


def _build(
    result: AuditResult,
    preset: str,
    history: Sequence[AuditResult],
    signoff: Signature | None,
    letters: Sequence[LetterBatchRow],
    lda: Mapping[str, Any] | None = None,
) -> ReportArtifact:
    chosen = get_preset(preset)
    html, context = _render_html(result, preset, history, signoff, letters, lda)
    # the LL144 view is built once, with the HTML: the PDF's author and the companion
    # JSON read the same view (and so the same numbers) the summary shows
    view: LL144View | None = context["ll144"] if chosen.key == "ll144" else None
    run = result.run
    subject = f"{result.domain.capitalize()} decision audit {result.audit_id}"
    if chosen.key != "full":
        subject = f"{chosen.kicker.format(domain=result.domain.capitalize())}: {subject}"
    # The public LL144 summary names the employer, never the user or host that ran auditor.
    author = (
        view.publication.employer
        if view is not None and view.publication is not None
        else f"auditor, run by {run.user} on {run.host}"
    )
    fast = svgtext.installed()  # set by render_speedups() around this call, if at all
    pdf = render_pdf(
        html,
        title=result.name,
        author=author,
        subject=subject,
        created=run.finished_at,
        # the list the appendix's table was rendered from: built once per report (the
        # result's JSON and each pack's fixtures are serialised once, not twice)
        attachments=context["attachments"],
    )
    return ReportArtifact(
        html=html,
        pdf=pdf,
        sha256=hashlib.sha256(pdf).hexdigest(),
        preset=chosen.key,
        companion=_companion(result, view) if view is not None else None,
        svg_fast_path=fast,
    )


def _companion(result: AuditResult, view: LL144View) -> str:
    """The LL144 companion JSON, from the view the summary's HTML was rendered from."""
    from auditor.report.ll144_companion import companion_json

    return companion_json(result, view)
