"""What makes the report render faster, and what it must not change.

SVG text drawn as whole runs (auditor.report.svgtext): same words in the same places as
WeasyPrint's letter-by-letter drawing, far fewer text-drawing operators, and every form
with per-letter positions left to WeasyPrint. The garbage collector paused during a render
(auditor.report.speedups.paused_gc): enabled again afterwards, also after a failure, and
left alone when the caller had disabled it. Both only inside render_speedups(): a render
outside it (the web server's) changes neither the collector nor WeasyPrint."""

from __future__ import annotations

import base64
import gc
import re
import shutil
import subprocess
import threading
import zlib

import pytest
import weasyprint
import weasyprint.svg as svg_package

from auditor.errors import RenderError
from auditor.report import render as render_mod
from auditor.report import svgtext
from auditor.report.fetcher import DataOnlyFetcher
from auditor.report.render import render_pdf
from auditor.report.speedups import paused_gc, render_speedups
from tests._paths import REPO

# The forms matplotlib writes (one x/y, text-anchor start/middle/end, bold, a rotated
# axis label), a text without coordinates, and two forms with per-letter positions.
SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="400pt" height="200pt"
 viewBox="0 0 400 200">
<text font-size="8px" font-family="'DejaVu Sans'" x="20" y="20">Wavy Tokyo start</text>
<text font-size="8px" font-family="'DejaVu Sans'" text-anchor="middle" x="200" y="40">middle
 anchored AV</text>
<text font-size="9px" font-family="'DejaVu Sans'" text-anchor="end" x="380" y="60"
 font-weight="bold">total gap (end)</text>
<text font-size="8px" font-family="'DejaVu Sans'" text-anchor="middle"
 transform="rotate(-90 30 150)" x="30" y="150">rotated label</text>
<text font-size="8px" font-family="'DejaVu Sans'" x="20 60 100" y="100">xyz</text>
<text font-size="8px" font-family="'DejaVu Sans'" x="200" y="100" dx="0 12 12">pqr</text>
<text font-size="8px" font-family="'DejaVu Sans'" x="20" y="180">after <tspan
 font-weight="bold">tspan</tspan> tail</text>
</svg>"""


def _pdf(svg: str) -> bytes:
    data = base64.b64encode(svg.encode()).decode()
    html = f'<img src="data:image/svg+xml;base64,{data}" style="width: 400pt">'
    fetcher = DataOnlyFetcher()
    return bytes(weasyprint.HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf())


def _words(pdf: bytes) -> list[tuple[str, float, float]]:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("poppler-utils (pdftotext) not installed")
    out = subprocess.run(
        [exe, "-bbox", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    return [
        (m.group(5), float(m.group(1)), float(m.group(2)))
        for m in re.finditer(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>',
            out,
        )
    ]


def _text_ops(pdf: bytes) -> int:
    """Number of text-showing operators (Tj/TJ) in the PDF's content streams."""
    count = 0
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL):
        try:
            data = zlib.decompress(match.group(1))
        except zlib.error:
            data = match.group(1)
        count += len(re.findall(rb"(?:\)|\])\s*T[jJ]\b", data))
    return count


@pytest.fixture(scope="module")
def fast_and_original() -> tuple[bytes, bytes]:
    assert not svgtext.installed()  # nothing patches WeasyPrint outside render_speedups
    original = svg_package.TAGS["text"]
    with render_speedups() as fast_path:
        assert fast_path  # the WeasyPrint in this environment is a verified one
        assert svg_package.TAGS["text"] is svgtext.fast_text
        fast = _pdf(SVG)
    assert svg_package.TAGS["text"] is original  # WeasyPrint's own function is back
    assert svg_package.text is original
    return fast, _pdf(SVG)


def test_same_words_in_the_same_places(fast_and_original: tuple[bytes, bytes]) -> None:
    fast, original = fast_and_original
    got, want = _words(fast), _words(original)
    assert [w for w, _, _ in got] == [w for w, _, _ in want]
    assert "Wavy" in [w for w, _, _ in got]
    assert "tspan" in [w for w, _, _ in got]
    for (word, x1, y1), (_, x2, y2) in zip(got, want, strict=True):
        # a run is kerned ("Wa", "To", "ky", "AV" are kerning pairs in DejaVu Sans): each
        # pair moves what follows by under a point at 8-9 px
        assert abs(x1 - x2) < 3.0, (word, x1, x2)
        assert abs(y1 - y2) < 0.5, (word, y1, y2)


def test_one_text_operator_per_run(fast_and_original: tuple[bytes, bytes]) -> None:
    fast, original = fast_and_original
    letters = len(re.sub(r"\s", "", "".join(re.findall(r">([^<]*)<", SVG))))
    assert _text_ops(original) >= letters  # WeasyPrint: one operator (at least) per letter
    # four one-position texts drawn as runs (one each), the rest letter by letter as before
    assert _text_ops(fast) <= _text_ops(original) - letters // 2


