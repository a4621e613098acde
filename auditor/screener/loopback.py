"""A loopback HTTP server that wraps a scoring function, for tests and the demo's docs.

Two routes, both POST, both JSON:

* ``/score`` — ``{"records": [{...}, ...]}`` -> ``{"scores": [0.73, ...]}`` (a simple JSON
  scoring API);
* ``/v1/chat/completions`` — a minimal OpenAI-compatible chat endpoint: the last user message
  must hold the application, either as a JSON object (``{...}`` anywhere in the text; the
  safer choice) or as one ``Field name: value`` line per field (labels are lower-cased with
  spaces as underscores, so ``Years experience: 5`` is ``years_experience``; a value must
  fit on its line); the reply's ``choices[0].message.content`` is the score as text
  (``repr`` of the float, so it parses back to exactly the same number).

It binds 127.0.0.1 on a free port (port 0) in a daemon thread and is a context manager::

    with LoopbackServer(my_score_fn) as server:
        requests.post(server.score_url, json={"records": records})

Nothing here reaches beyond the loopback interface.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from auditor.errors import AuditorError

ScoreFn = Callable[[list[dict[str, object]]], list[float]]

SCORE_PATH = "/score"
CHAT_PATH = "/v1/chat/completions"
MAX_BODY_BYTES = 10 * 1024 * 1024
_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*:\s*(.*)$")


class LoopbackServer:
    """Serve ``score`` on 127.0.0.1 while the ``with`` block runs."""

    def __init__(
        self,
        score: ScoreFn,
        *,
        model_name: str = "auditor-sample-screener",
        api_key: str | None = None,
        fields: Sequence[str] | None = None,
        noise_sd: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.score = score
        self.model_name = model_name
        self.api_key = api_key
        # fields recognised in "field: value" chat prompts (None: any "word: value" line)
        self.fields = tuple(fields) if fields is not None else None
        self.requests = 0  # POSTs answered, for tests of caching and retries
        # noise_sd > 0 makes the server stochastic, like an LLM sampled at temperature > 0:
        # each score gets independent N(0, noise_sd) noise, clipped to [0, 1] (seeded)
        self.noise_sd = noise_sd
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the loopback server is not running (use it in a with block)")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def score_url(self) -> str:
        return self.url + SCORE_PATH

    @property
    def chat_url(self) -> str:
        return self.url + CHAT_PATH

    def __enter__(self) -> LoopbackServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="screener-loopback", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def _count(self) -> None:
        with self._lock:
            self.requests += 1

    def scores(self, records: list[dict[str, object]]) -> list[float]:
        """``score(records)``, with the configured noise when stochastic."""
        values = [float(v) for v in self.score(records)]
        if self.noise_sd > 0:
            with self._lock:
                values = [
                    min(1.0, max(0.0, v + self._rng.gauss(0.0, self.noise_sd))) for v in values
                ]
        return values

    def record_from_prompt(self, text: str) -> dict[str, object]:
        """The application in a chat prompt: a JSON object, else ``field: value`` lines."""
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            try:
                found = json.loads(text[start : end + 1])
            except json.JSONDecodeError:
                found = None
            if isinstance(found, dict):
                return found
        record: dict[str, object] = {}
        for line in text.splitlines():
            match = _LINE.match(line)
            if match:
                # "Years experience: 5" -> years_experience (templates capitalise labels)
                key = match.group(1).strip().lower().replace(" ", "_")
                value = match.group(2).strip()
                if self.fields is None or key in self.fields:
                    record[key] = value or None
        if not record:
            raise ValueError("the last user message holds no application (JSON or field lines)")
        return record


def _handler(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # tests stay quiet; the caller records what it sent

        def _reply(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._reply(200, {"ok": True, "model": server.model_name})
            else:
                self._reply(404, {"error": f"no route {self.path}"})

        def do_POST(self) -> None:
            if server.api_key is not None and (
                self.headers.get("Authorization") != f"Bearer {server.api_key}"
            ):
                self._reply(401, {"error": "missing or wrong bearer token"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY_BYTES:
                self._reply(400, {"error": f"body must be 1..{MAX_BODY_BYTES} bytes"})
                return
            try:
                body = json.loads(self.rfile.read(length))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                self._reply(400, {"error": f"body is not JSON: {exc}"})
                return
            server._count()
            try:
                if self.path == SCORE_PATH:
                    self._reply(200, _score(server, body))
                elif self.path == CHAT_PATH:
                    self._reply(200, _chat(server, body))
                else:
                    self._reply(404, {"error": f"no route {self.path}"})
            except (ValueError, AuditorError) as exc:  # bad records: the client's to fix
                self._reply(400, {"error": str(exc)})

    return Handler


def _score(server: LoopbackServer, body: object) -> dict[str, object]:
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError('expected {"records": [ {...}, ... ]}')
    return {"scores": server.scores(records)}


def _chat(server: LoopbackServer, body: object) -> dict[str, object]:
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        raise ValueError('expected {"messages": [{"role": ..., "content": ...}, ...]}')
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not users or not isinstance(users[-1].get("content"), str):
        raise ValueError("no user message with text content")
    record = server.record_from_prompt(users[-1]["content"])
    (score,) = server.scores([record])
    assert isinstance(body, dict)
    return {
        "id": f"chatcmpl-loopback-{server.requests}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model") or server.model_name),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": repr(float(score))},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def serve_sample_screener(model_path: str | Path, **options: Any) -> LoopbackServer:
    """A (not yet started) loopback server around a saved sample screener."""
    from auditor.screener.sample import score_records

    score: ScoreFn = partial(score_records, model_path=model_path)
    return LoopbackServer(score, **options)
