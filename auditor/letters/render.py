"""Render letters: Jinja2 (the report's environment: autoescape, StrictUndefined) to HTML,
and WeasyPrint (the data-only fetcher) to one PDF per letter.

Many letters are laid out in ONE WeasyPrint document (each starts on a new page) and the
pages of each letter are written out as its own PDF: layout, fonts and CSS are set up
once per batch instead of once per letter (``bench/bench_letters.py`` measures both).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup

from auditor.errors import RenderError
from auditor.report.fetcher import DataOnlyFetcher, FetchRefusedError
from auditor.report.render import environment, stylesheet

DOCUMENT = "letters/_document.html.j2"
STYLESHEET = "letters/letters.css"


@dataclass(frozen=True)
class RenderedLetter:
    """A letter's standalone HTML, its PDF and the PDF's SHA-256."""

    html: str
    pdf: bytes
    sha256: str


def render_body(kind: str, context: dict[str, Any], anchor: str) -> Markup:
    """One letter's ``<article>`` (autoescaped) from ``templates/letters/<kind>.html.j2``."""
    try:
        template = environment().get_template(f"letters/{kind}.html.j2")
        return Markup(template.render(**context, anchor=anchor))
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"Letter template '{exc.name}' not found; reinstall auditor.") from None
    except jinja2.UndefinedError as exc:
        raise RenderError(
            f"Letter template {kind} uses an undefined value: {exc.message}."
        ) from None
    except jinja2.TemplateError as exc:
        raise RenderError(f"Letter template {kind} failed: {exc}.") from None


def wrap(bodies: Sequence[Markup], title: str) -> str:
    """A complete HTML document holding one or more letter bodies."""
    template = environment().get_template(DOCUMENT)
    return template.render(bodies=list(bodies), title=title, css=stylesheet(STYLESHEET))


def render_pdfs(
    bodies: Sequence[Markup], anchors: Sequence[str], titles: Sequence[str], author: str
) -> list[RenderedLetter]:
    """All letters in one layout pass, split into one PDF per letter (same order)."""
    import weasyprint

    html = wrap(bodies, "letters")
    fetcher = DataOnlyFetcher()
    try:
        document = weasyprint.HTML(string=html, base_url=None, url_fetcher=fetcher).render()
    except FetchRefusedError as exc:
        raise RenderError(f"Letter rendering stopped: {exc}.") from None
    except Exception as exc:
        raise RenderError(f"Letter rendering failed ({type(exc).__name__}): {exc}") from exc
    starts = []
    for anchor in anchors:
        page = next((i for i, p in enumerate(document.pages) if anchor in p.anchors), None)
        if page is None:
            raise RenderError(f"Letter {anchor} produced no page.")
        starts.append(page)
    ends = [*starts[1:], len(document.pages)]
    out = []
    for body, title, start, end in zip(bodies, titles, starts, ends, strict=True):
        standalone = wrap([body], title)
        part = document.copy(document.pages[start:end])
        part.metadata.title = title
        part.metadata.authors = [author]
        ident = hashlib.sha256(standalone.encode()).digest()[:16]
        pdf = part.write_pdf(pdf_identifier=ident)
        if not isinstance(pdf, bytes) or not pdf.startswith(b"%PDF"):
            raise RenderError(f"Letter '{title}' produced no PDF document.")
        out.append(RenderedLetter(standalone, pdf, hashlib.sha256(pdf).hexdigest()))
    return out


def _render_chunk(args: tuple[list[str], list[str], list[str], str]) -> list[RenderedLetter]:
    bodies, anchors, titles, author = args
    return render_pdfs([Markup(b) for b in bodies], anchors, titles, author)


def render_many(
    bodies: Sequence[Markup],
    anchors: Sequence[str],
    titles: Sequence[str],
    author: str,
    *,
    batch: int = 40,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[RenderedLetter]:
    """Render in batches of ``batch`` letters, on ``workers`` processes when above 1.

    Each worker is a fresh (spawned) process: WeasyPrint's layout is single-threaded
    Python, so processes are the way to use more than one core.
    """
    chunks = [
        (
            [str(b) for b in bodies[i : i + batch]],
            list(anchors[i : i + batch]),
            list(titles[i : i + batch]),
            author,
        )
        for i in range(0, len(bodies), batch)
    ]
    out: list[RenderedLetter] = []
    if workers <= 1 or len(chunks) <= 1:
        results: Iterator[list[RenderedLetter]] = map(_render_chunk, chunks)
        for part in results:
            out += part
            if progress:
                progress(len(out), len(bodies))
        return out
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for part in pool.map(_render_chunk, chunks):
            out += part
            if progress:
                progress(len(out), len(bodies))
    return out


def render_one(body: Markup, anchor: str, title: str, author: str) -> RenderedLetter:
    """One letter rendered on its own (the naive path; used by the benchmark)."""
    return render_pdfs([body], [anchor], [title], author)[0]
