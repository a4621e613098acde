"""The screener under audit, whatever it is: records in, one number per record out.

- ``callable``: ``module:function`` from a module the operator allowed (auditor's sample
  screeners are built in), called in-process;
- ``http``: a JSON scoring API (batches of records in, scores out);
- ``chat``: an OpenAI-compatible chat-completions endpoint, one application per request,
  the score parsed from the reply with the spec's pattern (strictly: a reply without a
  number is an error naming the application, never a guess);
- ``torch``: a local torch text model (a state-dict file and its class).

Every target reports its identity (function, URL and model, file digest) and keeps the
SHA-256 of every reply it used (:class:`~auditor.screener.transport.CallLog`).
"""

from __future__ import annotations

import importlib
import json
import math
import re
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from auditor.errors import ModelLoadError
from auditor.models.allowed_code import allowed_modules, is_allowed
from auditor.provenance import combined_sha256, file_sha256
from auditor.screener.applications import Record
from auditor.screener.transport import (
    CallCare,
    CallLog,
    JsonPoster,
    ReplyCache,
    ScreenerCallError,
    digest,
)
from auditor.spec import AuditSpec, CallableTarget, ChatTarget, HttpTarget, TorchTarget

BUILTIN_SCREENER_MODULES = ("auditor.screener.sample", "auditor.screener.sample_model")
"""auditor's own sample screeners, always allowed as targets."""
SAMPLE_TORCH_MODULE = "auditor.screener.sample_model"
CALL_BATCH = 512  # records per in-process call (bounded memory for large audits)


