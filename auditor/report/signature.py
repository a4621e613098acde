"""The filled sign-off block of a report (issue 21).

A sign-off is recorded in the store against one stored report (its SHA-256); the signed
copy is that report rendered again with this block filled. The report never queries the
database: the caller passes the :class:`Signature`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Signature:
    """Who signed which stored report, in which role, and when (ISO 8601 UTC)."""

    signer: str
    role: str
    signed_at: str
    report_id: int
    report_sha256: str
    evaluation: int = 1
    earlier: tuple[tuple[str, str, str], ...] = ()
    """Earlier sign-offs of the same report still standing: (signer, role, ISO time)."""

    @property
    def date(self) -> str:
        """The day of the signature (YYYY-MM-DD)."""
        return self.signed_at[:10]
