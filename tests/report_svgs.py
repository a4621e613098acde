"""Read the charts back out of a report's HTML (they are embedded as data: URLs)."""

from __future__ import annotations

import base64
import re

_SRC = re.compile(r'<img class="chart" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"')


def chart_svgs(html: str) -> list[str]:
    """Every chart's SVG markup, in document order."""
    return [base64.b64decode(data).decode("utf-8") for data in _SRC.findall(html)]
