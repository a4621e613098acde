"""An in-process cache of the report's chart SVGs, keyed by a digest of the chart's inputs.

The same audit is rendered again and again in one process: ``auditor report`` in the
full layout and in its presets, the web workspace re-rendering a stored audit, the
scheduler. (Drawn with matplotlib, the charts were about a fifth of a full report's time;
written as SVG directly by :mod:`auditor.report.svgdraw` they cost a few milliseconds
each, and the LDA frontier chart is still drawn with matplotlib.) A chart is a pure
function of its inputs (the drawing code has no settings that vary), so its SVG is kept
under a SHA-256 digest of the function's name and a canonical encoding of every argument
(floats by ``repr``, arrays by their bytes), and a later call with equal inputs returns
the same SVG text without drawing. The cache is a small LRU (:data:`MAX_ENTRIES` charts
of 5-25 KB each).

An argument the encoding does not know (anything but plain data, dataclasses, mappings,
sequences and numpy arrays) makes that call draw uncached rather than risk a key that
misses part of the input.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec

import numpy as np
from markupsafe import Markup

MAX_ENTRIES = 256

P = ParamSpec("P")

_LOCK = threading.Lock()
_CACHE: OrderedDict[str, Markup] = OrderedDict()
_STATS = {"hits": 0, "misses": 0, "uncacheable": 0}


class _Uncacheable(TypeError):
    """An argument the key encoding does not cover."""


def cached_chart(fn: Callable[P, Markup]) -> Callable[P, Markup]:
    """Cache ``fn``'s SVG by a digest of its arguments (see the module docstring)."""
    name = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Markup:
        try:
            key = chart_key(name, args, kwargs)
        except _Uncacheable:
            with _LOCK:
                _STATS["uncacheable"] += 1
            return fn(*args, **kwargs)
        with _LOCK:
            hit = _CACHE.get(key)
            if hit is not None:
                _CACHE.move_to_end(key)
                _STATS["hits"] += 1
                return hit
            _STATS["misses"] += 1
        svg = fn(*args, **kwargs)
        with _LOCK:
            _CACHE[key] = svg
            _CACHE.move_to_end(key)
            while len(_CACHE) > MAX_ENTRIES:
                _CACHE.popitem(last=False)
        return svg

    return wrapper


def chart_key(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    """The cache key of a call: SHA-256 over the function name and its encoded arguments."""
    digest = hashlib.sha256(name.encode())
    _encode(args, digest)
    _encode(dict(kwargs), digest)
    return digest.hexdigest()


def clear_chart_cache() -> None:
    """Forget every cached chart and reset the counters (benchmarks, tests)."""
    with _LOCK:
        _CACHE.clear()
        for k in _STATS:
            _STATS[k] = 0


def chart_cache_info() -> dict[str, int]:
    """Hits, misses, uncacheable calls and the number of charts held."""
    with _LOCK:
        return {**_STATS, "size": len(_CACHE)}


def _encode(obj: Any, h: Any) -> None:
    """Feed a canonical, type-tagged encoding of ``obj`` into the hash ``h``."""
    if obj is None or isinstance(obj, bool):
        h.update(f"c{obj!r};".encode())
    elif isinstance(obj, int | float | np.integer | np.floating):
        # repr is exact for floats (shortest round-trip); numpy scalars as Python numbers
        value = obj.item() if isinstance(obj, np.generic) else obj
        h.update(f"n{type(value).__name__}{value!r};".encode())
    elif isinstance(obj, str):
        data = obj.encode("utf-8", "surrogatepass")
        h.update(f"s{len(data)}:".encode())
        h.update(data)
    elif isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            _encode(obj.tolist(), h)
        else:
            h.update(f"a{obj.dtype.str}{obj.shape};".encode())
            h.update(np.ascontiguousarray(obj).tobytes())
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(f"d{type(obj).__module__}.{type(obj).__qualname__}(".encode())
        for field in dataclasses.fields(obj):
            h.update(f"{field.name}=".encode())
            _encode(getattr(obj, field.name), h)
        h.update(b")")
    elif isinstance(obj, Mapping):
        h.update(f"m{len(obj)}{{".encode())
        for k, v in obj.items():  # in order: a differently ordered mapping only misses
            _encode(k, h)
            _encode(v, h)
        h.update(b"}")
    elif isinstance(obj, list | tuple):
        h.update(f"l{len(obj)}[".encode())
        for item in obj:
            _encode(item, h)
        h.update(b"]")
    else:
        raise _Uncacheable(type(obj).__name__)
