"""WeasyPrint's per-box layout helpers without their call overhead, and text shaped once (70).

WeasyPrint resolves every box's margins, paddings, widths and heights on each layout
(``layout/percent.py``: ``resolve_percentages``, through one ``resolve_one_percentage``
and one ``percentage`` call per property, 13 per box) and asks each box whether it is
in normal flow through five more method calls (``Box.is_in_normal_flow``). On the full
audit report (12,500 boxes laid out, 59,000 flow checks) the two were about 4% of the
layout's CPU time, almost all of it Python call overhead. :func:`resolve_percentages`
and :func:`is_in_normal_flow` compute the same values in one function each: the same
branches in the same order, the rare cases (``calc()``, ``box-sizing``) handed to
WeasyPrint's own helpers.

Each line of text is shaped by Pango when it is laid out; WeasyPrint then drops the Pango
layout (``Layout.deactivate``, to keep memory low on very long documents) and, to draw
the line, builds a new one and shapes the same text again (``Layout.reactivate``), about
10% of the drawing time. :func:`keep_layout` and :func:`reuse_layout` keep the layout
the line was measured with and draw from it: the same text, font, features and
attributes, the width unset as a new layout's is. Where the drawing changes the text (an
ellipsis) or justifies it, or the style differs, WeasyPrint's own reactivation runs. The
layouts live as long as the laid-out document (about 5 MB more for the 20-page report).

The PDF is the same byte for byte (``tests/integration/pdf/test_report_speed.py``
renders the full report with and without all of this).

Like :mod:`auditor.report.svgtext`, :func:`install` patches WeasyPrint for the whole
process, only for the WeasyPrint major version this was checked against, and only inside
:func:`auditor.report.speedups.render_speedups` (the CLI, render workers, the scheduler);
:func:`uninstall` puts WeasyPrint's functions back.
"""

from __future__ import annotations

import importlib
import threading
from math import inf
from typing import Any

from auditor.report.svgtext import version_verified

__all__ = [
    "install",
    "installed",
    "is_in_normal_flow",
    "keep_layout",
    "resolve_percentages",
    "reuse_layout",
    "uninstall",
]

# the modules that imported resolve_percentages by name (``from .percent import ...``)
_USERS = (
    "weasyprint.layout.percent",
    "weasyprint.layout.block",
    "weasyprint.layout.inline",
    "weasyprint.layout.table",
    "weasyprint.layout.page",
    "weasyprint.layout.float",
    "weasyprint.layout.absolute",
    "weasyprint.layout.grid",
    "weasyprint.layout.column",
)
_BORDERS = ("border_top_width", "border_right_width", "border_bottom_width", "border_left_width")
_LOCK = threading.Lock()
_saved: list[tuple[Any, str, Any]] = []  # (owner, attribute, WeasyPrint's value)
_percentage: Any = None  # weasyprint.layout.percent.percentage, for calc() values
_check_math: Any = None
_adjust_box_sizing: Any = None
_box_types: tuple[Any, Any] = (None, None)  # (Box, PageBox)
_reactivate: Any = None  # weasyprint.text.line_break.Layout.reactivate
_draw_text: Any = None  # weasyprint.draw.text.draw_text
_set_width: Any = None  # pango.pango_layout_set_width
_KEPT = "_auditor_kept"  # set on a Layout whose Pango layout was kept for drawing


def _used(value: Any, style: Any, refer_to: Any) -> Any:
    # weasyprint.layout.percent.percentage, its common cases first
    if value is None or value == "auto":
        return value
    unit = getattr(value, "unit", None)
    if unit == "px":
        return value.value
    if unit == "%":
        return refer_to * value.value / 100
    if unit is None:  # a math function: WeasyPrint's own resolution
        return _percentage(value, style, refer_to)
    return value.value


def resolve_percentages(box: Any, containing_block: Any) -> None:
    """``weasyprint.layout.percent.resolve_percentages``, in one function."""
    box_type, page_type = _box_types
    if isinstance(containing_block, box_type):
        cb_width = containing_block.width
        cb_height = containing_block.height
    else:
        cb_width, cb_height = containing_block
    maybe_height = cb_height if isinstance(box, page_type) else cb_width
    style = box.style
    box.margin_left = _used(style["margin_left"], style, cb_width)
    box.margin_right = _used(style["margin_right"], style, cb_width)
    box.margin_top = _used(style["margin_top"], style, maybe_height)
    box.margin_bottom = _used(style["margin_bottom"], style, maybe_height)
    box.padding_left = _used(style["padding_left"], style, cb_width)
    box.padding_right = _used(style["padding_right"], style, cb_width)
    box.padding_top = _used(style["padding_top"], style, maybe_height)
    box.padding_bottom = _used(style["padding_bottom"], style, maybe_height)
    box.width = _used(style["width"], style, cb_width)
    minimum = _used(style["min_width"], style, cb_width)
    box.min_width = 0 if minimum == "auto" else minimum
    box.max_width = _used(style["max_width"], style, cb_width)
    if cb_height == "auto":
        # the containing block's height depends on its content
        height = style["height"]
        if height == "auto" or _check_math(height) or height.unit == "%":
            box.height = "auto"
        else:
            assert height.unit.lower() == "px"
            box.height = height.value
        minimum = _used(style["min_height"], style, 0)
        box.min_height = 0 if minimum == "auto" else minimum
        box.max_height = _used(style["max_height"], style, inf)
    else:
        box.height = _used(style["height"], style, cb_height)
        minimum = _used(style["min_height"], style, cb_height)
        box.min_height = 0 if minimum == "auto" else minimum
        box.max_height = _used(style["max_height"], style, cb_height)
    collapse = style["border_collapse"] == "collapse"
    for prop in _BORDERS:
        # collapsed borders were resolved by the table's border conflict resolution
        if not (collapse and hasattr(box, prop)):
            setattr(box, prop, style[prop])
    _adjust_box_sizing(box, "width")
    _adjust_box_sizing(box, "height")


