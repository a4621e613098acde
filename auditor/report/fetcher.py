"""The only URL fetcher WeasyPrint gets: ``data:`` URLs and named packaged assets.

A report is rendered from an :class:`~auditor.result.AuditResult` that holds text users
wrote (audit names, group names, warnings). Everything is autoescaped, so no markup of
theirs should ever reach WeasyPrint; this fetcher is the second line of defence: even if
a reference to ``http://``, ``https://`` or ``file://`` slipped into the HTML, WeasyPrint
would neither read a local file nor make a request, and the render stops with an error.

``assets`` maps exact URLs (``auditor-asset:...``, a scheme no browser or user text can
make WeasyPrint resolve elsewhere) to files of this package, such as the letters' font;
those URLs and nothing else besides ``data:`` are served.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

ASSET_SCHEME = "auditor-asset:"


class FetchRefusedError(FatalURLFetchingError):  # type: ignore[misc]
    """WeasyPrint asked for a URL other than a ``data:`` URL (stops the render)."""


class DataOnlyFetcher(URLFetcher):  # type: ignore[misc]
    """A WeasyPrint URL fetcher that serves ``data:`` URLs and refuses every other URL,
    except the exact ``assets`` URLs given (packaged files, read from disk once).

    ``requested`` records every URL WeasyPrint asked for, served or refused, so tests
    and callers can check that a render fetched nothing.
    """

    def __init__(self, assets: Mapping[str, Path] | None = None) -> None:
        super().__init__(allowed_protocols=("data",), allow_redirects=False, fail_on_errors=True)
        self.requested: list[str] = []
        self.assets = dict(assets or {})
        self._cache: dict[str, bytes] = {}

    def fetch(self, url: str, headers: Any = None) -> Any:
        """Serve a ``data:`` URL or a named asset; raise :class:`FetchRefusedError` for
        anything else."""
        self.requested.append(url)
        if url in self.assets:
            if url not in self._cache:
                self._cache[url] = self.assets[url].read_bytes()
            return URLFetcherResponse(url, self._cache[url])
        if not url.lower().startswith("data:"):
            shown = url if len(url) <= 120 else url[:117] + "..."
            raise FetchRefusedError(
                f"the report refers to an external resource ({shown}); reports may only "
                "embed data: URLs, so nothing local or remote is read"
            )
        return super().fetch(url, headers)
