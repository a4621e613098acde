"""Letter rendering with real WeasyPrint PDFs: the packaged font and its fallback to the
system's fonts for other scripts, the fetcher, long text, reproducible digests across
renderers and the process pool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from markupsafe import Markup, escape

from auditor.letters.pdf import LetterRenderer, RenderQueue, letter_assets
from auditor.letters.render import wrap
from auditor.report.fetcher import DataOnlyFetcher, FetchRefusedError

ARABIC = "مرحبا بالعالم"
HEBREW = "שלום עולם"
CJK = "你好世界"


def _letter(name: str, extra: str = "") -> str:
    body = (
        '<article class="letter" id="letter-0">'
        f'<p>Dear <span class="u">{escape(name)}</span>,</p>'
        "<p>We are unable to approve your application — “as scored”, 1 200 € · ½.</p>"
        f"{extra}</article>"
    )
    return wrap([Markup(body)], "Test letter")


def _fonts(pdf: bytes, tmp: Path) -> list[str]:
    path = tmp / "fonts.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines()[2:] if line.strip()]


def _text(pdf: bytes, *args: str) -> str:
    out = subprocess.run(
        ["pdftotext", *args, "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout
    return out.decode()


def test_latin_letter_uses_only_the_packaged_font(tmp_path: Path) -> None:
    renderer = LetterRenderer()
    name = "Zoë Łukasiewicz-Núñez"
    pdf, _ = renderer.render(_letter(name), "Test letter", "Bank")
    fonts = _fonts(pdf, tmp_path)
    assert fonts
    assert all(f.endswith(("+Letter-Sans", "+Letter-Sans-Bold")) for f in fonts)
    assert name in _text(pdf)
    assert set(renderer.fetcher.requested) == set(letter_assets())


def test_other_scripts_fall_back_to_system_fonts_and_fetch_nothing(tmp_path: Path) -> None:
    renderer = LetterRenderer()
    pdf, _ = renderer.render(_letter(f"{ARABIC} {HEBREW} {CJK} Smith"), "Test letter", "Bank")
    fonts = _fonts(pdf, tmp_path)
    assert any(f.endswith("+Letter-Sans") for f in fonts)  # the Latin text
    fallback = [f for f in fonts if "Letter-Sans" not in f]
    assert fallback, fonts  # Arabic and Hebrew glyphs come from a subset system font
    text = _text(pdf)
    assert set(ARABIC.replace(" ", "")) <= set(text)
    assert set(HEBREW.replace(" ", "")) <= set(text)
    assert "Smith" in text
    # only the packaged font was requested: nothing local or remote besides it
    assert set(renderer.fetcher.requested) <= set(letter_assets())


def test_fetcher_serves_the_named_assets_and_nothing_else() -> None:
    assets = letter_assets()
    fetcher = DataOnlyFetcher(assets=assets)
    url, path = next(iter(assets.items()))
    assert fetcher.fetch(url).read() == path.read_bytes()
    for bad in (
        url.replace("LetterSans.ttf", "../../letters/letters.css"),
        "auditor-asset:letters/letters.css",
        "file://" + str(path),
        "http://evil.invalid/LetterSans.ttf",
    ):
        with pytest.raises(FetchRefusedError):
            fetcher.fetch(bad)
    assert fetcher.fetch("data:text/plain,ok").read() == b"ok"


def test_long_unbroken_text_wraps_inside_the_page() -> None:
    renderer = LetterRenderer()
    long = "W" * 600
    extra = f'<p class="u">{long}</p><div class="addr u">{long}\nline two</div>'
    pdf, _ = renderer.render(_letter(long, extra), "Test letter", "Bank")
    page = re.search(r'<page width="([\d.]+)"', _text(pdf, "-bbox"))
    assert page is not None
    width = float(page.group(1))
    right = [float(x) for x in re.findall(r'xMax="([\d.]+)"', _text(pdf, "-bbox"))]
    assert right
    assert max(right) <= width - 40  # inside the 18 mm right margin, give or take


def test_digests_reproducible_across_renderers_and_the_pool() -> None:
    docs = [(_letter(f"Applicant {i}"), f"Letter {i}") for i in range(9)]
    docs.append((_letter(f"{ARABIC} Smith"), "Letter fallback"))
    with RenderQueue(workers=2) as queue:
        for html, title in docs:
            queue.add(html, title, "Bank")
        pooled = queue.results()
    assert [p.html for p in pooled] == [html for html, _ in docs]
    fresh = [LetterRenderer().render(html, title, "Bank")[1] for html, title in docs]
    assert [p.sha256 for p in pooled] == fresh
    shared = LetterRenderer()
    again = [shared.render(html, title, "Bank")[1] for html, title in reversed(docs)]
    assert again[::-1] == fresh
    for letter, (_, title) in zip(pooled, docs, strict=True):
        info = subprocess.run(
            ["pdfinfo", "-"], input=letter.pdf, capture_output=True, check=True
        ).stdout.decode()
        assert re.search(r"^Pages:\s+1$", info, re.M)
        assert re.search(rf"^Title:\s+{re.escape(title)}$", info, re.M)


def test_renderer_output_equals_a_plain_weasyprint_render() -> None:
    """The shared font set-up and the stylesheet parsed once change no byte of the PDF."""
    import hashlib

    import weasyprint

    html = _letter(f"Zoë {ARABIC}")
    fetcher = DataOnlyFetcher(assets=letter_assets())
    document = weasyprint.HTML(string=html, base_url=None, url_fetcher=fetcher).render()
    document.metadata.title = "Test letter"
    document.metadata.authors = ["Bank"]
    plain = document.write_pdf(pdf_identifier=hashlib.sha256(html.encode()).digest()[:16])
    renderer = LetterRenderer()
    renderer.warm()
    pdf, digest = renderer.render(html, "Test letter", "Bank")
    assert pdf == plain
    assert digest == hashlib.sha256(plain).hexdigest()


def test_render_workers_collect_less_the_callers_process_keeps_its_collector() -> None:
    import gc
    from concurrent.futures import ProcessPoolExecutor

    from auditor.letters import pdf as letters_pdf

    renderer = LetterRenderer()
    html = _letter("Ada Lovelace")
    before = gc.get_threshold()
    default, _ = renderer.render(html, "Test letter", "Bank")
    assert gc.get_threshold() == before  # an in-process render changes no process setting
    try:  # as a render worker runs: the same bytes
        gc.set_threshold(letters_pdf.RENDER_GC_THRESHOLD, *before[1:])
        fewer, _ = renderer.render(html, "Test letter", "Bank")
    finally:
        gc.set_threshold(*before)
    assert fewer == default
    with ProcessPoolExecutor(1, initializer=letters_pdf.configure_render_worker) as pool:
        in_worker = pool.submit(gc.get_threshold).result()
    assert in_worker[0] == letters_pdf.RENDER_GC_THRESHOLD
    assert gc.get_threshold() == before
