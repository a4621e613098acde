"""SVG ``<text>`` drawn as one run instead of one letter at a time (WeasyPrint 70).

WeasyPrint's SVG renderer lays out and draws every character of a ``<text>`` element
separately (``weasyprint/svg/text.py``), so that ``x``/``y``/``dx``/``dy``/``rotate``
lists can place each glyph: for the report's ~500 chart labels (~5,300 characters) that
was about 0.27 s of a 4 s render, plus one PDF text object per character. The charts
write each label as ``<text x=".." y="..">label</text>``: one position for the whole
string, nothing per letter. For exactly that form, :func:`fast_text` lays the string out
once and draws it as one run, with the same font selection, baseline, anchoring (the
bounding box it records is the one ``text-anchor`` shifts by) and cursor update as
WeasyPrint's code; every other ``<text>`` (several coordinates, ``dx``/``dy``/
``rotate``, ``textLength``, ``letter-spacing``, ``tspan``/``textPath``/``a``) goes to
WeasyPrint's own function unchanged. The one visible difference: the run is shaped as a
whole, so kerning pairs apply (as they do in browsers and in the report's HTML text).

:func:`install` swaps the function into WeasyPrint's SVG tag table, only for the
WeasyPrint major version it was checked against (:data:`VERIFIED`, the version
``pyproject.toml`` pins); with any other version WeasyPrint draws as before.
:func:`uninstall` puts WeasyPrint's own function back. Both patch a private WeasyPrint
table for the whole process, so they are called only by
:func:`auditor.report.speedups.render_speedups`, which the CLI and render worker
processes enter around a render, never the web server.
"""

from __future__ import annotations

import importlib
import threading
from math import inf
from typing import Any

VERIFIED = frozenset({"70"})
# Attributes that position or stretch single letters: WeasyPrint's own code handles them.
_PER_LETTER = ("dx", "dy", "rotate", "textLength", "letter-spacing")
_LOCK = threading.Lock()
_original: Any = None


def install() -> bool:
    """Use :func:`fast_text` for SVG ``<text>`` in this process (idempotent, thread-safe;
    undone by :func:`uninstall`).

    Returns whether the fast path is in use (``False`` for an unverified WeasyPrint).
    """
    global _original
    import weasyprint
    import weasyprint.svg as svg_package

    with _LOCK:
        if _original is not None:
            return True
        if weasyprint.__version__.split(".")[0] not in VERIFIED:
            return False
        original = importlib.import_module("weasyprint.svg.text").text
        if svg_package.text is not original:
            return False  # someone else replaced it: leave theirs alone
        _original = original
        # draw_node recognises text elements by ``TAGS[tag] == text`` (the module global):
        # both must name the new function, or anchoring and bounding boxes are skipped.
        for tag, function in list(svg_package.TAGS.items()):
            if function is original:
                svg_package.TAGS[tag] = fast_text
        svg_package.text = fast_text
        return True


def uninstall() -> None:
    """Give WeasyPrint its own SVG ``<text>`` function back (no-op when not installed)."""
    global _original
    import weasyprint.svg as svg_package

    with _LOCK:
        if _original is None:
            return
        for tag, function in list(svg_package.TAGS.items()):
            if function is fast_text:
                svg_package.TAGS[tag] = _original
        if svg_package.text is fast_text:
            svg_package.text = _original
        _original = None


def installed() -> bool:
    """Whether :func:`fast_text` draws SVG ``<text>`` in this process now."""
    with _LOCK:
        return _original is not None


def version_verified() -> bool:
    """Whether the installed WeasyPrint is a version the fast path was checked against."""
    import weasyprint

    return str(weasyprint.__version__).split(".")[0] in VERIFIED


def _single(value: str | None) -> str | bool | None:
    """The one coordinate in an ``x``/``y`` attribute, ``None`` if absent, ``False`` if
    it lists several."""
    if value is None:
        return None
    from weasyprint.svg.utils import normalize

    parts = normalize(value).strip().split(" ")
    return parts[0] if len(parts) == 1 else False


