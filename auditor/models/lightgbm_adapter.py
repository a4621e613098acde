"""LightGBM Booster adapter (text model files written by ``Booster.save_model``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from auditor.errors import ModelLoadError
from auditor.models._encoding import encode_frame, sigmoid
from auditor.models.base import OutputSpace
from auditor.models.digest import model_digest, model_text
from auditor.models.lightgbm_text import TextModelProblem, check_text_model

_CAT_RE = re.compile(r"^\[categorical_feature: ([0-9,]*)\]$", re.MULTILINE)
_BINARY_OBJECTIVES = ("binary", "cross_entropy", "xentropy")
_HEADER_RE = re.compile(r"^(num_class|objective)=(.*?)\r?$", re.MULTILINE)


class LightGBMAdapter:
    """Adapter for a binary LightGBM Booster; attributions explain the log-odds."""

    kind = "lightgbm"

    def __init__(self, booster: lgb.Booster, *, source: str = "<booster>") -> None:
        self.booster = booster
        self.source = source
        self.feature_names = tuple(booster.feature_name())
        # the header of the model text says what dump_model() would (objective, classes)
        # at a fraction of its cost: a 500-tree dump takes ~0.6 s and notebooks and the
        # letters build an adapter per call; the text's digest keys the TreeSHAP engine
        text = booster.model_to_string(num_iteration=-1)
        header = dict(_HEADER_RE.findall(text[: text.find("\nTree=")]))
        if int(header.get("num_class", "1")) != 1:
            raise ModelLoadError(
                f"{source}: multiclass LightGBM models are not supported; the audit needs a "
                "binary favourable/unfavourable outcome."
            )
        objective = header.get("objective", "").split(" ")[0]
        self.objective = objective
        self.output_space: OutputSpace = (
            "log-odds" if objective.startswith(_BINARY_OBJECTIVES) else "raw"
        )
        self.categories = _categories(booster, self.feature_names, text)
        # the model text of dump_model's default iterations, kept (2.4 MB for 500 trees
        # of 63 leaves): its digest keys the shared TreeSHAP engine, which is built from
        # this text on first use instead of reading the model out of LightGBM again
        best = int(getattr(booster, "best_iteration", 0) or 0)
        self.text = text if best <= 0 else model_text(booster)
        self.digest = model_digest(booster, self.text)
        self.feature_check: str | None = None  # set by load_model (see models/checks.py)

    @classmethod
    def load(cls, path: Path) -> LightGBMAdapter:
        """Load a text model file, with a clear error when it is not one."""
        return cls(load_booster(path), source=str(path))

    def encode(self, features: pd.DataFrame) -> np.ndarray:
        """Numeric matrix with categorical features as the model's own category codes."""
        cats = {k: v for k, v in self.categories.items() if v is not None}
        return encode_frame(features, cats, source=self.source)

    def output(self, x: np.ndarray) -> np.ndarray:
        """Raw score (log-odds for binary objectives)."""
        return np.asarray(self.booster.predict(x, raw_score=True), dtype=np.float64)

    def score(self, x: np.ndarray) -> np.ndarray:
        """Probability of the favourable class (the raw score for non-binary objectives)."""
        return self.score_of_output(self.output(x))

    def score_of_output(self, raw: np.ndarray) -> np.ndarray:
        """:meth:`score` from :meth:`output` already computed: the audit's chunk kernel
        needs both for every row, and predicting once saves a pass over the trees."""
        return sigmoid(raw) if self.output_space == "log-odds" else raw


def load_booster(path: Path) -> lgb.Booster:
    """A Booster from a text model file that was checked completely before LightGBM read it.

    Raises :class:`ModelLoadError` naming ``path`` and what is wrong; binary or multiclass
    alike (the adapter decides what it supports).
    """
    if not path.is_file():
        raise ModelLoadError(f"Model file not found: {path}")
    data = path.read_bytes()
    if data[:64].lstrip().startswith(b"{"):
        raise ModelLoadError(
            f"{path}: looks like a JSON dump (Booster.dump_model), which LightGBM cannot "
            "load back; save the model with Booster.save_model() as a text file."
        )
    problem = _text_model_problem(data)
    if problem:
        # LightGBM's C++ parser reads past the end of a truncated file and crashes the
        # whole process (SIGSEGV/abort), so the structure is checked before it runs.
        raise ModelLoadError(
            f"{path}: not a complete LightGBM model file ({problem}); it may be truncated "
            "or corrupt. Save the model again with Booster.save_model()."
        )
    try:
        # indices out of range crash LightGBM and the TreeSHAP kernels: check them all
        check_text_model(data)
    except TextModelProblem as exc:
        raise ModelLoadError(
            f"{path}: not a valid LightGBM model file ({exc}); it may be corrupt or "
            "edited. Save the model again with Booster.save_model()."
        ) from None
    try:
        # the checked bytes, not the file again: it could change between check and load
        booster = lgb.Booster(model_str=data.decode("utf-8"))
    except (lgb.basic.LightGBMError, OSError, ValueError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"{path}: not a readable LightGBM model file ({first}).") from None
    return booster


_TREE_SIZES_RE = re.compile(rb"^tree_sizes=([0-9 ]*)\r?$", re.MULTILINE)


def _text_model_problem(data: bytes) -> str | None:
    """Why ``data`` is not a structurally complete text model (None: it looks complete).

    Checks what LightGBM's parser trusts without bounds checks: the ``tree_sizes`` byte
    offsets of every tree, the ``end of trees`` marker and the parameters block.
    """
    if not data.lstrip().startswith(b"tree"):
        return "it does not start with the 'tree' header"
    end = data.find(b"\nend of trees")
    if end < 0:
        return "the 'end of trees' marker is missing"
    start = data.find(b"\nTree=")
    match = _TREE_SIZES_RE.search(data, 0, start if 0 <= start < end else end)
    if match:
        try:
            sizes = [int(s) for s in match.group(1).split()]
        except ValueError:
            return "the tree_sizes header is malformed"
        if start < 0 or start > end:
            return "no tree follows the header"
        offset = start + 1
        for i, size in enumerate(sizes):
            if not data.startswith(b"Tree=", offset):
                return f"tree {i} is not where the header says it is"
            offset += size
        if offset > end + 1 or data[offset : end + 1].strip():
            return "the trees do not add up to the sizes in the header"
    params = data.find(b"\nparameters:", end)
    if params >= 0 and data.find(b"\nend of parameters", params) < 0:
        return "the parameters block is cut off"
    return None


def _categories(
    booster: lgb.Booster, names: tuple[str, ...], text: str
) -> dict[str, list[Any] | None]:
    """Category lists of the model's categorical features (None: integer-coded already)."""
    match = _CAT_RE.search(text)
    if not match or not match.group(1):
        return {}
    idx = [int(i) for i in match.group(1).split(",") if i]
    pandas_cats = booster.pandas_categorical or []
    out: dict[str, list[Any] | None] = {}
    for k, i in enumerate(idx):
        out[names[i]] = list(pandas_cats[k]) if k < len(pandas_cats) else None
    return out
