"""Each consumer's own FCRA facts: the report, the score used, its date, range, key
factors and source (609(f), 615(a)), and information from other third parties (615(b)).

Values come from the data columns the spec names (``letters.consumer_report.columns``),
one row per decision, else from the section's fixed values. A score block is printed
only when a score was used for this consumer: 615(a)(2) asks for the numerical score
"used by such person in taking any adverse action".
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from auditor.errors import AuditorError
from auditor.letter_settings import ConsumerReport


@dataclass(frozen=True)
class ConsumerFacts:
    """What one letter says about the consumer report and score behind the decision."""

    used: bool
    score: float | None
    score_date: str
    score_range: tuple[float, float] | None
    key_factors: tuple[str, ...]
    source: str
    third_party: bool

    @property
    def score_used(self) -> bool:
        """A numerical score was used in the decision (and is disclosed)."""
        return self.used and self.score is not None


def number(value: Any) -> float | None:
    """A finite number from a data value (ints, NumPy ints, numeric text), else None."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, numbers.Real | np.integer | np.floating):
        out = float(value)
    elif isinstance(value, str) and value.strip():
        try:
            out = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return out if math.isfinite(out) else None


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y")
    try:
        return bool(value) and not (isinstance(value, float) and math.isnan(value))
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def consumer_facts(
    cr: ConsumerReport, raw: Mapping[str, Any], report: Mapping[str, Any]
) -> ConsumerFacts:
    """One consumer's facts: ``report`` holds the named columns' values for the decision,
    ``raw`` its model inputs (``score_feature``)."""
    cols = cr.columns
    values = {**raw, **report}
    used = _flag(values.get(cols.used)) if cols.used else cr.used
    score_column = cols.score or cr.score_feature
    score = number(values.get(score_column)) if score_column else None
    low = number(values.get(cols.range_low)) if cols.range_low else None
    high = number(values.get(cols.range_high)) if cols.range_high else None
    score_range = (low, high) if low is not None and high is not None else cr.score_range
    factors: tuple[str, ...] = tuple(cr.key_factors)
    if cols.key_factors:
        text = _text(values.get(cols.key_factors))
        factors = tuple(f.strip() for f in text.split(";") if f.strip())
    date = _text(values.get(cols.score_date)) if cols.score_date else (cr.score_date or "")
    agency = cr.agency.name if cr.agency is not None else ""
    source = (_text(values.get(cols.source)) if cols.source else "") or agency
    third = _flag(values.get(cols.third_party)) if cols.third_party else cr.third_party_used
    return ConsumerFacts(used, score, date, score_range, factors[:5], source, third)


def read_report_columns(
    cr: ConsumerReport,
    data_path: Path,
    data_format: str | None,
    id_column: str,
    ids: Sequence[str],
    have: Sequence[str],
) -> list[dict[str, Any]]:
    """The named report columns for the decisions ``ids``, read from the audited data
    file (columns already among the stored model inputs ``have`` are not read)."""
    from auditor.data import read_table

    wanted = [c for c in cr.columns.named() if c not in have]
    if not wanted:
        return [{} for _ in ids]
    frame = read_table(data_path, data_format, text=[id_column])  # ids as the audit read them
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise AuditorError(
            f"{data_path}: letters.consumer_report.columns names column(s) "
            f"{', '.join(missing)}, which the data does not have."
        )
    frame = frame.assign(**{id_column: frame[id_column].astype(str)}).set_index(id_column)
    rows = frame[wanted].to_dict(orient="index")
    return [{str(k): v for k, v in rows.get(str(i), {}).items()} for i in ids]
