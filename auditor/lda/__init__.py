"""Search for less discriminatory alternatives (issue 22): candidates aimed by the audit,
judged on a held-out split, kept in a record that ``auditor audit`` can reproduce."""

from __future__ import annotations

from auditor.lda.options import SearchOptions
from auditor.lda.search import search_alternatives

__all__ = ["SearchOptions", "search_alternatives"]
