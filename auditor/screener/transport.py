"""Calls to a network screener, with the care an audit owes the endpoint and the record.

- Only hosts the *operator* allowed are called (``$AUDITOR_SCREENER_HOSTS`` or ``auditor
  audit --allow-host``): :func:`check_host` runs before anything is read or sent, so a
  spec alone can never make the tool call out.
- Every request has a timeout; 429, 5xx, timeouts and dropped connections are retried
  with exponential backoff (``Retry-After`` honoured up to 60 s); other 4xx are errors.
- A token bucket keeps to ``rate_per_s`` requests per second.
- Replies are cached by the SHA-256 of (target identity, payload): re-running an audit
  (or a repeat of a deterministic screener) sends nothing twice.
- The :class:`CallLog` keeps the SHA-256 of every reply the audit used (from the network
  or the cache), in order: the record of what the screener said.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from auditor.errors import AuditorError

MAX_RETRY_AFTER_S = 60.0
MAX_REPLY_BYTES = 16 * 2**20


class ScreenerCallError(AuditorError):
    """The screener could not be called, or answered something unusable."""


def host_of(url: str) -> tuple[str, int]:
    """``(host, port)`` of an http(s) URL (lower-cased host, default ports filled in)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ScreenerCallError(f"screener.target.url: expected an http(s) URL, got {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ScreenerCallError(f"screener.target.url: bad port in {url!r}") from None
    return parts.hostname.lower(), port


def check_host(url: str, allowed: Iterable[str]) -> None:
    """Refuse ``url`` unless the operator allowed its host (``host`` or ``host:port``)."""
    host, port = host_of(url)
    entries = {a.strip().lower() for a in allowed if a.strip()}
    if host in entries or f"{host}:{port}" in entries:
        return
    raise ScreenerCallError(
        f"screener.target.url: host '{host}' (port {port}) is not one the operator allowed; "
        f"nothing was sent. An operator allows it with 'auditor audit --allow-host {host}' "
        "or AUDITOR_SCREENER_HOSTS (a spec cannot allow a host)."
    )


def digest(data: bytes) -> str:
    """SHA-256 hex digest."""
    return hashlib.sha256(data).hexdigest()


def cache_key(identity: dict[str, Any], payload: Any) -> str:
    """SHA-256 of the canonical JSON of (target identity, payload)."""
    text = json.dumps(
        {"target": identity, "payload": payload},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return digest(text.encode())


@dataclass
class CallLog:
    """What the audit asked and got: counts and every reply's SHA-256, in order."""

    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    response_digests: list[str] = field(default_factory=list)


class ReplyCache:
    """Replies on disk, one file per key (``ab/abcdef….json``); ``folder=None``: none."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path | None:
        return None if self.folder is None else self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            return path.read_bytes()
        except OSError:
            return None

    def put(self, key: str, body: bytes) -> None:
        path = self._path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(body)
            tmp.replace(path)  # atomic: a reader never sees half a reply
        except OSError:
            pass  # a cache that cannot be written costs calls, not correctness


@dataclass
class CallCare:
    """Timeout, retries, backoff and rate of one target (from the spec)."""

    timeout_s: float
    retries: int
    backoff_s: float
    rate_per_s: float


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect could lead to a host the operator did not allow: refuse every one."""

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> None:
        raise ScreenerCallError(
            f"{req.full_url}: HTTP {code} redirect to {newurl!r} refused (a screener URL must "
            "answer itself; redirects could reach a host the operator did not allow)"
        )


class JsonPoster:
    """POSTs JSON to one allowed URL with retries, a rate limit, the cache and the log.

    The standard library's client (``urllib``): no extra dependency, no proxies from the
    environment (``ProxyHandler({})``: the request goes to the allowed host itself), no
    redirects.
    """

    def __init__(
        self,
        url: str,
        identity: dict[str, Any],
        care: CallCare,
        *,
        allowed_hosts: Iterable[str],
        cache: ReplyCache,
        log: CallLog,
        api_key: str | None = None,
    ) -> None:
        check_host(url, allowed_hosts)  # before anything is built or sent
        self.url = url
        self.identity = identity
        self.care = care
        self.cache = cache
        self.log = log
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "auditor-screener-audit",
        }
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
        self._next_slot = 0.0

    def close(self) -> None:
        """Nothing to release (one connection per request)."""

    def post(self, payload: Any, *, key_extra: Any = None) -> Any:
        """The JSON reply to ``payload`` (cached; ``key_extra`` joins the cache key, e.g.
        the repeat number of a stochastic screener)."""
        key = cache_key(self.identity, payload if key_extra is None else [payload, key_extra])
        body = self.cache.get(key)
        if body is not None:
            self.log.cache_hits += 1
        else:
            body = self._send(payload)
            self.cache.put(key, body)
        self.log.response_digests.append(digest(body))
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ScreenerCallError(f"{self.url}: the reply is not JSON: {body[:200]!r}") from None

    def _wait_for_slot(self) -> None:
        now = time.monotonic()
        if now < self._next_slot:
            time.sleep(self._next_slot - now)
        self._next_slot = max(now, self._next_slot) + 1.0 / self.care.rate_per_s

    def _send(self, payload: Any) -> bytes:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        delay = self.care.backoff_s
        problem = ""
        for attempt in range(self.care.retries + 1):
            if attempt:
                self.log.retries += 1
                time.sleep(delay)
                delay *= 2
            self._wait_for_slot()
            self.log.requests += 1
            request = urllib.request.Request(self.url, data, self._headers, method="POST")
            try:
                with self._opener.open(request, timeout=self.care.timeout_s) as resp:
                    body: bytes = resp.read(MAX_REPLY_BYTES + 1)
                    status = int(resp.status)
            except urllib.error.HTTPError as exc:
                status, body = exc.code, exc.read(2000)
                after = exc.headers.get("Retry-After", "") if exc.headers else ""
                if status == 429 or status >= 500:
                    problem = f"HTTP {status}"
                    if after.replace(".", "", 1).isdigit():
                        delay = max(delay, min(float(after), MAX_RETRY_AFTER_S))
                    continue
                raise ScreenerCallError(
                    f"{self.url}: HTTP {status}: {body[:300]!r} (not retried)"
                ) from None
            except TimeoutError:
                problem = f"no reply within {self.care.timeout_s:g} s"
                continue
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, TimeoutError):
                    problem = f"no reply within {self.care.timeout_s:g} s"
                else:
                    problem = f"connection failed ({exc.reason})"
                continue
            except (ConnectionError, http.client.HTTPException) as exc:
                problem = f"connection failed ({exc.__class__.__name__}: {exc})"
                continue
            if status != 200:
                raise ScreenerCallError(f"{self.url}: HTTP {status} (expected 200)")
            if len(body) > MAX_REPLY_BYTES:
                raise ScreenerCallError(f"{self.url}: reply over {MAX_REPLY_BYTES:,} bytes")
            return body
        raise ScreenerCallError(
            f"{self.url}: {problem} after {self.care.retries + 1} attempt(s); the audit "
            "stopped (re-running it reuses the replies already cached)"
        )
