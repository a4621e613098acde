"""Letter HTML to PDF with WeasyPrint: one document per letter, set up once per process.

Measured on the demo letters (``bench/bench_letters.py``; profile in bench/README.md): the
cost of a letter is WeasyPrint's style, layout and drawing of its ~50 lines, plus a
fixed cost per document that this module keeps low:

- one :class:`LetterRenderer` per process keeps WeasyPrint's ``FontConfiguration``
  (fontconfig set-up, the packaged font registered once) instead of one per letter, and
  the letters' stylesheet parsed once;
- the letters use "Letter Sans" (``templates/letters/fonts``), a 60 KB Latin subset of
  DejaVu Sans: WeasyPrint subsets (HarfBuzz) every font a PDF uses, starting from a copy
  of the whole font file, so a small file is cheaper per letter than the 740 KB system
  fonts. Characters it lacks (Arabic, Hebrew, CJK...) fall back to the system's fonts
  through fontconfig and are subset in the same way. Embedding the small font whole
  (``full_fonts``) was measured too and is slower (it compresses the whole file per PDF).
- in the render worker processes (and only there: the collector's settings are
  process-wide, and a web server's threads must not change them under each other), the
  cyclic garbage collector runs less often (:func:`configure_render_worker`): WeasyPrint
  allocates some 100,000 small objects per letter, so the default threshold (700) starts a
  young-generation pass every few hundred boxes; the worker also freezes its warm-up
  objects out of full collections, and lays letters out with WeasyPrint's layout fast
  path (:mod:`auditor.report.layout_fastpath`). The PDF bytes are the same.

Laying many letters out in one document and splitting it (the previous design) saved
nothing once the font set-up was shared, so each letter is rendered from its own
standalone HTML, which is also the HTML stored with it.

This module imports WeasyPrint but not the report machinery (templates, charts), so that
worker processes start quickly (see :class:`RenderQueue`).
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType

from auditor._resources import templates_dir
from auditor.errors import RenderError
from auditor.report.fetcher import ASSET_SCHEME, DataOnlyFetcher, FetchRefusedError

FONT_FILES = ("LetterSans.ttf", "LetterSans-Bold.ttf")
CHUNK = 8  # letters per task sent to a worker process
# young-generation threshold while a letter renders: a few collections per letter instead
# of a few hundred (WeasyPrint's boxes and styles hold no cycles that need freeing sooner)
RENDER_GC_THRESHOLD = 50_000


def configure_render_worker() -> None:
    """Collector settings for a process that only renders letters: a young-generation
    threshold of :data:`RENDER_GC_THRESHOLD`, and what is alive after the warm-up
    (WeasyPrint, Pango bindings, fonts) frozen out of full passes. Never called in the
    caller's own process. Also WeasyPrint's layout fast path
    (:mod:`auditor.report.layout_fastpath`: same PDF bytes), which patches WeasyPrint for
    the whole process as only a process that does nothing but render may."""
    from auditor.report import layout_fastpath

    layout_fastpath.install()
    gc.set_threshold(RENDER_GC_THRESHOLD, *gc.get_threshold()[1:])
    gc.freeze()


@dataclass(frozen=True)
class RenderedLetter:
    """A letter's standalone HTML, its PDF and the PDF's SHA-256."""

    html: str
    pdf: bytes
    sha256: str


def letter_assets() -> dict[str, Path]:
    """The only non-``data:`` URLs a letter may load: the packaged font files."""
    folder = templates_dir() / "letters" / "fonts"
    return {f"{ASSET_SCHEME}letters/fonts/{name}": folder / name for name in FONT_FILES}


class LetterRenderer:
    """WeasyPrint set up once (fonts, fetcher); renders one letter's HTML per call."""

    def __init__(self) -> None:
        import weasyprint
        from weasyprint.text.fonts import FontConfiguration

        self.fonts = FontConfiguration()
        self.fetcher = DataOnlyFetcher(assets=letter_assets())
        css = (templates_dir() / "letters" / "letters.css").read_text(encoding="utf-8")
        self._style_tag = f"<style>{css}</style>"
        self._sheet = weasyprint.CSS(string=css, font_config=self.fonts, url_fetcher=self.fetcher)

    def render(self, html: str, title: str, author: str) -> tuple[bytes, str]:
        """The PDF of one standalone letter document, and its SHA-256 (hex).

        The letters' stylesheet, parsed once, stands in for its copy inside the
        document's ``<style>`` (the PDF is byte-identical; tested): no parse per letter.
        """
        from auditor.report.html_tree import weasyprint_html

        sheets = []
        source = html
        if self._style_tag in html:
            source, sheets = html.replace(self._style_tag, "", 1), [self._sheet]
        try:
            document = weasyprint_html(source, self.fetcher).render(
                font_config=self.fonts, stylesheets=sheets
            )
            document.metadata.title = title
            document.metadata.authors = [author]
            pdf = document.write_pdf(pdf_identifier=hashlib.sha256(html.encode()).digest()[:16])
        except FetchRefusedError as exc:
            raise RenderError(f"Letter rendering stopped: {exc}.") from None
        except Exception as exc:
            raise RenderError(f"Letter rendering failed ({type(exc).__name__}): {exc}") from exc
        if not isinstance(pdf, bytes) or not pdf.startswith(b"%PDF"):
            raise RenderError(f"Letter '{title}' produced no PDF document.")
        return pdf, hashlib.sha256(pdf).hexdigest()

    def warm(self) -> None:
        """Load Pango, fontconfig and the packaged font before the first real letter."""
        self.render(
            f"<!DOCTYPE html><html><head>{self._style_tag}</head>"
            "<body><p>Warm <b>up</b></p></body></html>",
            "warm-up",
            "auditor",
        )


