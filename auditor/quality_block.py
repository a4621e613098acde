"""The explanation-quality block of an :class:`~auditor.result.AuditResult`, typed.

What :func:`auditor.explain.quality.assess_sample` measures (fidelity and stability of
each attribution method on a seeded sample), or why nothing was measured. A stage type
on the bottom floor: it imports nothing from auditor, so the result, the policy facts
and the report can all read it.

The JSON form is the one results have always had: a computed block has every field but
``reason``; a block that was not computed has ``computed`` and ``reason`` only; a result
from before the stage existed has ``{}``. :meth:`ExplanationQuality.to_json` writes
exactly the fields that are set, so stored documents and their digests do not change.
The nested records are ``TypedDict`` s (plain dicts at run time) for the same reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from typing_extensions import TypedDict

__all__ = [
    "AgreementRecord",
    "ExplanationQuality",
    "MethodQualityRecord",
    "RandomOrderRecord",
]


class MethodQualityRecord(TypedDict):
    """Fidelity and stability figures of one method (None: not finite)."""

    method: str
    additive: bool
    completeness_max: float | None
    completeness_median: float | None
    completeness_relative: float | None
    deletion_auc: float | None
    insertion_auc: float | None
    infidelity: float | None
    max_sensitivity: float | None
    # shares of the re-explained rows (at least one): always finite
    reasons_changed_perturbation: float
    reasons_changed_rate: float
    reasons_changed_background: float
    curve_rows: int
    deletion_curve: list[float | None]
    insertion_curve: list[float | None]
    params: dict[str, Any]


class RandomOrderRecord(TypedDict):
    """The deletion and insertion curves of a random feature order (the floor)."""

    deletion_auc: float | None
    insertion_auc: float | None
    deletion_curve: list[float | None]
    insertion_curve: list[float | None]


class AgreementRecord(TypedDict):
    """How similarly two methods rank features, averaged over rows."""

    a: str
    b: str
    spearman: float | None
    kendall: float | None
    top_k_overlap: float | None
    k: int
    rows: int


_ORDER = (
    "computed",
    "reason",
    "primary",
    "settings",
    "output",
    "baseline",
    "methods",
    "random_order",
    "curve_fraction",
    "agreement",
    "skipped",
)


@dataclass(frozen=True)
class ExplanationQuality:
    """The explanation-quality block (see the module docstring for its JSON forms).

    ``computed`` False with a ``reason``: the stage did not run, and why; False without
    one: a result from before the stage existed. Fields a form does not have are None.
    """

    computed: bool = False
    reason: str | None = None
    primary: str | None = None
    settings: dict[str, Any] | None = None
    output: str | None = None
    baseline: str | None = None
    methods: list[MethodQualityRecord] | None = None
    random_order: RandomOrderRecord | None = None
    curve_fraction: list[float] | None = None
    agreement: list[AgreementRecord] | None = None
    skipped: dict[str, str] | None = None

    @classmethod
    def not_computed(cls, reason: str) -> ExplanationQuality:
        """The block recorded when the stage did not run."""
        return cls(computed=False, reason=reason)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | ExplanationQuality) -> ExplanationQuality:
        """Read the block's JSON form (``{}``: a result from before the stage existed).

        An unknown key is an error naming it: a block this version cannot read whole
        must not be stored again with parts left out.
        """
        if isinstance(data, ExplanationQuality):
            return data
        unknown = sorted(set(data) - set(_ORDER))
        if unknown:
            raise ValueError(
                f"explanation_quality: unknown field(s) {', '.join(unknown)}; this block was "
                "written by another version of auditor."
            )
        if not data:
            return cls()
        return cls(**{k: data[k] for k in _ORDER if k in data})

    def to_json(self) -> dict[str, Any]:
        """The JSON form: the fields that are set, in the block's order."""
        if not self.computed and self.reason is None:
            return {}
        if not self.computed:
            return {"computed": False, "reason": self.reason}
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "reason" or (value is None and f.name != "primary"):
                continue
            out[f.name] = value
        return out

    def method_names(self) -> list[str]:
        """Methods measured, in the block's order."""
        return [m["method"] for m in self.methods or ()]

    # Read access as when the block was a dict (``result.explanation_quality["computed"]``,
    # comparison with a dict): kept for Python API callers written against that form.
    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def get(self, key: str, default: Any = None) -> Any:
        """``block.get(key)`` as on the dict form."""
        return self.to_json().get(key, default)

    def __bool__(self) -> bool:
        # as the dict was: a result from before the stage existed has an empty block
        return bool(self.to_json())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ExplanationQuality):
            return self.to_json() == other.to_json()
        if isinstance(other, Mapping):
            return self.to_json() == dict(other)
        return NotImplemented