def fast_text(svg: Any, node: Any, font_size: float) -> None:
    """Draw a ``<text>`` node with one position as one run (see the module docstring)."""
    attrib = node.attrib
    x_value = _single(attrib.get("x"))
    y_value = _single(attrib.get("y"))
    if (
        node.tag != "text"
        or not node.text
        or x_value is False
        or y_value is False
        or any(name in attrib for name in _PER_LETTER)
    ):
        _original(svg, node, font_size)
        return

    from weasyprint.css.properties import INITIAL_VALUES
    from weasyprint.draw.text import draw_emojis, draw_first_line
    from weasyprint.matrix import Matrix
    from weasyprint.svg.bounding_box import extend_bounding_box
    from weasyprint.svg.text import Style, TextBox
    from weasyprint.svg.utils import size
    from weasyprint.text.line_break import split_first_line

    # The style as WeasyPrint's text() builds it.
    style = Style()
    style.update(INITIAL_VALUES)
    style.font_config = svg.font_config
    style["font_family"] = [
        font.strip("\"'") for font in node.get("font-family", "sans-serif").split(",")
    ]
    style["font_style"] = node.get("font-style", "normal")
    weight = node.get("font-weight", 400)
    if weight == "normal":
        style["font_weight"] = 400
    elif weight == "bold":
        style["font_weight"] = 700
    else:
        try:
            style["font_weight"] = int(weight)
        except ValueError:
            style["font_weight"] = 400
    style["font_size"] = font_size
    if node.get("direction") in ("ltr", "rtl"):
        style["direction"] = node.get("direction")

    layout, _, _, width, height, baseline = split_first_line(node.text, style, svg.context, inf, 0)

    # Vertical alignment, as in WeasyPrint's text().
    ascent, descent = font_size * 0.8, font_size * 0.2
    y_align = 0.0
    display_anchor = node.get("display-anchor")
    alignment_baseline = node.get("dominant-baseline", node.get("alignment-baseline"))
    if display_anchor == "middle":
        y_align = -height / 2
    elif display_anchor == "top":
        pass
    elif display_anchor == "bottom":
        y_align = -height
    elif alignment_baseline in ("central", "middle"):
        y_align = (ascent + descent) / 2 - descent
    elif alignment_baseline in ("text-before-edge", "before_edge", "top", "hanging", "text-top"):
        y_align = ascent
    elif alignment_baseline in ("text-after-edge", "after_edge", "bottom", "text-bottom"):
        y_align = -descent

    x_given = None if x_value is None else size(x_value, font_size, svg.inner_width)
    y_given = None if y_value is None else size(y_value, font_size, svg.inner_height)
    # As WeasyPrint does for the first letter (a zero coordinate keeps the offset, too).
    if x_given:
        svg.cursor_d_position[0] = 0
    if y_given:
        svg.cursor_d_position[1] = 0
    x = svg.cursor_position[0] if x_given is None else x_given
    y = svg.cursor_position[1] if y_given is None else y_given
    svg.cursor_position = x + width, y
    x_position = x + svg.cursor_d_position[0]
    y_position = y + svg.cursor_d_position[1] + y_align
    node.text_bounding_box = extend_bounding_box(
        node.text_bounding_box,
        ((x_position, y_position - baseline), (x_position + width, y_position - baseline + height)),
    )

    svg.stream.push_state()
    fill, stroke = svg.set_graphical_state(node, font_size)
    svg.stream.begin_text()
    layout.reactivate(style)
    svg.fill_stroke(fill, stroke, text=True)
    text_box = TextBox(layout, style)
    text_box.baseline = baseline
    emojis = draw_first_line(
        svg.stream, text_box, "none", "none", Matrix(a=1, d=-1, e=x_position, f=y_position)
    )
    svg.stream.end_text()
    svg.stream.pop_state()
    draw_emojis(svg.stream, style, x, y, emojis)
