"""Number formatting for the report templates (registered as Jinja2 filters).

Every filter turns ``None`` (and NaN or infinities) into an em dash, so a missing number
is visibly missing rather than shown as ``0`` or ``nan``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from markupsafe import Markup, escape

DASH = "—"


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def dash(value: Any) -> Any:
    """``value`` itself, or an em dash for ``None``, an empty string or a non-finite float."""
    if value is None or value == "":
        return DASH
    if isinstance(value, float) and not math.isfinite(value):
        return DASH
    return value


def percent(value: Any, digits: int = 1) -> str:
    """A share as a percentage: ``0.625`` -> ``62.5%``."""
    text = percent_number(value, digits)
    return text if text == DASH else text + "%"


def percent_number(value: Any, digits: int = 1) -> str:
    """A share in percent without the sign, for interval bounds after a value that has
    it: ``0.625`` -> ``62.5`` (``50.2% [46.8–53.7]``)."""
    num = _finite(value)
    if num is None:
        return DASH
    return f"{num * 100:.{digits}f}"


def breakable(value: Any) -> str:
    """A column name that may wrap after its underscores in a narrow heading
    (``race_ethnicity`` -> ``race_`` + zero-width space + ``ethnicity``), instead of
    mid-word; plain text, escaped by the template as usual."""
    return str(value).replace("_", "_\u200b")


def nobreak(value: Any) -> str:
    """A value kept on one line (``−2.8 pp``): its spaces become no-break spaces. Cheaper
    for WeasyPrint than a ``white-space: nowrap`` span around it, of which a results table
    had one per cell (a span is a box of its own to lay out and draw)."""
    return str(value).replace(" ", "\u00a0")


def number(value: Any) -> str:
    """An integer with thousands separators: ``12345`` -> ``12,345``; floats keep 2 decimals."""
    num = _finite(value)
    if num is None:
        return DASH
    if isinstance(value, int) or num.is_integer():
        return f"{round(num):,}"
    return f"{num:,.2f}"


def fixed(value: Any, digits: int = 2) -> str:
    """A float with ``digits`` decimals: ``0.6251`` -> ``0.63``."""
    num = _finite(value)
    if num is None:
        return DASH
    return f"{num:.{digits}f}"


def signed(value: Any, digits: int = 3) -> str:
    """A float with an explicit sign: ``-0.35`` -> ``−0.350``, ``0.1`` -> ``+0.100``."""
    num = _finite(value)
    if num is None:
        return DASH
    text = f"{num:+.{digits}f}"
    return text.replace("-", "−")


def points(value: Any, digits: int = 1) -> str:
    """A difference of two shares in percentage points: ``-0.15`` -> ``−15.0 pp``."""
    text = points_number(value, digits)
    return text if text == DASH else text + " pp"


def points_number(value: Any, digits: int = 1) -> str:
    """Percentage points without the unit, for interval bounds after a value that has it:
    ``-0.15`` -> ``−15.0`` (``−1.1 pp [−6.7, +4.4]``)."""
    num = _finite(value)
    if num is None:
        return DASH
    return f"{num * 100:+.{digits}f}".replace("-", "−")


def sci(value: Any) -> str:
    """A tolerance-like number: ``2e-4`` -> ``2.0e-04``, ``0.01`` -> ``0.01``, ``0`` -> ``0``."""
    num = _finite(value)
    if num is None:
        return DASH
    if num == 0:
        return "0"
    if abs(num) < 1e-3:
        return f"{num:.1e}"
    return f"{num:.4f}".rstrip("0").rstrip(".")


def pvalue(value: Any) -> str:
    """A p-value the way papers print it: ``< 0.001``, else three decimals."""
    num = _finite(value)
    if num is None:
        return DASH
    if num < 0.001:
        return "< 0.001"
    return f"{min(num, 1.0):.3f}"


def observed(value: Any) -> Any:
    """A finding's observed value or threshold: numbers with up to 3 decimals, text as is."""
    if isinstance(value, str):
        return value if value else DASH
    num = _finite(value)
    if num is None:
        return DASH
    if isinstance(value, int) or num.is_integer():
        return f"{round(num):,}"
    return f"{num:.3f}".rstrip("0").rstrip(".")


def short_hash(value: Any, length: int = 12) -> str:
    """The first ``length`` hex digits of a digest followed by an ellipsis, or a dash."""
    if not value:
        return DASH
    text = str(value)
    return text if len(text) <= length else f"{text[:length]}…"


def title_case(value: Any) -> str:
    """``insufficient_evidence`` -> ``Insufficient evidence``."""
    text = str(value).replace("_", " ")
    return text[:1].upper() + text[1:]


def scope_breaks(value: Any) -> Markup:
    """A finding's scope, escaped, with line-break opportunities only after ``=``, ``&``,
    ``~`` and ``.``, so a narrow column breaks ``age_band=under 25`` between words and
    never inside one (``age_band=unde r 25``)."""
    text = str(escape(dash(value)))
    for mark in ("=", "&amp;", "~", "."):
        text = text.replace(mark, f"{mark}<wbr>")
    return Markup(text)


def column_split(heights: Sequence[float]) -> int:
    """Where a two-column list of blocks with these ``heights`` breaks: the number of
    blocks in the left column, chosen as CSS column balancing would (the smallest column
    height that holds them all; on a tie the left column is the longer one).

    The contents page uses it: two floated lists lay out several times faster in
    WeasyPrint than ``columns: 2``, which re-lays out the list to balance it.
    """
    if len(heights) < 2:
        return len(heights)
    total = sum(heights)
    best, best_height = 1, float("inf")
    for split in range(1, len(heights)):
        left = sum(heights[:split])
        height = max(left, total - left)
        if height <= best_height + 1e-9:
            best, best_height = split, height
    return best


# A contents entry in lines of 8.2pt type: a top-level title with its 2.5 mm margin, a
# sub-entry with its 0.8 mm margin (line height 1.3 x 8.2 pt = 3.76 mm).
_TOC_TOP_LINES = 1 + 2.5 / 3.76
_TOC_SUB_LINES = 1 + 0.8 / 3.76


def toc_split(sub_entries: Sequence[int]) -> int:
    """How many top-level contents entries go into the left column, given each entry's
    number of sub-entries (a sub-entry that wraps counted twice); see :func:`column_split`."""
    return column_split([_TOC_TOP_LINES + n * _TOC_SUB_LINES for n in sub_entries])


FILTERS: dict[str, Callable[..., Any]] = {
    "dash": dash,
    "percent": percent,
    "number": number,
    "breakable": breakable,
    "nobreak": nobreak,
    "percent_number": percent_number,
    "points_number": points_number,
    "fixed": fixed,
    "signed": signed,
    "sci": sci,
    "points": points,
    "pvalue": pvalue,
    "observed": observed,
    "short_hash": short_hash,
    "label": title_case,
    "scope": scope_breaks,
    "toc_split": toc_split,
}