class Target(Protocol):
    """A screener: ``score(records, repeat)`` -> one finite number per record."""

    kind: str
    identity: dict[str, Any]
    log: CallLog

    def score(self, records: Sequence[Record], repeat: int) -> list[float]:
        """Scores of ``records`` (``repeat``: which draw, for stochastic screeners)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@dataclass(frozen=True)
class Network:
    """What the operator configured for network targets (never the spec)."""

    allowed_hosts: tuple[str, ...] = ()
    cache_dir: Path | None = None
    api_key: str | None = None


def open_target(spec: AuditSpec, network: Network) -> Target:
    """The spec's screener, checked against what the operator allowed (nothing is
    imported, loaded or called before the check)."""
    sc = spec.screener
    if sc is None:  # pragma: no cover - callers check
        raise ModelLoadError("not a screener audit")
    t = sc.target
    if isinstance(t, CallableTarget):
        return CallableScreener(t, spec)
    if isinstance(t, HttpTarget):
        return HttpScreener(t, network, stochastic=sc.repeats > 1)
    if isinstance(t, ChatTarget):
        fields = [sc.id_field, sc.name_field, *sc.text_fields, *sc.structured_fields]
        return ChatScreener(t, network, fields, stochastic=sc.repeats > 1)
    return TorchScreener(t, spec)


def _finite_scores(values: Any, n: int, where: str) -> list[float]:
    if hasattr(values, "tolist"):  # a numpy array or a tensor
        values = values.tolist()
    if not isinstance(values, list | tuple):
        raise ScreenerCallError(
            f"{where}: expected a list of {n} numbers, got {type(values).__name__}"
        )
    items = list(values)
    if len(items) != n:
        raise ScreenerCallError(f"{where}: {len(items)} scores for {n} records")
    out = []
    for i, v in enumerate(items):
        if isinstance(v, bool):
            v = float(v)
        if not isinstance(v, int | float) or not math.isfinite(float(v)):
            raise ScreenerCallError(f"{where}: score {i + 1} is {v!r}, not a finite number")
        out.append(float(v))
    return out


def _scores_digest(scores: list[float]) -> str:
    return digest(json.dumps(scores, separators=(",", ":")).encode())


def _import_allowed(target: str, spec: AuditSpec, what: str) -> Any:
    """``module:name`` imported only when the operator allowed it (or it is built in)."""
    if not spec.code_allowed:
        raise ModelLoadError(
            f"{what}: '{target}' refused: a spec uploaded through the web workspace cannot "
            "name code to import."
        )
    allowed = allowed_modules((*BUILTIN_SCREENER_MODULES, *spec.operator_modules))
    if not is_allowed(target, allowed):
        raise ModelLoadError(
            f"{what}: '{target.partition(':')[0]}' is not an allowed module; an operator "
            "allows it with 'auditor audit --allow-module MODULE' or AUDITOR_ALLOWED_MODULES "
            "(a spec cannot allow it)."
        )
    mod_name, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ModelLoadError(f"{what}: cannot import '{target}' ({exc}).") from None


class CallableScreener:
    """``fn(records, **options)`` from an allowed module."""

    kind = "callable"

    def __init__(self, t: CallableTarget, spec: AuditSpec) -> None:
        fn = _import_allowed(t.function, spec, "screener.target.function")
        if not callable(fn):
            raise ModelLoadError(f"screener.target.function: '{t.function}' is not callable")
        self._fn: Callable[..., Any] = fn
        self._options = dict(t.options)
        for key in t.path_options:  # as written in the identity; resolved for the call
            self._options[key] = str(spec.resolve(str(t.options[key])))
        self.identity: dict[str, Any] = {"function": t.function, "options": dict(t.options)}
        self.log = CallLog()

    def score(self, records: Sequence[Record], repeat: int) -> list[float]:
        out: list[float] = []
        for start in range(0, len(records), CALL_BATCH):
            batch = [dict(r) for r in records[start : start + CALL_BATCH]]
            self.log.requests += 1
            scores = _finite_scores(
                self._fn(batch, **self._options), len(batch), "screener.target.function"
            )
            self.log.response_digests.append(_scores_digest(scores))
            out += scores
        return out

    def close(self) -> None:
        pass


def _care(t: HttpTarget | ChatTarget) -> CallCare:
    return CallCare(t.timeout_s, t.retries, t.backoff_s, t.rate_per_s)


def _poster(
    t: HttpTarget | ChatTarget, identity: dict[str, Any], network: Network, log: CallLog
) -> JsonPoster:
    """The care, host check, reply cache and call log every network target posts through."""
    return JsonPoster(
        t.url,
        identity,
        _care(t),
        allowed_hosts=network.allowed_hosts,
        cache=ReplyCache(network.cache_dir),
        log=log,
        api_key=network.api_key,
    )


class HttpScreener:
    """A JSON scoring API: ``{records_key: [...]}`` -> ``{scores_key: [...]}``."""

    kind = "http"

    def __init__(self, t: HttpTarget, network: Network, *, stochastic: bool) -> None:
        self.identity = {"url": t.url, "records_key": t.records_key, "scores_key": t.scores_key}
        self.log = CallLog()
        self._t = t
        self._stochastic = stochastic
        self._poster = _poster(t, self.identity, network, self.log)

    def score(self, records: Sequence[Record], repeat: int) -> list[float]:
        out: list[float] = []
        for start in range(0, len(records), self._t.batch_size):
            batch = [dict(r) for r in records[start : start + self._t.batch_size]]
            reply = self._poster.post(
                {self._t.records_key: batch}, key_extra=repeat if self._stochastic else None
            )
            if not isinstance(reply, dict) or self._t.scores_key not in reply:
                raise ScreenerCallError(
                    f"{self._t.url}: the reply has no '{self._t.scores_key}' list"
                )
            out += _finite_scores(reply[self._t.scores_key], len(batch), self._t.url)
        return out

    def close(self) -> None:
        self._poster.close()


def template_fields(template: str) -> list[str]:
    """The ``{field}`` names of a prompt template (plain names only: no attribute access,
    indexing or conversions, which ``str.format`` would otherwise evaluate)."""
    names = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ModelLoadError(f"screener.target.prompt: not a template ({exc})") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ModelLoadError(
                f"screener.target.prompt: '{{{name}}}' must be a plain field name "
                "(write '{{' and '}}' for literal braces)"
            )
        names.append(name)
    return names


def render_prompt(template: str, record: Record) -> str:
    """The template with the record's fields (a missing value as an empty string)."""
    values = {k: "" if v is None else str(v) for k, v in record.items()}
    return template.format_map(values)


def parse_score(pattern: str, reply: str, where: str) -> float:
    """The number the pattern's group captures in ``reply``; an error naming ``where``
    and showing the reply when there is none (a score is never guessed)."""
    m = re.search(pattern, reply)
    shown = reply if len(reply) <= 200 else reply[:200] + "…"
    if m is None:
        raise ScreenerCallError(
            f"screener.target.score_pattern: the reply for {where} does not match "
            f"{pattern!r}: {shown!r}. Make the prompt ask for the score in that form, or "
            "change score_pattern."
        )
    try:
        value = float(m.group(1))
    except (TypeError, ValueError):
        raise ScreenerCallError(
            f"screener.target.score_pattern: the reply for {where} matched, but "
            f"{m.group(1)!r} is not a number: {shown!r}"
        ) from None
    if not math.isfinite(value):
        raise ScreenerCallError(f"screener.target.score_pattern: {where}: {value} is not finite")
    return value


