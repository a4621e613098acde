"""Slow down password guessing: a few failed sign-ins per client and name, then a pause.

Kept in memory per server process (a restart clears it); the event log keeps every
attempt regardless.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class LoginThrottle:
    """At most ``limit`` failed sign-ins per (client, name) within ``window_s`` seconds."""

    def __init__(self, *, limit: int = 10, window_s: float = 900.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def allowed(self, client: str, name: str, *, now: float | None = None) -> bool:
        """True while this client may still try this name."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            return len(self._recent((client, name.lower()), moment)) < self.limit

    def failed(self, client: str, name: str, *, now: float | None = None) -> None:
        """Count a failed attempt."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            self._recent((client, name.lower()), moment).append(moment)

    def succeeded(self, client: str, name: str) -> None:
        """Forget the failures of a client that signed in."""
        with self._lock:
            self._failures.pop((client, name.lower()), None)
