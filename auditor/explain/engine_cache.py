"""One TreeSHAP engine per distinct model, shared by every caller in the process.

Building the engine (``dump_model()``, flattening, path tables) costs 0.54 s of CPU for
a 500-tree model, as much as explaining 1,500 rows, so per-decision callers
(letters, the review's perturbed copies, notebooks calling ``auditor.explain`` again and
again) must never pay it twice. Engines are keyed by a digest of the model text rather
than by the Booster object: a reloaded copy of the same model shares the engine, and a
model changed in place (new iterations, ``set_leaf_output``) gets a new one. The cache is
a small LRU (a few models: an engine holds the flattened trees and their tables) guarded
by a lock, so threads of a web server or of the letters pipeline can share it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from auditor.models.digest import model_digest, model_text

__all__ = ["EngineCache", "model_digest", "model_text"]

T = TypeVar("T")
DEFAULT_SIZE = 4


class EngineCache(Generic[T]):
    """A thread-safe LRU of built engines by model digest; counts the builds it ran."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = max(1, size)
        self.builds = 0
        self._items: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()
        # one lock per digest being built: two threads asking for the same new model
        # wait for one build instead of both building it
        self._building: dict[str, threading.Lock] = {}

    def get(self, digest: str, build: Callable[[], T]) -> T:
        """The engine for ``digest``, built by ``build()`` the first time it is asked for."""
        with self._lock:
            if digest in self._items:
                self._items.move_to_end(digest)
                return self._items[digest]
            key_lock = self._building.setdefault(digest, threading.Lock())
        with key_lock:
            with self._lock:
                if digest in self._items:  # another thread built it while we waited
                    self._items.move_to_end(digest)
                    return self._items[digest]
            value = build()
            with self._lock:
                self.builds += 1
                self._items[digest] = value
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
                self._building.pop(digest, None)
            return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        """Forget every engine (tests; freeing memory)."""
        with self._lock:
            self._items.clear()
