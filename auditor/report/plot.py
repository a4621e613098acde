"""Chart building blocks: palette, bars, the report's fixed layout, and matplotlib output.

The report's own charts (rates, ratios, attributions, calibration, waterfalls, deletion
curves) are written as SVG directly by :mod:`auditor.report.svgdraw` and
:mod:`auditor.report.svgbars` (see :mod:`auditor.report.charts`): they share the palette,
:class:`Bar`, the label shortening and the layout sizes defined here.

The frontier chart of a less-discriminatory-alternative search
(:mod:`auditor.report.charts_lda`, outside the timed report) is still drawn with
matplotlib, for which this module keeps the helpers: figures built with the object-oriented
API (``matplotlib.figure.Figure``, no pyplot), so no global figure registry fills up and
nothing depends on the interactive backend; rendering through matplotlib's SVG backend.
Settings that make the SVG byte-identical from run to run (a fixed ``svg.hashsalt``, no
``Date`` metadata) and keep text as text (``svg.fonttype = "none"``) are applied with
``rc_context`` under a lock (:func:`settings`): matplotlib's rc parameters are
process-global, so two threads rendering reports at once must not interleave them. Names
reach that SVG only through matplotlib's text elements, which matplotlib XML-escapes;
math-text parsing is switched off so a ``$`` in a name is literal.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import matplotlib
from markupsafe import Markup
from matplotlib.figure import Figure

# Okabe–Ito palette (colour-blind safe).
BLUE = "#0072B2"
ORANGE = "#E69F00"
VERMILLION = "#D55E00"
SKY = "#56B4E9"
GREEN = "#009E73"
GREY = "#999999"
BLACK = "#000000"

FOUR_FIFTHS = 0.8
WIDTH_IN = 6.6
# A half-width chart, two to a row: drawn at 2/3 of a full chart's width and shown at
# 79% of that, so its lettering comes out the size of a full chart's (shown at 76%).
HALF_WIDTH_IN = 4.4
# A third-width chart, three to a row (the calibration small multiples), at the same scale.
THIRD_WIDTH_IN = 2.95
_MAX_LABEL = 38

Kind = Literal["reference", "normal", "caution"]


@dataclass(frozen=True)
class Bar:
    """One bar: a group (or feature) with a value and an optional interval."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    kind: Kind = "normal"


# Typed Any: matplotlib's stubs want its literal rc-key type for rc_context().
RC: Any = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.titlesize": 9,
    # A fixed title height: with the default (None) matplotlib measures every axis's tick
    # labels on each draw to lift the title clear of anything above the axes; our axes
    # have nothing above them, so the title sits at 1.0 either way (SVG unchanged).
    "axes.titley": 1.0,
    "axes.labelsize": 8.5,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 7.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    # no tick marks (the grid lines mark the same positions); the labels stay
    "xtick.bottom": False,
    "ytick.left": False,
}


_LOCK = threading.RLock()


@contextmanager
def settings(**extra: Any) -> Iterator[None]:
    """The report's matplotlib settings (plus ``extra``), held under a process-wide lock."""
    rc: Any = {**RC, **{k.replace("__", "."): v for k, v in extra.items()}}
    with _LOCK, matplotlib.rc_context(rc):
        yield


