"""A small SVG drawing kit for the report's charts: canvas, paths, markers, text metrics.

The report's charts have a fixed, simple structure (horizontal bars with whiskers and
value labels, lines with markers, grid lines, reference lines, a legend below), so they
are written as SVG directly instead of through matplotlib's artist tree and SVG backend:
a chart costs a few milliseconds instead of a few hundred, and WeasyPrint gets fewer,
simpler nodes to draw (one ``<path>`` for all grid lines of an axis, one for all bars of
one style, every label a single-position ``<text>``, which :mod:`auditor.report.svgtext`
draws as one run). Axes, ticks and legends are in :mod:`auditor.report.svgaxes`, bar
panels in :mod:`auditor.report.svgbars`.

What every chart written with :class:`Canvas` guarantees:

* an ``<svg class="chart" role="img">`` root with its width and height in pt and a
  ``viewBox`` in the same units (one user unit is one point), named by a ``<title>``;
* every ``id`` starts with the chart id (several charts share one HTML document);
* every text node is XML-escaped (group and feature names are user data), and nothing
  is parsed in it: a ``$`` or a ``&`` is printed as given;
* equal input gives byte-identical output: coordinates are printed with at most two
  decimals by one function (:func:`num`), and nothing depends on dictionary order, time or
  the process;
* well-formed XML (WeasyPrint reads the embedded image with a strict XML parser).

Text widths come from the real metrics (advances and kerning pairs) of DejaVu Sans, the
font the charts name, read with matplotlib's FreeType wrapper from the copy matplotlib
ships (:func:`text_width`; within 0.02 pt of what WeasyPrint lays out), so margins,
legend columns and the white boxes behind value labels fit the text.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape
from typing import Any, Literal

from markupsafe import Markup

FONT = "DejaVu Sans"
# The line box of DejaVu Sans in em (matplotlib's box of "lp"): text is centred on a point
# by putting its baseline ASCENT - (ASCENT + DESCENT) / 2 below it.
ASCENT = 0.76
DESCENT = 0.24
CENTRE = (ASCENT - DESCENT) / 2
TICK_SIZE = 8.0
LABEL_SIZE = 8.5
TITLE_SIZE = 9.0
INK = "#000000"

Anchor = Literal["start", "middle", "end"]

# --- text metrics ----------------------------------------------------------------------------

_METRICS_LOCK = threading.Lock()
_ADVANCE: dict[tuple[bool, str], tuple[int, float]] = {}
_KERN: dict[tuple[bool, int, int], float] = {}
_FONTS: dict[bool, Any] = {}


def _font(bold: bool) -> Any:
    font = _FONTS.get(bold)
    if font is None:
        from matplotlib import font_manager

        props = font_manager.FontProperties(family=FONT, weight="bold" if bold else "normal")
        # matplotlib ships DejaVu Sans: findfont never falls back to another family here
        font = font_manager.get_font(font_manager.findfont(props, fallback_to_default=True))
        _FONTS[bold] = font
    return font


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """Width in pt of ``text`` set in DejaVu Sans at ``size`` pt: glyph advances plus the
    font's kerning pairs (WeasyPrint shapes a chart label as one run, kerning included)."""
    total = 0.0
    previous = -1
    for char in text:
        key = (bold, char)
        found = _ADVANCE.get(key)
        if found is None:
            found = _measure(bold, char)
        index, advance = found
        total += advance
        if previous >= 0:
            pair = (bold, previous, index)
            kern = _KERN.get(pair)
            if kern is None:
                kern = _kerning(pair)
            total += kern
        previous = index
    return total * size


def _measure(bold: bool, char: str) -> tuple[int, float]:
    from matplotlib import ft2font

    with _METRICS_LOCK:  # an FT2Font object is not safe to use from two threads at once
        font = _font(bold)
        glyph = font.load_char(ord(char), flags=ft2font.LoadFlags.NO_SCALE)
        found = (int(font.get_char_index(ord(char))), glyph.horiAdvance / font.units_per_EM)
        _ADVANCE[(bold, char)] = found
    return found


def _kerning(pair: tuple[bool, int, int]) -> float:
    from matplotlib import ft2font

    with _METRICS_LOCK:
        font = _font(pair[0])
        units = font.get_kerning(pair[1], pair[2], ft2font.Kerning.UNSCALED)
        kern = units / font.units_per_EM
        _KERN[pair] = kern
    return float(kern)


def fit(text: str, size: float, room: float, *, bold: bool = False) -> str:
    """``text``, cut with an ellipsis where its width at ``size`` pt exceeds ``room`` pt."""
    if text_width(text, size, bold=bold) <= room:
        return text
    cut = len(text)
    while cut > 1 and text_width(text[:cut].rstrip() + "…", size, bold=bold) > room:
        cut -= 1
    return text[:cut].rstrip() + "…"


# Characters XML 1.0 does not allow (a strict parser rejects the whole image over one).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` escaped for an XML text node or attribute value; characters XML cannot
    hold (control characters in user data) become U+FFFD."""
    return escape(_NOT_XML.sub("\ufffd", text), quote=True)


# --- numbers ---------------------------------------------------------------------------------


def num(value: float) -> str:
    """A coordinate as SVG text: two decimals at most (1/100 pt), no trailing zeros, no
    ``-0``; the same float always gives the same text."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# --- drawing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stroke:
    """A stroke: colour, width in pt and dash pattern (lengths in pt)."""

    colour: str = INK
    width: float = 1.0
    dash: tuple[float, ...] = ()
    join: Literal["miter", "round"] = "miter"

    def attrs(self) -> str:
        out = f' stroke="{self.colour}"'
        if self.width != 1.0:
            out += f' stroke-width="{num(self.width)}"'
        if self.dash:
            out += f' stroke-dasharray="{",".join(num(d) for d in self.dash)}"'
        if self.join != "miter":
            out += f' stroke-linejoin="{self.join}"'
        return out


