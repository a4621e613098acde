"""Principal reasons of one decision from its attributions, through the reason-code map.

Only features that pushed this applicant's output toward the adverse outcome (negative
attribution toward the favourable class) count; grouped features (one-hot columns,
correlated features sharing a reason code) are summed first, then ranked by how far they
pushed. A principal reason that cannot be stated (no mapping) or may not be stated
(forbidden, protected) is an error for the whole batch, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from auditor.errors import AuditorError
from auditor.letter_bases import stated_age_permitted
from auditor.letter_settings import LettersSpec
from auditor.letters.record import ReasonRecord

_EPS = 1e-9


class ReasonError(AuditorError):
    """A principal reason has no reason-code mapping or is forbidden as a reason."""


@dataclass(frozen=True)
class Reason:
    """One stated reason: its key, the features it covers, code, contribution and text."""

    key: str
    features: tuple[str, ...]
    code: str | None
    contribution: float
    text: str

    def record(self) -> ReasonRecord:
        """The JSON record (``feature``, ``contribution``, ``text``, plus code/features)."""
        return {
            "feature": self.key,
            "contribution": round(self.contribution, 6),
            "text": self.text,
            "code": self.code,
            "features": list(self.features),
        }


class ReasonMapper:
    """Groups attributions by reason and picks the principal reasons of a decision."""

    def __init__(
        self,
        letters: LettersSpec,
        feature_names: Sequence[str],
        protected: Sequence[str],
        *,
        credit: bool = False,
    ) -> None:
        self.letters = letters
        self.feature_names = tuple(feature_names)
        by_feature = letters.reason_features()
        self.keys: list[str] = []
        index: dict[str, int] = {}
        member = []
        for feature in self.feature_names:
            key = by_feature.get(feature, feature)
            if key not in index:
                index[key] = len(self.keys)
                self.keys.append(key)
            member.append(index[key])
        self.matrix = np.zeros((len(self.feature_names), len(self.keys)))
        self.matrix[np.arange(len(member)), member] = 1.0
        self.members = {
            k: tuple(
                f for f, m in zip(self.feature_names, member, strict=True) if self.keys[m] == k
            )
            for k in self.keys
        }
        self.mapped = {k for k in self.keys if k in letters.reason_codes}
        banned = set(letters.forbidden_reasons) | set(protected)
        self.forbidden = {k for k in self.keys if banned.intersection(self.members[k])}
        # reason index -> (feature, basis): never stated in a credit letter (bases.py)
        self.prohibited: dict[int, tuple[str, str]] = {}
        if credit:
            for i, key in enumerate(self.keys):
                for feature in self.members[key]:
                    basis = letters.prohibited_bases.get(feature, "none")
                    if basis != "none" and i not in self.prohibited:
                        self.prohibited[i] = (feature, basis)

    def grouped(self, values: np.ndarray) -> np.ndarray:
        """Per-reason contributions (n × reasons) from per-feature attributions (n × p)."""
        return np.asarray(values, dtype=np.float64) @ self.matrix

    def principal_keys(self, row: np.ndarray, limit: int | None = None) -> list[int]:
        """Indices of the reasons that pushed toward the adverse outcome, worst first."""
        adverse = np.flatnonzero(row < -_EPS)
        order = adverse[np.argsort(row[adverse], kind="stable")]
        return [int(i) for i in order[: limit or self.letters.max_reasons]]

    def on_basis(self, i: int, raw: Mapping[str, Any]) -> tuple[str, str] | None:
        """(feature, basis) when reason ``i`` may not be stated for this applicant."""
        found = self.prohibited.get(i)
        if found is None:
            return None
        feature, basis = found
        permitted = basis == "age" and self.letters.age_scoring_6b2
        if permitted and stated_age_permitted(raw.get(feature)):
            return None
        return found

    def stated_keys(self, row: np.ndarray, raw: Mapping[str, Any]) -> list[int]:
        """The principal reasons a letter may state: the adverse reasons, worst first,
        without those on a prohibited basis, at most ``max_reasons``."""
        ranked = self.principal_keys(row, limit=len(self.keys))
        allowed = [i for i in ranked if self.on_basis(i, raw) is None]
        return allowed[: self.letters.max_reasons]

    def withheld(self, row: np.ndarray, raw: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Adverse reasons on a prohibited basis ranked within the stated ones' reach:
        their feature, basis and rank (1 = the principal reason)."""
        ranked = self.principal_keys(row, limit=len(self.keys))
        out = []
        stated = 0
        for rank, i in enumerate(ranked, start=1):
            hit = self.on_basis(i, raw)
            if hit is None:
                stated += 1
                if stated >= self.letters.max_reasons:
                    break
            else:
                out.append({"feature": hit[0], "basis": hit[1], "rank": rank})
        return out

    def reasons(self, row: np.ndarray, raw: Mapping[str, Any]) -> list[Reason]:
        """The principal reasons of one decision (``row`` from :meth:`grouped`) that may
        be stated (none on a prohibited basis)."""
        out = []
        for i in self.stated_keys(row, raw):
            key = self.keys[i]
            entry = self.letters.reason_codes[key]
            out.append(
                Reason(
                    key,
                    self.members[key],
                    entry.code,
                    float(row[i]),
                    _text(entry.adverse, key, self.members[key], raw),
                )
            )
        return out

    def helpful_keys(self, row: np.ndarray, raw: Mapping[str, Any]) -> list[int]:
        """Reasons that pushed toward the favourable outcome, most first, without those on
        a prohibited basis or forbidden (an approved applicant's explanation)."""
        helped = np.flatnonzero(row > _EPS)
        order = helped[np.argsort(-row[helped], kind="stable")]
        return [
            int(i)
            for i in order
            if self.keys[int(i)] not in self.forbidden and self.on_basis(int(i), raw) is None
        ]

    def favorable(self, row: np.ndarray, raw: Mapping[str, Any], limit: int = 2) -> list[Reason]:
        """Up to ``limit`` mapped reasons that helped, largest first (for explanations)."""
        helped = np.flatnonzero(row > _EPS)
        out = []
        for i in helped[np.argsort(-row[helped], kind="stable")]:
            key = self.keys[int(i)]
            entry = self.letters.reason_codes.get(key)
            blocked = key in self.forbidden or self.on_basis(int(i), raw) is not None
            if entry is None or entry.favorable is None or blocked:
                continue
            text = _text(entry.favorable, key, self.members[key], raw)
            out.append(Reason(key, self.members[key], entry.code, float(row[i]), text))
            if len(out) == limit:
                break
        return out

    def check(
        self,
        grouped: np.ndarray,
        ids: Sequence[str],
        raws: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Fail, naming each feature, when a principal reason to be stated is unmapped or
        forbidden (reasons on a prohibited basis are never stated: see :meth:`withheld`)."""
        unmapped: dict[str, list[str]] = {}
        banned: dict[str, list[str]] = {}
        for r, row in enumerate(grouped):
            raw = raws[r] if raws is not None else {}
            for i in self.stated_keys(row, raw):
                key = self.keys[i]
                if key in self.forbidden:
                    banned.setdefault(key, []).append(ids[r])
                elif key not in self.mapped:
                    unmapped.setdefault(key, []).append(ids[r])
        problems = []
        for key, who in banned.items():
            problems.append(
                f"feature '{key}' is forbidden as a reason (letters.forbidden_reasons or a "
                f"protected attribute) but is a principal reason for {_who(who)}; it cannot "
                "be omitted, so the model's use of it needs review"
            )
        for key, who in unmapped.items():
            problems.append(
                f"feature '{key}' has no reason-code mapping (letters.reason_codes) but is a "
                f"principal reason for {_who(who)}; add an entry for it"
            )
        if problems:
            raise ReasonError(
                "Principal reasons cannot be stated; no letter was issued.", problems=problems
            )


def _who(ids: list[str]) -> str:
    shown = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
    return f"{len(ids)} decision(s) ({shown})"


def _text(template: str, key: str, features: tuple[str, ...], raw: Mapping[str, Any]) -> str:
    if "{value}" not in template or len(features) != 1:
        return template
    value = raw.get(features[0])
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    return template.replace("{value}", shown)
