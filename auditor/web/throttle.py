"""Slow down password guessing, and keep failed sign-ins from flooding the event log.

Per client and name: a few failed sign-ins, then a pause; per client: a cap across all
names, so cycling through names does not get around it. Failed sign-ins are logged in
the hash-chained event log (which can never be pruned without breaking the chain), so
at most ``log_limit`` of them are logged per window, whoever sends them; the failures
beyond that are counted, and the next logged one carries the count
(``unlogged_failures``). Kept in memory per server process (a restart clears it), and
bounded: stale keys are dropped once there are more than ``max_keys``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

_ANY_NAME = "\x00any"  # the per-client key (no user name contains a NUL)


class LoginThrottle:
    """At most ``limit`` failed sign-ins per (client, name) and ``client_limit`` per client
    within ``window_s`` seconds; at most ``log_limit`` failure events per window."""

    def __init__(
        self,
        *,
        limit: int = 10,
        window_s: float = 900.0,
        client_limit: int = 50,
        log_limit: int = 100,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.client_limit = client_limit
        self.log_limit = log_limit
        self.max_keys = max_keys
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._logged: deque[float] = deque()
        self._unlogged = 0
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def allowed(self, client: str, name: str, *, now: float | None = None) -> bool:
        """True while this client may still try this name (and any name at all)."""
        moment = self.clock() if now is None else now
        with self._lock:
            return (
                len(self._recent((client, name.lower()), moment)) < self.limit
                and len(self._recent((client, _ANY_NAME), moment)) < self.client_limit
            )

    def failed(self, client: str, name: str, *, now: float | None = None) -> None:
        """Count a failed attempt."""
        moment = self.clock() if now is None else now
        with self._lock:
            self._recent((client, name.lower()), moment).append(moment)
            self._recent((client, _ANY_NAME), moment).append(moment)
            if len(self._failures) > self.max_keys:
                self._prune(moment)

    def succeeded(self, client: str, name: str) -> None:
        """Forget the failures of a client that signed in (for this name)."""
        with self._lock:
            self._failures.pop((client, name.lower()), None)

    def claim_log_slot(self, *, now: float | None = None) -> tuple[bool, int]:
        """Whether a failed sign-in may be logged now, and how many were not since the
        last logged one (to record in this one). A refusal counts the failure."""
        moment = self.clock() if now is None else now
        with self._lock:
            while self._logged and moment - self._logged[0] > self.window_s:
                self._logged.popleft()
            if len(self._logged) >= self.log_limit:
                self._unlogged += 1
                return False, 0
            self._logged.append(moment)
            unlogged, self._unlogged = self._unlogged, 0
            return True, unlogged

    def _prune(self, now: float) -> None:
        """Drop keys without a failure in the window; if still too many, the oldest."""
        for key in [k for k, times in self._failures.items() if not times or
                    now - times[-1] > self.window_s]:  # fmt: skip
            del self._failures[key]
        if len(self._failures) > self.max_keys:
            by_age = sorted(self._failures, key=lambda k: self._failures[k][-1])
            for key in by_age[: len(by_age) - self.max_keys // 2]:
                del self._failures[key]

    @property
    def tracked_keys(self) -> int:
        """How many (client, name) keys are held (for tests and monitoring)."""
        with self._lock:
            return len(self._failures)
