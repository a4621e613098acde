"""Regular expressions of policy packs, run on RE2: time linear in the text, always.

Python's ``re`` backtracks: ``^(a+)+$`` on forty ``a`` and a ``!`` never returns, and a
pattern comes from a pack file anyone may write, or from a fact (evidence) at run time.
RE2 has no backreferences or lookaround, so patterns that need them are refused when the
pack loads (or, for a pattern from a fact, when the rule runs), naming the pattern.
Matching is case-insensitive, as it always was for packs.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

# RE2 keeps its automata within this much memory per pattern (the default is 8 MiB);
# a pattern that needs more is refused instead of growing without bound
_MAX_MEM = 8 << 20
MAX_PATTERN_CHARS = 1000


class PatternError(ValueError):
    """A pattern RE2 cannot compile; ``reason`` says why."""

    def __init__(self, pattern: str, reason: str) -> None:
        self.pattern = pattern
        self.reason = reason
        super().__init__(f"invalid regular expression {pattern!r}: {reason}")


def _options() -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # RE2 logs to stderr otherwise; the error is ours to report
    options.max_mem = _MAX_MEM
    return options


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Any:
    """The compiled pattern, or :class:`PatternError` (also for an over-long pattern)."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(pattern[:40] + "…", f"longer than {MAX_PATTERN_CHARS} characters")
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(
            pattern,
            f"{reason} (patterns run on RE2: no backreferences or lookaround)",
        ) from None


def search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` occurs in ``text`` (case-insensitive), in linear time."""
    return compile_pattern(pattern).search(text) is not None