def rect_d(x0: float, y0: float, x1: float, y1: float) -> str:
    """Path data of the rectangle with corners ``(x0, y0)`` and ``(x1, y1)``."""
    return f"M{num(x0)} {num(y0)}H{num(x1)}V{num(y1)}H{num(x0)}Z"


def line_d(x0: float, y0: float, x1: float, y1: float) -> str:
    """Path data of one straight segment."""
    if x0 == x1:
        return f"M{num(x0)} {num(y0)}V{num(y1)}"
    if y0 == y1:
        return f"M{num(x0)} {num(y0)}H{num(x1)}"
    return f"M{num(x0)} {num(y0)}L{num(x1)} {num(y1)}"


def polyline_d(points: Iterable[tuple[float, float]]) -> str:
    """Path data through ``points``; a point with a NaN coordinate breaks the line."""
    out: list[str] = []
    pen_down = False
    for x, y in points:
        if math.isnan(x) or math.isnan(y):
            pen_down = False
            continue
        out.append(f"{'L' if pen_down else 'M'}{num(x)} {num(y)}")
        pen_down = True
    return "".join(out)


# A filled plus, arms a third of the size wide (in sixths of the size).
_PLUS = (
    (-1, -3), (1, -3), (1, -1), (3, -1), (3, 1), (1, 1),
    (1, 3), (-1, 3), (-1, 1), (-3, 1), (-3, -1), (-1, -1),
)  # fmt: skip
# Marker outlines in units of the marker size, centred on (0, 0), y downwards (matplotlib's
# shapes: a circle, square and triangles as wide as the size, the diamond its square turned).
_MARKERS: dict[str, tuple[tuple[float, float], ...]] = {
    "s": ((-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)),
    "^": ((0.0, -0.5), (0.5, 0.5), (-0.5, 0.5)),
    "v": ((0.0, 0.5), (0.5, -0.5), (-0.5, -0.5)),
    "D": ((0.0, -0.7071), (0.7071, 0.0), (0.0, 0.7071), (-0.7071, 0.0)),
    "P": tuple((x / 6, y / 6) for x, y in _PLUS),
}


def marker_d(shape: str, x: float, y: float, size: float) -> str:
    """Path data of one marker (``o s ^ v D P``) of ``size`` pt centred on ``(x, y)``."""
    if shape == "o":
        r = size / 2
        return (
            f"M{num(x - r)} {num(y)}a{num(r)} {num(r)} 0 1 0 {num(2 * r)} 0"
            f"a{num(r)} {num(r)} 0 1 0 {num(-2 * r)} 0Z"
        )
    corners = _MARKERS[shape]
    return "M" + "L".join(f"{num(x + cx * size)} {num(y + cy * size)}" for cx, cy in corners) + "Z"


@dataclass
class Canvas:
    """An SVG document in pt, written element by element (later elements on top)."""

    width: float
    height: float
    chart_id: str
    title: str
    font_size: float = TICK_SIZE
    _parts: list[str] = field(default_factory=list)

    def path(
        self, d: str, *, fill: str | None = None, stroke: Stroke | None = None, name: str = ""
    ) -> None:
        """One ``<path>`` (nothing for empty path data); ``name`` gives it the id
        ``<chart id>-<name>``."""
        if not d:
            return
        attrs = f' id="{xml_text(self.chart_id)}-{xml_text(name)}"' if name else ""
        attrs += f' fill="{fill or "none"}"'
        if stroke is not None:
            attrs += stroke.attrs()
        self._parts.append(f'<path{attrs} d="{d}"/>')

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        size: float | None = None,
        anchor: Anchor = "start",
        bold: bool = False,
        colour: str | None = None,
        rotate: bool = False,
    ) -> None:
        """A label with its baseline at ``(x, y)``; ``rotate`` reads bottom to top."""
        attrs = f' x="{num(x)}" y="{num(y)}"'
        if size is not None and size != self.font_size:
            attrs += f' font-size="{num(size)}"'
        if anchor != "start":
            attrs += f' text-anchor="{anchor}"'
        if bold:
            attrs += ' font-weight="bold"'
        if colour is not None:
            attrs += f' fill="{colour}"'
        if rotate:
            attrs += f' transform="rotate(-90 {num(x)} {num(y)})"'
        self._parts.append(f"<text{attrs}>{xml_text(text)}</text>")

    def centred_text(self, x: float, y: float, text: str, *, size: float, **kw: Any) -> None:
        """A label vertically centred on ``y``."""
        self.text(x, y + CENTRE * size, text, size=size, **kw)

    def markup(self) -> Markup:
        """The finished SVG element."""
        cid = xml_text(self.chart_id)
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"'
            f' aria-labelledby="{cid}-title" width="{num(self.width)}pt"'
            f' height="{num(self.height)}pt" viewBox="0 0 {num(self.width)} {num(self.height)}"'
            f' font-family="{FONT}" font-size="{num(self.font_size)}">'
            f'<title id="{cid}-title">{xml_text(self.title)}</title>'
        )
        # Written here from our own numbers; every text node and attribute value above is
        # XML-escaped, so the markup is safe to embed.
        return Markup(head + "".join(self._parts) + "</svg>")