def test_per_letter_positions_stay_with_weasyprint(
    fast_and_original: tuple[bytes, bytes],
) -> None:
    fast, _ = fast_and_original
    xs = {w: x for w, x, _ in _words(fast)}
    # x="20 60 100": each letter at its own coordinate (pdftotext splits them into words)
    assert {"x", "y", "z"} <= set(xs)
    assert xs["y"] - xs["x"] == pytest.approx(40 * 400 / 400, abs=1.0)


def test_an_unverified_weasyprint_keeps_its_own_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weasyprint, "__version__", "71.0")
    before = dict(svg_package.TAGS)
    assert svgtext.install() is False
    with render_speedups() as fast_path:
        assert fast_path is False  # falls back to WeasyPrint's own drawing
        assert before == svg_package.TAGS
    assert before == svg_package.TAGS


def test_pyproject_pins_the_weasyprint_the_fast_path_was_checked_against() -> None:
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    (pin,) = [
        Requirement(r) for r in project["project"]["dependencies"] if r.startswith("weasyprint")
    ]
    for major in svgtext.VERIFIED:
        assert pin.specifier.contains(f"{major}.0")
    # the next major is excluded: the private function the fast path replaces may change
    assert not any(pin.specifier.contains(f"{int(m) + 1}.0") for m in svgtext.VERIFIED)
    assert svgtext.version_verified()  # and the installed one is such a version


# --- the garbage collector during a render ----------------------------------------------


def test_gc_is_paused_only_inside_render_speedups(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bool, bool]] = []
    real = render_mod._pdf

    def spy(html: str, **kwargs: object) -> bytes:
        seen.append((gc.isenabled(), svgtext.installed()))
        return real(html, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(render_mod, "_pdf", spy)
    assert gc.isenabled()
    # a render as the web server makes it: neither the collector nor WeasyPrint touched
    assert render_pdf("<p>x</p>", title="t", author="a", subject="s").startswith(b"%PDF")
    with render_speedups():
        pdf = render_pdf("<p>x</p>", title="t", author="a", subject="s")
    assert pdf.startswith(b"%PDF")
    assert seen == [(True, False), (False, True)]
    assert gc.isenabled()
    assert not svgtext.installed()


def test_gc_and_weasyprint_restored_after_a_failed_render() -> None:
    assert gc.isenabled()
    original = svg_package.TAGS["text"]
    with pytest.raises(RenderError, match="external resource"), render_speedups():
        render_pdf('<img src="http://example.com/x.png">', title="t", author="a", subject="s")
    assert gc.isenabled()
    assert svg_package.TAGS["text"] is original


def test_nested_render_speedups_undo_once_at_the_outermost() -> None:
    with render_speedups():
        with render_speedups() as inner:
            assert inner
        assert svgtext.installed()  # the outer block still renders with it
        assert not gc.isenabled()
    assert not svgtext.installed()
    assert gc.isenabled()


def test_gc_stays_disabled_when_the_caller_disabled_it() -> None:
    gc.disable()
    try:
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_renders_share_one_pause() -> None:
    inside = threading.Event()
    release = threading.Event()

    def other() -> None:
        with paused_gc():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    try:
        assert inside.wait(10)
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the other render is still going
    finally:
        release.set()
        thread.join(10)
    assert gc.isenabled()


# --- the layout fast path and the fast parse: the same PDF, byte for byte -------------------


def _report_pdf(result: object) -> bytes:
    from auditor.report import build_report
    from auditor.report.chart_cache import clear_chart_cache

    clear_chart_cache()
    return build_report(result).pdf  # type: ignore[arg-type]


def test_layout_fast_path_and_fast_parse_change_no_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    """The full report (hostile strings included) rendered with WeasyPrint's own parser and
    layout helpers, then with auditor's: the same bytes. Reports are deterministic now
    (their attached files carry the audit's date, not the time of rendering)."""
    from auditor.report import html_tree, layout_fastpath
    from tests.integration.pdf.test_report import hostile_result

    result = hostile_result()
    with render_speedups():
        assert layout_fastpath.installed()
        fast = _report_pdf(result)
        again = _report_pdf(result)
    assert fast == again
    assert not layout_fastpath.installed()
    monkeypatch.setattr(layout_fastpath, "install", lambda: False)
    monkeypatch.setattr(html_tree, "parse_simple_html", lambda html: None)
    with render_speedups():
        plain = _report_pdf(result)
    assert plain == fast


def test_layout_fast_path_is_undone_with_the_outermost_block() -> None:
    import weasyprint.formatting_structure.boxes as boxes
    import weasyprint.layout.block as block
    import weasyprint.layout.percent as percent

    from auditor.report import layout_fastpath

    own = (percent.resolve_percentages, boxes.Box.is_in_normal_flow)
    with render_speedups():
        assert block.resolve_percentages is layout_fastpath.resolve_percentages
        with render_speedups():
            pass
        assert layout_fastpath.installed()
    assert (percent.resolve_percentages, boxes.Box.is_in_normal_flow) == own
    assert block.resolve_percentages is own[0]
