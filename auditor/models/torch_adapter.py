"""PyTorch adapter: a TorchScript file, or a state dict plus an importable module class.

State dicts are read with ``torch.load(weights_only=True)``, which refuses arbitrary
pickled objects; a module class is imported from a dotted path the spec names, only when
the operator allowed that module (:mod:`auditor.models.allowed_code`).
"""

from __future__ import annotations

import re
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from auditor.errors import ModelLoadError
from auditor.models._encoding import encode_frame, sigmoid
from auditor.models.allowed_code import import_model_class
from auditor.models.base import OutputSpace

if TYPE_CHECKING:  # models sit below the spec (annotations only)
    from auditor.spec import ModelSpec

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the install
        raise ModelLoadError(
            "This spec uses a PyTorch model but torch is not installed; install the 'torch' "
            "extra (pip install torch==2.13.0 'auditor[torch]')."
        ) from None
    return torch


class TorchAdapter:
    """Adapter for a torch module whose forward maps (n, p) float32 to (n,) or (n, 1)."""

    kind = "torch"

    def __init__(
        self,
        module: Any,
        feature_names: tuple[str, ...],
        *,
        output: str = "logit",
        source: str = "<module>",
    ) -> None:
        self.module = module.eval()
        self.feature_names = feature_names
        self.returns_probability = output == "probability"
        self.output_space: OutputSpace = "probability" if self.returns_probability else "logit"
        self.source = source
        self.device = "cpu"
        # the module's own input names, when it stores them (checked by load_model)
        self.model_feature_names: list[str] | None = _stored_names(
            getattr(module, "feature_names", None)
        )
        self.feature_check: str | None = None

    @classmethod
    def load(
        cls,
        path: Path,
        spec: ModelSpec,
        feature_names: tuple[str, ...],
        *,
        code_allowed: bool = True,
        allowed_modules: tuple[str, ...] = (),
    ) -> TorchAdapter:
        """Load from a file as the spec says; every failure becomes a ModelLoadError.

        ``code_allowed`` False (a spec from a web upload) refuses ``model.module``;
        ``allowed_modules``: modules the operator allowed for this spec.
        """
        torch = _torch()
        if not path.is_file():
            raise ModelLoadError(f"Model file not found: {path}")
        if not _is_zip(path):
            raise ModelLoadError(
                f"{path}: not a PyTorch model file (expected a TorchScript archive or a "
                "state dict saved with torch.save)."
            )
        stored: list[str] | None = None
        if spec.module:
            module, stored = _from_state_dict(
                torch, path, spec, code_allowed=code_allowed, extra=allowed_modules
            )
        else:
            try:
                with warnings.catch_warnings():
                    # TorchScript is deprecated upstream but still the portable format
                    # users ship; the deprecation is not something they can act on here.
                    warnings.filterwarnings(
                        "ignore",
                        message=r".*torch\.jit\.load.*deprecated",
                        category=DeprecationWarning,
                    )
                    module = torch.jit.load(str(path), map_location="cpu")
            # a corrupt archive raises any of these from the deserializer (fuzzed)
            except (RuntimeError, ValueError, OSError, IndexError, KeyError, EOFError) as exc:
                raise ModelLoadError(
                    f"{path}: not a TorchScript file ({_first_line(exc)}). For a state dict, "
                    "name its class in model.module ('package.module:Class')."
                ) from None
        adapter = cls(module, feature_names, output=spec.output, source=str(path))
        if stored is not None:
            adapter.model_feature_names = stored
        adapter._check_shape()
        return adapter

    def _check_shape(self) -> None:
        """Run one dummy row so a feature-count mismatch fails at load time, clearly."""
        try:
            self.output(np.zeros((1, len(self.feature_names))))
        except (RuntimeError, ValueError, IndexError, KeyError, TypeError) as exc:
            raise ModelLoadError(
                f"{self.source}: the model does not accept {len(self.feature_names)} "
                f"features ({_first_line(exc)})."
            ) from None

    def encode(self, features: pd.DataFrame) -> np.ndarray:
        """All features must be numeric and present: a network has no missing-value path."""
        x = encode_frame(features, {}, source=self.source)
        missing = np.isnan(x)
        if missing.any():
            # NaN inputs give NaN scores, which would silently count as unfavourable
            problems = []
            for j in np.flatnonzero(missing.any(axis=0)):
                rows = np.flatnonzero(missing[:, j]) + 1
                shown = ", ".join(str(r) for r in rows[:5])
                more = f" … ({len(rows)} in all)" if len(rows) > 5 else ""
                problems.append(
                    f"column '{features.columns[int(j)]}': missing value(s) at row(s) {shown}{more}"
                )
            raise ModelLoadError(
                f"{self.source}: a torch model cannot take missing feature values; fill or "
                "drop them before the audit.",
                problems=problems,
            )
        return x

    def forward(self, x: Any) -> Any:
        """Differentiable output per row as a 1-D tensor (used by integrated gradients)."""
        out = self.module(x)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim != 1:
            raise ModelLoadError(
                f"{self.source}: the model returns shape {tuple(out.shape)}; expected one "
                "output per row (the favourable-class logit or probability)."
            )
        return out

    def output(self, x: np.ndarray) -> np.ndarray:
        """Logit (or probability when the module returns probabilities) per row."""
        torch = _torch()
        with torch.no_grad():
            t = torch.as_tensor(x, dtype=torch.float32, device=self.device)
            return np.asarray(self.forward(t).double().cpu().numpy(), dtype=np.float64)

    def score(self, x: np.ndarray) -> np.ndarray:
        """Probability of the favourable outcome."""
        out = self.output(x)
        return out if self.returns_probability else sigmoid(out)


def _stored_names(value: Any) -> list[str] | None:
    """Feature names a module or checkpoint stores (a list of str), else None."""
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    return None


def _from_state_dict(
    torch: Any, path: Path, spec: ModelSpec, *, code_allowed: bool, extra: tuple[str, ...]
) -> tuple[Any, list[str] | None]:
    """The module, and the feature names of a ``{"state_dict": …, "feature_names": […]}``
    checkpoint (None for a bare state dict)."""
    assert spec.module is not None  # guarded by the caller
    # checked (allowed module, nn.Module subclass) before anything is read or built
    klass = import_model_class(spec.module, code_allowed=code_allowed, extra=extra)
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types (UnpicklingError, RuntimeError, ...)
        raise ModelLoadError(
            f"{path}: cannot read as a state dict with weights_only=True ({_first_line(exc)}); "
            "files holding arbitrary Python objects are refused."
        ) from None
    names = None
    if isinstance(state, dict) and "state_dict" in state:
        names = _stored_names(state.get("feature_names"))
        state = state["state_dict"]
    try:
        module = klass(**spec.init)
        module.load_state_dict(state, strict=True)
    except (TypeError, RuntimeError, KeyError) as exc:
        raise ModelLoadError(
            f"{path}: the weights do not fit {spec.module}(**model.init) ({_first_line(exc)})."
        ) from None
    return module, names


def _is_zip(path: Path) -> bool:
    try:
        return zipfile.is_zipfile(path)
    except zipfile.BadZipFile:  # raised, not answered False, for some corrupt end records
        return False


def _first_line(exc: BaseException) -> str:
    text = _ANSI_RE.sub("", str(exc)).strip()  # torch colours some messages
    return text.splitlines()[0] if text else type(exc).__name__