def is_in_normal_flow(self: Any) -> bool:
    """``Box.is_in_normal_flow``: not floated, absolutely positioned, running, a
    footnote or a note, from two style lookups."""
    style = self.style
    if style["float"] in ("left", "right", "footnote"):
        return False
    position = style["position"]
    if position in ("absolute", "fixed"):
        return False
    return position[0] not in ("running()", "note()")


def keep_layout(self: Any) -> None:
    """``Layout.deactivate`` that keeps the Pango layout (see the module docstring)."""
    setattr(self, _KEPT, True)


def reuse_layout(self: Any, style: Any) -> None:
    """``Layout.reactivate``: draw from the kept layout when nothing differs from a new
    one but the width (unset here as there); else WeasyPrint's own reactivation."""
    if self.__dict__.get(_KEPT) and style is self.style and not self.justification_spacing:
        _set_width(self.layout, -1)
        return
    setattr(self, _KEPT, False)
    _reactivate(self, style)


def draw_text(stream: Any, textbox: Any, *args: Any) -> Any:
    """``weasyprint.draw.text.draw_text``; a line drawn with an ellipsis gets a new layout
    first, as WeasyPrint makes it (the ellipsis rewrites the layout's text)."""
    text_overflow = args[1] if len(args) > 1 else "clip"
    block_ellipsis = args[2] if len(args) > 2 else "none"
    if text_overflow == "ellipsis" or block_ellipsis != "none":
        setattr(textbox.pango_layout, _KEPT, False)
    return _draw_text(stream, textbox, *args)


def install() -> bool:
    """Use the functions above in this process (idempotent, thread-safe; undone by
    :func:`uninstall`). Returns whether they are in use (not for an unverified
    WeasyPrint, nor where someone else replaced WeasyPrint's functions)."""
    global _percentage, _check_math, _adjust_box_sizing, _box_types
    global _reactivate, _draw_text, _set_width
    with _LOCK:
        if _saved:
            return True
        if not version_verified():
            return False
        percent = importlib.import_module("weasyprint.layout.percent")
        boxes = importlib.import_module("weasyprint.formatting_structure.boxes")
        original = percent.resolve_percentages
        modules = [importlib.import_module(name) for name in _USERS]
        if any(getattr(m, "resolve_percentages", original) is not original for m in modules):
            return False
        _percentage, _check_math = percent.percentage, percent.check_math
        _adjust_box_sizing = percent.adjust_box_sizing
        _box_types = (boxes.Box, boxes.PageBox)
        for module in modules:
            if hasattr(module, "resolve_percentages"):
                _saved.append((module, "resolve_percentages", original))
                setattr(module, "resolve_percentages", resolve_percentages)  # noqa: B010
        _saved.append((boxes.Box, "is_in_normal_flow", boxes.Box.is_in_normal_flow))
        boxes.Box.is_in_normal_flow = is_in_normal_flow

        line_break = importlib.import_module("weasyprint.text.line_break")
        text = importlib.import_module("weasyprint.draw.text")
        draw = importlib.import_module("weasyprint.draw")
        layout = line_break.Layout
        _reactivate, _draw_text = layout.reactivate, text.draw_text
        _set_width = importlib.import_module("weasyprint.text.ffi").pango.pango_layout_set_width
        _saved.append((layout, "deactivate", layout.deactivate))
        _saved.append((layout, "reactivate", layout.reactivate))
        layout.deactivate, layout.reactivate = keep_layout, reuse_layout
        for module in (text, draw):
            _saved.append((module, "draw_text", module.draw_text))
            setattr(module, "draw_text", draw_text)  # noqa: B010
        return True


def uninstall() -> None:
    """Give WeasyPrint its own functions back (no-op when not installed)."""
    with _LOCK:
        while _saved:
            owner, name, value = _saved.pop()
            setattr(owner, name, value)


def installed() -> bool:
    """Whether the functions above are in use in this process now."""
    with _LOCK:
        return bool(_saved)