def label(text: str, limit: int = _MAX_LABEL) -> str:
    """``text`` shortened to at most ``limit`` characters (an axis label by default)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Fixed layout (inches). Matplotlib's constrained/tight layout measures every text
# element by drawing the figure once more (about 0.3-0.4 s per chart); the charts have a
# known structure, so their margins are computed from label lengths instead.
BAR_IN = 0.18  # one bar and its gap: value labels (7 pt) still clear their neighbours
TOP_IN = 0.3
TICKS_IN = 0.3  # x tick labels under the axes
LINE_IN = 0.15  # one line of axis label or legend
CHAR_IN = 0.062  # average width of one 8 pt DejaVu Sans character
RIGHT_IN = 0.15


def height(n_bars: int, *, bottom_lines: int = 3) -> float:
    """Figure height in inches: grows with the number of bars so labels never overlap."""
    return TOP_IN + TICKS_IN + bottom_lines * LINE_IN + 0.1 + max(0.9, BAR_IN * n_bars + 0.2)


def label_room(width: float, left_share: float = 0.45) -> int:
    """How many characters of a y label fit the left margin of a ``width``-inch figure
    when :func:`fixed_margins` caps that margin at ``left_share`` of the width."""
    return min(_MAX_LABEL, int((left_share * width - 0.2) / CHAR_IN))


def left_margin(width: float, labels: Sequence[str], left_share: float = 0.45) -> float:
    """The left margin in inches :func:`fixed_margins` gives y labels ``labels``."""
    longest = max((len(label(t)) for t in labels), default=4)
    return min(left_share * width, 0.2 + CHAR_IN * longest)


def fixed_margins(
    fig: Figure,
    labels: Sequence[str],
    *,
    bottom_lines: int,
    wspace_in: float = 0.0,
    left_share: float = 0.45,
) -> None:
    """Place the axes with margins computed from the longest y label and the lines of
    axis label and legend below them (``bottom_lines``), instead of automatic layout; the
    left margin takes at most ``left_share`` of the width (see :func:`label_room`)."""
    width, tall = fig.get_size_inches()
    left = left_margin(width, labels, left_share)
    bottom = TICKS_IN + bottom_lines * LINE_IN + 0.1
    axes = fig.get_axes()
    n = max(1, len(axes))
    inner = width - left - RIGHT_IN
    fig.subplots_adjust(
        left=left / width,
        right=1 - RIGHT_IN / width,
        bottom=bottom / tall,
        top=1 - TOP_IN / tall,
        wspace=(wspace_in / ((inner - (n - 1) * wspace_in) / n)) if n > 1 else 0.2,
    )


def legend_below(fig: Figure, handles: list[Any], ncols: int) -> int:
    """A frameless legend centred at the bottom of ``fig``; returns its number of rows."""
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=ncols,
        frameon=False,
        borderaxespad=0.2,
    )
    return -(-len(handles) // ncols)


def to_svg(fig: Figure, chart_id: str) -> Markup:
    """Serialise ``fig`` to an SVG element safe to inline in HTML (ids prefixed)."""
    _plain(fig)
    buf = io.StringIO()
    with settings(svg__hashsalt=f"auditor-report-{chart_id}"):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    svg = re.sub(r"\s*<style[^>]*>.*?</style>", "", svg, flags=re.DOTALL)
    svg = _STYLE_ATTR.sub(_presentation_attributes, svg)
    svg = _lighten(svg)
    svg = svg.replace('id="', f'id="{chart_id}-')
    svg = svg.replace("url(#", f"url(#{chart_id}-").replace('href="#', f'href="#{chart_id}-')
    svg = svg.replace(
        "<svg ", '<svg class="chart" role="img" stroke-linejoin="round" stroke-linecap="butt" ', 1
    )
    # Generated by matplotlib from our own data; every text node in it is XML-escaped.
    return Markup(svg.strip())


def _plain(fig: Figure) -> None:
    """Fewer, simpler SVG elements for WeasyPrint's SVG renderer (a large share of PDF
    time): no clip paths on axes whose limits contain everything drawn in them (clipping
    changes nothing there; an axes with data beyond its limits, e.g. a ratio above the
    axis cap, keeps them). Tick marks are already off (:data:`RC`)."""
    for ax in fig.get_axes():
        data, view = ax.dataLim, ax.viewLim
        slack = 1e-9 * max(1.0, abs(view.x1 - view.x0), abs(view.y1 - view.y0))
        inside = (
            min(data.x0, data.x1) >= min(view.x0, view.x1) - slack
            and max(data.x0, data.x1) <= max(view.x0, view.x1) + slack
            and min(data.y0, data.y1) >= min(view.y0, view.y1) - slack
            and max(data.y0, data.y1) <= max(view.y0, view.y1) + slack
        )
        if not inside:
            continue
        for artist in [*ax.get_children(), *ax.xaxis.get_gridlines(), *ax.yaxis.get_gridlines()]:
            artist.set_clip_on(False)


_STYLE_ATTR = re.compile(r' style="([^"]*)"')
_G_TAG = re.compile(r"<g\b[^>]*>|</g>")
_PLAIN_G = re.compile(r'<g(?: id="[^"]*")?>')
_NO_ROTATION = re.compile(r' transform="rotate\(-?0 [^)"]*\)"')


def _lighten(svg: str) -> str:
    """Fewer SVG nodes for WeasyPrint to walk: drop ``<g>`` wrappers that carry nothing
    but an id (matplotlib wraps every tick, line and text in one or two; nothing refers
    to them), empty self-closing groups and no-op ``rotate(0)`` transforms. Drawing is
    unchanged, and the result stays well-formed XML (a strict parser reads it as an
    image)."""
    out: list[str] = []
    stack: list[bool] = []
    pos = 0
    for match in _G_TAG.finditer(svg):
        out.append(svg[pos : match.start()])
        tag = match.group(0)
        if tag.endswith("/>"):
            pos = match.end()
            continue  # an empty group (e.g. an axis with nothing drawn): drop it
        if tag == "</g>":
            if not stack.pop():
                out.append(tag)
        else:
            plain = _PLAIN_G.fullmatch(tag) is not None
            stack.append(plain)
            if not plain:
                out.append(tag)
        pos = match.end()
    out.append(svg[pos:])
    text = "".join(out)
    text = _NO_ROTATION.sub("", text)
    return re.sub(r">\s+<", "><", text)


_PRESENTATION = frozenset(
    {
        "fill",
        "fill-opacity",
        "fill-rule",
        "stroke",
        "stroke-width",
        "stroke-opacity",
        "stroke-linejoin",
        "stroke-linecap",
        "stroke-dasharray",
        "stroke-dashoffset",
        "stroke-miterlimit",
        "opacity",
        "font-family",
        "font-size",
        "font-weight",
        "font-style",
        "text-anchor",
        "dominant-baseline",
        "clip-path",
        "visibility",
        "display",
    }
)


def _presentation_attributes(match: re.Match[str]) -> str:
    """``style="fill: #fff; stroke: none"`` -> ``fill="#fff" stroke="none"``.

    WeasyPrint runs the ``style`` attributes of inline SVG elements through its HTML CSS
    cascade (and warns about every SVG-only property); presentation attributes are read
    only by its SVG renderer. The value was already attribute-escaped by matplotlib.
    """
    attrs, rest = [], []
    for declaration in match.group(1).split(";"):
        name, sep, value = declaration.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            continue
        if name in _PRESENTATION:
            attrs.append(f' {name}="{value}"')
        else:
            rest.append(f"{name}: {value}")
    if rest:
        attrs.append(f' style="{"; ".join(rest)}"')
    return "".join(attrs)
