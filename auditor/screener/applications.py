"""The applications a screener audit probes: CSV or JSONL, read strictly.

Each application is a record (``dict``) of the spec's fields only: its id, the name, the
text fields (``None`` when missing) and the structured fields. Nothing else in the file
is read into a record, so nothing else can reach a screener (issue 23: only the
application's fields plus the probe's controlled signal are sent).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from auditor.errors import DataValidationError
from auditor.spec import AuditSpec, ScreenerSpec

Record = dict[str, object]
MAX_APPLICATIONS = 1_000_000
MAX_TEXT = 100_000  # characters of one text field (a resume is a few thousand)


def applications_path(spec: AuditSpec) -> Path:
    """The applications file: ``screener.applications``, else ``data.path``."""
    sc = _screener(spec)
    return spec.resolve(sc.applications or spec.data.path)


def load_applications(spec: AuditSpec) -> list[Record]:
    """The spec's applications as records, in file order (``max_applications`` first)."""
    sc = _screener(spec)
    path = applications_path(spec)
    if not path.is_file():
        raise DataValidationError(f"screener.applications: file not found: {path}")
    kind = sc.format or ("jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv")
    rows = _read_jsonl(path) if kind == "jsonl" else _read_csv(path)
    if sc.max_applications is not None:
        rows = rows[: sc.max_applications]
    if not rows:
        raise DataValidationError(f"{path}: no applications")
    if len(rows) > MAX_APPLICATIONS:
        raise DataValidationError(f"{path}: more than {MAX_APPLICATIONS:,} applications")
    return [_record(sc, path, i, row) for i, row in enumerate(rows)]


def _screener(spec: AuditSpec) -> ScreenerSpec:
    if spec.screener is None:
        raise DataValidationError(f"{spec.source}: not a screener audit (no screener: section)")
    return spec.screener


def _read_csv(path: Path) -> list[dict[str, object]]:
    try:
        # numbers stay numbers (a structured field such as years of experience); "NA" or
        # "None" in a resume is text, so only empty cells are missing
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"{path}: cannot read as CSV: {exc}") from None
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict(orient="records")  # type: ignore[return-value]


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"{path}: cannot read as JSONL: {exc}") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataValidationError(f"{path}: line {n}: not JSON ({exc.msg})") from None
        if not isinstance(value, dict):
            raise DataValidationError(f"{path}: line {n}: expected a JSON object")
        rows.append(value)
    return rows


def _record(sc: ScreenerSpec, path: Path, i: int, row: dict[str, object]) -> Record:
    where = f"{path}: application {i + 1}"
    missing = [f for f in (sc.id_field, sc.name_field) if _blank(row.get(f))]
    if missing:
        raise DataValidationError(f"{where}: field {missing[0]!r} is missing or empty")
    absent = [f for f in (*sc.text_fields, *sc.structured_fields) if f not in row]
    if absent:
        raise DataValidationError(
            f"{where}: field {absent[0]!r} is not in the file (columns: {sorted(row)[:12]})"
        )
    record: Record = {sc.id_field: str(row[sc.id_field]), sc.name_field: str(row[sc.name_field])}
    for field in sc.text_fields:
        value = row[field]
        if _blank(value):
            record[field] = None
            continue
        if not isinstance(value, str):
            raise DataValidationError(f"{where}: text field {field!r} holds {value!r}")
        if len(value) > MAX_TEXT:
            raise DataValidationError(f"{where}: text field {field!r} is over {MAX_TEXT:,} chars")
        record[field] = value
    for field in sc.structured_fields:
        value = row[field]
        if isinstance(value, dict | list):
            raise DataValidationError(f"{where}: field {field!r} must be a plain value")
        record[field] = None if _blank(value) else value
    return record


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def check_unique_ids(spec: AuditSpec, records: list[Record]) -> None:
    """Every application id once (paired statistics resample applications by id)."""
    sc = _screener(spec)
    seen: set[object] = set()
    for i, r in enumerate(records):
        key = r[sc.id_field]
        if key in seen:
            raise DataValidationError(
                f"{applications_path(spec)}: application {i + 1}: id {key!r} repeats"
            )
        seen.add(key)