@cache
def local_renderer() -> LetterRenderer:
    """This process's renderer (created on first use)."""
    return LetterRenderer()


def _start_worker() -> None:
    local_renderer().warm()
    configure_render_worker()


def _ready() -> None:
    """A no-op task: submitting one per worker starts (and warms) the pool at once."""


def _render_chunk(chunk: list[tuple[str, str, str]]) -> list[tuple[bytes, str]]:
    renderer = local_renderer()
    return [renderer.render(html, title, author) for html, title, author in chunk]


class RenderQueue:
    """Letters to render, in the order added; on ``workers`` processes when above 1.

    The pool is started (and each worker warmed: WeasyPrint imported, fonts loaded) when
    the queue is created, so that it gets ready while the caller computes attributions;
    letters are sent in chunks of :data:`CHUNK` as they are added, so rendering overlaps
    with building the next letters. WeasyPrint's layout is single-threaded Python:
    processes are the way to use more than one core. Use it as a context manager (the
    pool is shut down on exit, also on errors).
    """

    def __init__(
        self, *, workers: int = 1, progress: Callable[[int, int], None] | None = None
    ) -> None:
        self.progress = progress
        self.expected = 0  # letters the caller expects to add (for the progress total)
        self._html: list[str] = []
        self._pending: list[tuple[str, str, str]] = []
        self._futures: list[Future[list[tuple[bytes, str]]]] = []
        self._done: list[tuple[bytes, str]] = []
        self._pool: ProcessPoolExecutor | None = None
        if workers > 1:
            import multiprocessing

            self._pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
            )
            for _ in range(workers):
                self._pool.submit(_ready)

    def add(self, html: str, title: str, author: str) -> int:
        """Queue one standalone letter document; returns its index in :meth:`results`."""
        self._html.append(html)
        self._pending.append((html, title, author))
        if self._pool is None:
            self._collect(_render_chunk(self._pending))
            self._pending = []
        elif len(self._pending) >= CHUNK:
            self._send()
        return len(self._html) - 1

    def _send(self) -> None:
        assert self._pool is not None
        self._futures.append(self._pool.submit(_render_chunk, self._pending))
        self._pending = []

    def _collect(self, part: list[tuple[bytes, str]]) -> None:
        self._done += part
        if self.progress:
            self.progress(len(self._done), max(len(self._html), self.expected))

    def results(self) -> list[RenderedLetter]:
        """Every queued letter rendered, in the order added."""
        self.expected = len(self._html)
        if self._pending:
            self._send()
        for future in self._futures:
            self._collect(future.result())
        self._futures = []
        if self.progress and self._html:
            self.progress(len(self._done), len(self._html))
        return [
            RenderedLetter(html, pdf, digest)
            for html, (pdf, digest) in zip(self._html, self._done, strict=True)
        ]

    def close(self) -> None:
        """Stop the worker processes (pending work is cancelled)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> RenderQueue:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def render_documents(
    documents: list[tuple[str, str]],
    author: str,
    *,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[RenderedLetter]:
    """Render (html, title) documents, in order, on ``workers`` processes."""
    with RenderQueue(workers=workers, progress=progress) as queue:
        for html, title in documents:
            queue.add(html, title, author)
        return queue.results()