class ChatScreener:
    """An OpenAI-compatible chat-completions endpoint, one application per request."""

    kind = "chat"

    def __init__(
        self, t: ChatTarget, network: Network, fields: Iterable[str], *, stochastic: bool
    ) -> None:
        known = set(fields)
        unknown = [f for f in template_fields(t.prompt) if f not in known]
        unknown += [f for f in template_fields(t.system or "") if f not in known]
        if unknown:
            raise ModelLoadError(
                f"screener.target.prompt: '{{{unknown[0]}}}' is not one of the application's "
                f"fields {sorted(known)}"
            )
        self.identity = {
            "url": t.url,
            "model": t.model,
            "prompt": t.prompt,
            "system": t.system,
            "score_pattern": t.score_pattern,
            "temperature": t.temperature,
            "max_tokens": t.max_tokens,
        }
        self.log = CallLog()
        self._t = t
        self._stochastic = stochastic
        self._poster = _poster(t, self.identity, network, self.log)

    def _messages(self, record: Record) -> list[dict[str, str]]:
        messages = []
        if self._t.system:
            messages.append({"role": "system", "content": render_prompt(self._t.system, record)})
        messages.append({"role": "user", "content": render_prompt(self._t.prompt, record)})
        return messages

    def score(self, records: Sequence[Record], repeat: int) -> list[float]:
        out = []
        for i, record in enumerate(records):
            payload = {
                "model": self._t.model,
                "messages": self._messages(record),
                "temperature": self._t.temperature,
                "max_tokens": self._t.max_tokens,
            }
            reply = self._poster.post(payload, key_extra=repeat if self._stochastic else None)
            where = f"record {i + 1} (application {record.get('application_id', '?')!s})"
            try:
                text = reply["choices"][0]["message"]["content"]
            except (KeyError, IndexError, TypeError):
                raise ScreenerCallError(
                    f"{self._t.url}: {where}: not a chat-completions reply "
                    f"(no choices[0].message.content): {str(reply)[:200]!r}"
                ) from None
            if not isinstance(text, str):
                raise ScreenerCallError(f"{self._t.url}: {where}: the message has no text")
            out.append(parse_score(self._t.score_pattern, text, where))
        return out

    def close(self) -> None:
        self._poster.close()


class TorchScreener:
    """A local torch text model: auditor's sample screener (a folder with ``config.json``
    and ``weights.pt``, see :mod:`auditor.screener.sample_model`), or a class the operator
    allowed, rebuilt from a state-dict file and scoring with ``score_records(records)``."""

    kind = "torch"

    def __init__(self, t: TorchTarget, spec: AuditSpec) -> None:
        path = spec.resolve(t.path)
        if not path.exists():
            raise ModelLoadError(f"screener.target.path: not found: {path}")
        if t.module is None:
            from auditor.screener import sample_model

            model = sample_model.load(path)
            # the loaded sample screener: what gradient attributions differentiate
            self.model: object | None = model
            self._score: Callable[[list[Record]], Any] = lambda rs: sample_model.predict(model, rs)
            digests = (
                [file_sha256(f) for f in sorted(path.glob("*")) if f.is_file()]
                if path.is_dir()
                else [file_sha256(path)]
            )
            self.identity: dict[str, Any] = {
                "module": SAMPLE_TORCH_MODULE,
                "path": t.path,
                "sha256": combined_sha256(digests),
            }
        else:
            self.model = None
            self._score = self._allowed_class(t, spec, path)
            self.identity = {"module": t.module, "path": t.path, "sha256": file_sha256(path)}
        self.log = CallLog()

    @staticmethod
    def _allowed_class(
        t: TorchTarget, spec: AuditSpec, path: Path
    ) -> Callable[[list[Record]], Any]:
        target = str(t.module)
        klass = _import_allowed(target, spec, "screener.target.module")
        import torch

        if not (isinstance(klass, type) and issubclass(klass, torch.nn.Module)):
            raise ModelLoadError(f"screener.target.module: '{target}' is not a torch module")
        if not callable(getattr(klass, "score_records", None)):
            raise ModelLoadError(
                f"screener.target.module: '{target}' has no score_records(records) method"
            )
        if not path.is_file():
            raise ModelLoadError(f"screener.target.path: {path} is not a state-dict file")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model: Any = klass(**t.init)
            model.load_state_dict(state)
        except Exception as exc:  # torch raises many types for a bad or foreign file
            raise ModelLoadError(f"screener.target.path: {path}: cannot load ({exc})") from None
        model.eval()
        return lambda rs: model.score_records(rs)

    def score(self, records: Sequence[Record], repeat: int) -> list[float]:
        out: list[float] = []
        for start in range(0, len(records), CALL_BATCH):
            batch = [dict(r) for r in records[start : start + CALL_BATCH]]
            self.log.requests += 1
            scores = _finite_scores(self._score(batch), len(batch), "screener.target")
            self.log.response_digests.append(_scores_digest(scores))
            out += scores
        return out

    def close(self) -> None:
        pass
