"""Render letters: Jinja2 (the report's environment: autoescape, StrictUndefined) to HTML,
and WeasyPrint (the data-only fetcher, the packaged font) to one PDF per letter.

Each letter is a standalone HTML document (:func:`wrap`) rendered to its own PDF by
:mod:`auditor.letters.pdf` (one WeasyPrint set-up per process, optional process pool);
``bench/bench_letters.py`` measures it against the previous code in the same run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jinja2
from markupsafe import Markup

from auditor.errors import RenderError
from auditor.letters.pdf import RenderedLetter, RenderQueue, render_documents
from auditor.report.render import environment, stylesheet

DOCUMENT = "letters/_document.html.j2"
STYLESHEET = "letters/letters.css"

__all__ = [
    "RenderQueue",
    "RenderedLetter",
    "render_body",
    "render_many",
    "render_one",
    "render_pdfs",
    "wrap",
]


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
    """One PDF per letter body (same order), on ``workers`` processes when above 1.

    ``anchors`` and ``batch`` are kept for callers of the earlier batched layout; each
    letter is now its own document (see :mod:`auditor.letters.pdf`).
    """
    del anchors, batch
    documents = [(wrap([body], title), title) for body, title in zip(bodies, titles, strict=True)]
    return render_documents(documents, author, workers=workers, progress=progress)


def render_pdfs(
    bodies: Sequence[Markup], anchors: Sequence[str], titles: Sequence[str], author: str
) -> list[RenderedLetter]:
    """One PDF per letter body, in this process (same order)."""
    return render_many(bodies, anchors, titles, author)


def render_one(body: Markup, anchor: str, title: str, author: str) -> RenderedLetter:
    """One letter rendered on its own."""
    return render_pdfs([body], [anchor], [title], author)[0]
