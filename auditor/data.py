"""Load decision data (CSV or Parquet), join protected attributes and validate columns.

Every problem found is collected and reported at once, naming the file, column and rows.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from auditor.bands import band_values, continuous_problem
from auditor.batch import UNKNOWN, DecisionBatch
from auditor.errors import DataValidationError
from auditor.spec import MAX_STORED_NAME, AuditSpec

_MAX_ROWS_SHOWN = 5
MAX_GROUP_TEXT = MAX_STORED_NAME
"""Longest group name (one protected value, or an intersection's 'a & b'): what the audit
store keeps (``metrics.group``, a ``VARCHAR(200)`` on PostgreSQL); real labels are short."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # NUL, line breaks, tabs, escapes
_OPPOSITES = frozenset({"0", "0.0", "false", "no", "n", "denied", "rejected"})


def data_format(location: str, fmt: str | None = None) -> str:
    """How data at ``location`` is read: the spec's ``data.format``, else by its name.

    The one rule for every engine (issue 20): ``.parquet``/``.pq`` is Parquet, any other
    file suffix CSV; a name without a suffix (a folder of part files, a dataset URL) is
    Parquet, as Spark and other tools write them, unless it is a local file.
    """
    if fmt:
        return fmt
    from urllib.parse import urlparse

    from auditor.provenance import is_url

    remote = is_url(location)
    suffix = PurePosixPath(urlparse(location).path if remote else location).suffix.lower()
    if suffix in {".parquet", ".pq"}:
        return "parquet"
    if suffix:
        return "csv"
    return "csv" if not remote and Path(location).is_file() else "parquet"


def text_dtypes(text: Sequence[str]) -> dict[str, type[str]]:
    """``read_csv``'s ``dtype`` reading the columns ``text`` as written.

    An id such as ``00042`` or ``7.50`` is a name, not a number: inferred as one it loses
    its zeros (``42``), or every id gains ``.0`` once one is blank, and letters, recipients
    and protected-attribute files no longer match the decision. Parquet keeps its own types.
    """
    return dict.fromkeys(text, str)


def read_errors() -> tuple[type[Exception], ...]:
    """What reading a CSV or Parquet file raises for a bad file (not a bug): Arrow's own
    errors too (a nested column whose pandas metadata says text cannot be cast)."""
    import pyarrow as pa

    return (
        OSError,
        ValueError,
        pd.errors.ParserError,
        UnicodeDecodeError,
        csv.Error,
        pa.ArrowException,
    )


def header_names(path: Path, kind: str) -> list[str]:
    """The column names as the file's header writes them (repeats kept, which pandas
    would rename to ``name.1``): the Parquet schema, or a CSV file's first record."""
    if kind == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    with path.open(newline="", encoding="utf-8-sig") as fh:  # pandas drops a BOM too
        return next(csv.reader(fh), [])


def repeated_columns(names: Sequence[str], named: Iterable[str]) -> list[str]:
    """A problem for each column the spec names that the header holds more than once."""
    wanted = set(named)
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(names, start=1):
        if name in wanted:
            positions.setdefault(name, []).append(i)
    return [
        f"column '{name}' appears {len(where)} times in the header (columns "
        f"{', '.join(map(str, where[:-1]))} and {where[-1]}); keep one, or rename the "
        "others, so that it is clear which one the audit reads"
        for name, where in positions.items()
        if len(where) > 1
    ]


def not_a_data_file(path: Path) -> DataValidationError:
    """The error for a data path that is no regular file: missing, a folder or a device."""
    if path.is_dir():
        return DataValidationError(
            f"{path}: a folder, not a data file; name one CSV or Parquet file (a folder of "
            "part files is read by the Spark engine: engine: {kind: spark})."
        )
    if path.exists():
        return DataValidationError(
            f"{path}: not a regular file (a device, pipe or socket); name a CSV or Parquet file."
        )
    return DataValidationError(f"Data file not found: {path}")


def read_table(
    path: Path, fmt: str | None = None, *, text: Sequence[str] = (), named: Sequence[str] = ()
) -> pd.DataFrame:
    """Read a CSV or Parquet file, with a clear error if that fails; the CSV columns
    ``text`` (ids) are read as written (:func:`text_dtypes`), and a column of ``named``
    (those the spec names) that the header repeats is refused."""
    if not path.is_file():
        raise not_a_data_file(path)
    kind = data_format(str(path), fmt)
    try:
        repeated = repeated_columns(header_names(path, kind), named) if named else []
        if repeated:
            raise DataValidationError(
                f"{path}: the data do not match the spec.", problems=repeated
            )
        if kind == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, low_memory=False, dtype=text_dtypes(text))
    except read_errors() as exc:
        raise DataValidationError(f"{path}: cannot read as {kind.upper()}: {exc}") from None


def load_decisions(spec: AuditSpec) -> DecisionBatch:
    """Load and validate the data named by ``spec`` into a :class:`DecisionBatch`.

    Raises
    ------
    DataValidationError
        Listing every missing column, bad type, NaN and duplicate found.
    """
    path = spec.resolve(spec.data.path)
    frame = read_table(
        path, spec.data.format, text=[spec.columns.id], named=list(named_columns(spec))
    )
    return decisions_from_frame(spec, frame, path)


def decisions_from_frame(
    spec: AuditSpec, frame: pd.DataFrame, path: Path, *, part: bool = False
) -> DecisionBatch:
    """Validate an already-read frame (``path`` names it in errors) into a batch.

    The streaming engine passes the frame of the narrow columns only, with a spec whose
    ``columns.features`` is empty, and checks the feature columns chunk by chunk. With
    ``part`` the frame is one partition of the data (its index: the rows' positions in
    the whole, so errors name the right rows): the checks that need every row (repeated
    ids, the favourable value occurring, two outcomes at most, any rows at all) are left
    to the caller.
    """
    if not part:
        frame = frame.reset_index(drop=True)  # row numbers in errors are positions
    if spec.data.protected_path:
        frame = _join_protected(frame, spec, spec.resolve(spec.data.protected_path))
    problems = _check_columns(frame, spec)
    if problems:
        raise DataValidationError(f"{path}: the data do not match the spec.", problems=problems)
    cols = spec.columns
    missing_ids = _missing_ids(frame[cols.id], cols.id)
    problems += missing_ids
    ids = frame[cols.id].astype(str).to_numpy()
    if not missing_ids:  # (a missing id stays missing under pandas 3, 'nan' under 2)
        problems += _id_text_problems(ids, frame.index, cols.id)
    if not part and not missing_ids:  # missing ids would all "repeat" one text ('nan')
        problems += _check_ids(ids)
    protected, prot_problems = protected_frame(frame, spec)
    problems += prot_problems
    probabilities: dict[str, pd.DataFrame] = {}
    for attr, groups in spec.protected_probabilities.items():
        probs, prob_problems = _probability_frame(frame, attr, groups, spec.missing_protected)
        probabilities[attr] = probs
        problems += prob_problems
    features = frame[cols.features].copy() if cols.features else pd.DataFrame(index=frame.index)
    problems += check_features(features)
    strata = _strata(frame, spec.strata, problems)
    problems += _check_controls(frame, spec.controls, spec.cdd_by)
    outcomes = _outcomes(frame, cols.outcomes, problems)
    decisions = binary_column(frame, cols.decision, spec.favorable, problems, part)
    labels = binary_column(frame, cols.label, spec.favorable, problems, part)
    scores = score_column(frame, cols.score, problems)
    if decisions is None and scores is not None:
        decisions = (scores >= spec.threshold).astype(np.int8)
    if not len(frame) and not part:
        problems.append("the file has no rows")
    if problems:
        raise DataValidationError(f"{path}: the data do not match the spec.", problems=problems)
    features = features.reset_index(drop=True)
    protected = protected.reset_index(drop=True)
    geography = (
        frame[list(spec.geography)].astype("string").fillna(UNKNOWN).astype(str)
        .reset_index(drop=True)
        if spec.geography
        else None
    )
    controls = frame[list(spec.controls)].reset_index(drop=True) if spec.controls else None
    return DecisionBatch(
        ids,
        features,
        protected,
        decisions,
        scores,
        labels,
        probabilities,
        strata,
        geography,
        controls,
        outcomes,
    )


def _join_protected(frame: pd.DataFrame, spec: AuditSpec, path: Path) -> pd.DataFrame:
    key = spec.columns.id
    extra = read_table(path, text=[key], named=[key, *spec.protected, *_probability_columns(spec)])
    wanted = [*spec.protected, *_probability_columns(spec)]
    missing = [c for c in [key, *wanted] if c not in extra.columns]
    if missing:
        raise DataValidationError(
            f"{path}: protected-attribute file lacks column(s) {', '.join(missing)}"
        )
    if key not in frame.columns:
        raise DataValidationError(f"{spec.resolve(spec.data.path)}: no id column '{key}'")
    dup = extra[key].duplicated()
    if dup.any():
        raise DataValidationError(
            f"{path}: id column '{key}' repeats ids, e.g. {extra[key][dup].head(3).tolist()}"
        )
    overlap = [c for c in wanted if c in frame.columns]
    left = frame.drop(columns=overlap).astype({key: str})
    right = extra[[key, *wanted]].astype({key: str})
    # ids without a row in the protected file get unknown attributes, and are counted
    # many_to_one: ids repeated in the data file are reported with the other problems
    return left.merge(right, on=key, how="left", validate="many_to_one")


def _check_columns(frame: pd.DataFrame, spec: AuditSpec) -> list[str]:
    present = set(frame.columns)
    return [
        f"column '{name}' (named in {where}) is missing; the file has: "
        f"{_preview(list(frame.columns), 12)}"
        for name, where in named_columns(spec).items()
        if name not in present
    ]


def named_columns(spec: AuditSpec) -> dict[str, str]:
    """The data columns the spec names, each with the key that names it."""
    cols = spec.columns
    wanted: dict[str, str] = {cols.id: "columns.id"}
    for role in ("decision", "score", "label"):
        name = getattr(cols, role)
        if name is not None:
            wanted[name] = f"columns.{role}"
    for feat in cols.features:
        wanted[feat] = "columns.features"
    for attr in spec.protected:
        wanted[attr] = "protected"
    for column in spec.strata:
        wanted.setdefault(column, "strata")
    for column in spec.geography:
        wanted.setdefault(column, "geography")
    for column in spec.controls:
        wanted.setdefault(column, "controls")
    for column in cols.outcomes:
        wanted.setdefault(column, "columns.outcomes")
    for attr, groups in spec.protected_probabilities.items():
        for group, column in groups.items():
            wanted[column] = f"protected_probabilities.{attr}.{group}"
    return wanted


def _missing_ids(col: pd.Series, name: str) -> list[str]:
    """A problem naming the rows without an id (blank or missing): such a decision can be
    neither told apart nor given a letter."""
    missing = col.isna() | (col.astype("string").str.strip() == "").fillna(False)
    if not missing.any():
        return []
    return [
        f"column '{name}' (columns.id): {int(missing.sum())} missing id(s) at row(s) "
        f"{_rows(missing)}; every decision needs its own id"
    ]


def _id_text_problems(ids: np.ndarray, index: pd.Index, name: str) -> list[str]:
    """Ids the store cannot keep with a letter (``decisions.decision_id``, as long as a
    group name; PostgreSQL refuses NUL), named by row before the audit runs. One scan of
    all ids joined, so a million ids cost milliseconds when none is bad."""
    values = ids.tolist()
    control = bool(_CONTROL.search(" ".join(values)))
    long = max(map(len, values), default=0) > MAX_GROUP_TEXT
    problems = []
    what = f"column '{name}' (columns.id)"
    if control:
        mask = pd.Series([bool(_CONTROL.search(v)) for v in values], index=index)
        problems.append(f"{what}: control characters in id(s) at row(s) {_rows(mask)}")
    if long:
        mask = pd.Series([len(v) > MAX_GROUP_TEXT for v in values], index=index)
        problems.append(
            f"{what}: id(s) longer than {MAX_GROUP_TEXT} characters at row(s) {_rows(mask)}; "
            "the audit store keeps ids of up to that length"
        )
    return problems


def _check_ids(ids: np.ndarray) -> list[str]:
    s = pd.Series(ids)
    dup = s[s.duplicated()]
    if dup.empty:
        return []
    return [f"id column repeats {dup.nunique()} id(s), e.g. {_preview(dup.unique().tolist())}"]


def protected_frame(frame: pd.DataFrame, spec: AuditSpec) -> tuple[pd.DataFrame, list[str]]:
    """The normalised hard protected attributes of ``frame`` (missing: unknown, bands
    applied), and the problems found; per partition in the engines."""
    problems: list[str] = []
    out = {}
    for attr in spec.protected:
        col = frame[attr]
        bands = spec.protected_bands.get(attr)
        if bands is not None:
            col, not_numbers = band_values(col, bands)
            if not_numbers.any():
                problems.append(
                    f"column '{attr}' (banded in the spec): values that are not numbers at "
                    f"row(s) {_rows(not_numbers)}"
                )
        else:
            continuous = continuous_problem(attr, col)
            if continuous:
                problems.append(continuous)
        missing = col.isna() | (col.astype(str).str.strip() == "")
        if missing.any() and spec.missing_protected == "error":
            problems.append(
                f"column '{attr}': {int(missing.sum())} missing value(s) at row(s) "
                f"{_rows(missing)} (set missing_protected: unknown to count them as unknown)"
            )
        values = col.astype("string").str.strip()
        role = spec.protected_roles.get(attr)
        if role is not None and role.values:
            # the law's categories (EEO-1 / LL144), e.g. M -> Male; others kept as written
            values = values.map(lambda v, m=role.values: m.get(v, v) if isinstance(v, str) else v)
        out[attr] = values.where(~missing, UNKNOWN).astype(object).astype(str)
        problems += _name_problems(out[attr], f"column '{attr}'")
    frame_out = pd.DataFrame(out)
    for combo in spec.intersections:
        problems += _intersection_problems(frame_out, combo, spec.protected_probabilities)
    return frame_out, problems


def _name_problems(names: pd.Series, what: str) -> list[str]:
    """Group names that reports and the store cannot keep as they are: control
    characters (PostgreSQL refuses NUL; a line break splits a table row) or longer than
    :data:`MAX_GROUP_TEXT`. Checked once per distinct value, so a million rows cost as
    many values as there are groups."""
    distinct = pd.unique(names.to_numpy(dtype=object))
    control = [v for v in distinct if _CONTROL.search(v)]
    long = [v for v in distinct if len(v) > MAX_GROUP_TEXT]
    problems = []
    if control:
        problems.append(
            f"{what}: control characters (a NUL, line break or tab) in group names at "
            f"row(s) {_rows(names.isin(control))}; a group name is one line of text"
        )
    if long:
        problems.append(
            f"{what}: group names longer than {MAX_GROUP_TEXT} characters at row(s) "
            f"{_rows(names.isin(long))}; map them to short labels (protected: [{{column: "
            "..., values: {long: short}}]) or fix the column"
        )
    return problems


def _intersection_problems(
    names: pd.DataFrame, combo: Sequence[str], probabilistic: dict[str, dict[str, str]]
) -> list[str]:
    """An intersection whose names ('a & b', as the metrics name them) are too long."""
    width = np.full(len(names), 3 * (len(combo) - 1), dtype=np.int64)
    known = np.ones(len(names), dtype=bool)
    for attr in combo:
        if attr not in names:  # a probabilistic attribute: any of its groups (the spec's)
            width += max((len(g) for g in probabilistic.get(attr, {})), default=0)
            continue
        codes, distinct = pd.factorize(names[attr])  # lengths per distinct value
        width += np.array([len(str(v)) for v in distinct], dtype=np.int64)[codes]
        known &= names[attr].to_numpy() != UNKNOWN  # an unknown part names it 'unknown'
    too_long = pd.Series(known & (width > MAX_GROUP_TEXT), index=names.index)
    if not too_long.any():
        return []
    return [
        f"intersection {' & '.join(combo)}: group names longer than {MAX_GROUP_TEXT} "
        f"characters at row(s) {_rows(too_long)}; shorten the values of {', '.join(combo)}"
    ]


def _probability_columns(spec: AuditSpec) -> list[str]:
    return [c for groups in spec.protected_probabilities.values() for c in groups.values()]


# BISG tables are rounded; rows further than this from summing to 1 are a data error
_SUM_TOLERANCE = 0.01


def _probability_frame(
    frame: pd.DataFrame, attr: str, groups: dict[str, str], on_missing: str
) -> tuple[pd.DataFrame, list[str]]:
    """Membership probabilities of one attribute: one column per group.

    Rows with every probability missing are unknown (all NaN in the result); a row with
    only some missing, a value outside [0, 1] or a sum away from 1 is an error.
    """
    problems: list[str] = []
    values = {}
    for group, column in groups.items():
        numeric = pd.to_numeric(frame[column], errors="coerce")
        bad_text = numeric.isna() & frame[column].notna()
        if bad_text.any():
            problems.append(
                f"column '{column}' ({attr}={group}): non-numeric probabilities at row(s) "
                f"{_rows(bad_text)}"
            )
        outside = (numeric < 0) | (numeric > 1)
        if outside.any():
            problems.append(
                f"column '{column}' ({attr}={group}): probabilities outside [0, 1] at row(s) "
                f"{_rows(outside)}"
            )
        values[group] = numeric.astype(np.float64)
    probs = pd.DataFrame(values)
    missing = probs.isna()
    none = missing.all(axis=1)
    partial = missing.any(axis=1) & ~none
    if partial.any():
        problems.append(
            f"protected_probabilities.{attr}: some but not all probabilities missing at row(s) "
            f"{_rows(partial)}"
        )
    if none.any() and on_missing == "error":
        problems.append(
            f"protected_probabilities.{attr}: {int(none.sum())} row(s) without probabilities "
            f"at row(s) {_rows(none)} (set missing_protected: unknown to count them as unknown)"
        )
    sums = probs.sum(axis=1, min_count=1)
    off = ~none & ~partial & ((sums - 1.0).abs() > _SUM_TOLERANCE)
    if off.any():
        problems.append(
            f"protected_probabilities.{attr}: probabilities do not sum to 1 (±{_SUM_TOLERANCE}) "
            f"at row(s) {_rows(off)}; list every group of the attribute"
        )
    return probs, problems


def check_features(features: pd.DataFrame) -> list[str]:
    """Problems of the feature columns (non-finite values, unusable types), naming rows by
    the frame's index (global positions in the chunked engines)."""
    problems = []
    for name in features.columns:
        col = features[name]
        if pd.api.types.is_bool_dtype(col):
            continue
        if pd.api.types.is_numeric_dtype(col):
            # NaN is a missing value (handled per model); ±inf is no value any model means
            problems += _infinite(col, f"column '{name}'")
            continue
        if isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(col):
            continue
        # pandas 2 reads a text column with blanks as object dtype holding str and NaN,
        # which is_string_dtype rejects (pandas 3 gives its str dtype): text all the same
        if col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) in (
            "string",
            "empty",
        ):
            continue
        problems.append(f"column '{name}': unsupported type {col.dtype} for a model feature")
    return problems


# a categorical control becomes one regression column per level: beyond this the fit is
# slow and the adjusted odds ratios unstable (a numeric column read as text lands here)
MAX_CONTROL_LEVELS = 100


def _check_controls(frame: pd.DataFrame, columns: list[str], cdd_by: str | None) -> list[str]:
    """Controls: numeric without ±inf, or categorical with a bounded number of levels.

    ``cdd_by``'s values are strata, so it is held to the level bound even when numeric.
    Missing values are allowed: the controls analysis leaves those rows out and counts them.
    """
    problems: list[str] = []
    for name in columns:
        col = frame[name]
        what = f"column '{name}' (named in controls)"
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        if numeric:
            problems += _infinite(col, what)
        if numeric and name != cdd_by:
            continue
        levels = col.dropna().astype(str).nunique()
        if levels > MAX_CONTROL_LEVELS:
            problems.append(
                f"{what}: {levels} distinct values, more than {MAX_CONTROL_LEVELS} for a "
                + (
                    "cdd_by stratum column; stratify by a categorical control such as loan "
                    "product, or band the values"
                    if name == cdd_by
                    else "categorical control; give a numeric column, or band the values"
                )
            )
    return problems


def binary_column(
    frame: pd.DataFrame, name: str | None, favorable: object, problems: list[str], part: bool
) -> np.ndarray | None:
    """Map a decision/label column to 1 (favourable) / 0, rejecting NaN."""
    if name is None:
        return None
    col = frame[name]
    bad = col.isna()
    if bad.any():
        problems.append(
            f"column '{name}': {int(bad.sum())} missing value(s) at row(s) {_rows(bad)}"
        )
        return None
    numeric = pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)
    infinite = _infinite(col, f"column '{name}'") if numeric else []
    if infinite:
        problems += infinite
        return None
    values = set(col.unique().tolist())
    found = [] if part else outcome_problems(name, values, favorable, col)
    if found:
        problems += found
        return None
    if numeric and isinstance(favorable, bool | int | float):
        # by value: 1 matches 1.0 and True (as text "1" would match neither)
        return np.asarray(col.to_numpy() == favorable, dtype=np.int8)
    return (col.astype(str) == str(favorable)).to_numpy().astype(np.int8)


def outcome_problems(
    name: str, values: set[object], favorable: object, column: pd.Series | None = None
) -> list[str]:
    """The favourable value must occur, and at most two outcomes (over all rows).

    With the ``column`` itself, a third value is also named by its rows: the values
    other than the favourable one and the most common other are the stray ones.
    """
    if favorable not in values and str(favorable) not in {str(v) for v in values}:
        return [
            f"column '{name}': the favourable value {favorable!r} never occurs; values seen: "
            f"{_preview(sorted(map(str, values)))}"
        ]
    if len(values) > 2:
        where = "" if column is None else _stray_rows(column, favorable)
        return [
            f"column '{name}': expected two outcomes, found {len(values)}: "
            f"{_preview(sorted(map(str, values)))}{where}"
        ]
    return []


def _stray_rows(column: pd.Series, favorable: object) -> str:
    """'; unexpected ... at row(s) ...' for the values beyond the two outcomes."""
    text = column.astype(str)
    counts = text.value_counts()
    others = [v for v in counts.index if v != str(favorable)]
    # the unfavourable outcome: a conventional opposite of the favourable value when one
    # occurs (0 for 1, False for True), else the most common other value
    usual = [v for v in others if v.strip().lower() in _OPPOSITES]
    if not others:  # values that differ only by type (1 and "1"): no row stands out
        return ""
    unfavourable = usual[0] if usual else others[0]
    stray = [v for v in others if v != unfavourable]
    if not stray:
        return ""
    mask = text.isin(stray)
    shown = ", ".join(repr(v) for v in stray[:_MAX_ROWS_SHOWN])
    return f"; unexpected value(s) {shown} at row(s) {_rows(mask)}"


def _infinite(col: pd.Series, what: str) -> list[str]:
    """A problem naming the rows of ±inf in a numeric column (none when there are none)."""
    values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    mask = np.isinf(values)
    if not mask.any():
        return []
    return [
        f"{what}: {int(mask.sum())} infinite value(s) (inf or -inf) at row(s) "
        f"{_rows(pd.Series(mask, index=col.index))}"
    ]


def _strata(frame: pd.DataFrame, columns: list[str], problems: list[str]) -> np.ndarray | None:
    """One segment label per row (several columns joined with ' | '); NaN is an error."""
    if not columns:
        return None
    parts = []
    for name in columns:
        col = frame[name]
        bad = col.isna()
        if bad.any():
            problems.append(
                f"column '{name}' (named in strata): {int(bad.sum())} missing value(s) at "
                f"row(s) {_rows(bad)}"
            )
        parts.append(col.astype(str))
    label = parts[0]
    for part in parts[1:]:
        label = label + " | " + part
    return label.to_numpy(dtype=object)


def _outcomes(
    frame: pd.DataFrame, columns: list[str], problems: list[str]
) -> pd.DataFrame | None:
    """Continuous outcomes as floats; missing values allowed (left out and counted)."""
    if not columns:
        return None
    out = {}
    for name in columns:
        col = frame[name]
        what = f"column '{name}' (named in columns.outcomes)"
        values = pd.to_numeric(col, errors="coerce")
        text = values.isna() & col.notna()
        if text.any():
            problems.append(
                f"{what}: not numeric ({int(text.sum())} non-numeric value(s) at row(s) "
                f"{_rows(text)}); an outcome such as APR or credit limit is a number"
            )
            continue
        problems += _infinite(values, what)
        out[name] = values.to_numpy(dtype=np.float64)
    return pd.DataFrame(out, columns=list(out))


def score_column(frame: pd.DataFrame, name: str | None, problems: list[str]) -> np.ndarray | None:
    """The score column as float64 (None when the spec names none); problems appended."""
    if name is None:
        return None
    col = pd.to_numeric(frame[name], errors="coerce")
    bad = col.isna()
    if bad.any():
        problems.append(
            f"column '{name}': {int(bad.sum())} missing or non-numeric score(s) at row(s) "
            f"{_rows(bad)}"
        )
        return None
    infinite = _infinite(col, f"column '{name}'")
    if infinite:
        problems += infinite  # SMD and score metrics would turn into None silently
        return None
    return col.to_numpy(dtype=np.float64)


def _rows(mask: pd.Series) -> str:
    """1-based data row numbers (header is line 1, so row r is on line r+1 of a CSV)."""
    # positions from the index: a partition's frame carries its rows' global positions
    idx = mask.index.to_numpy()[mask.to_numpy()] + 1
    return _preview(idx.tolist())


def _preview(items: Sequence[object], limit: int = _MAX_ROWS_SHOWN) -> str:
    shown = ", ".join(str(x) for x in items[:limit])
    return shown + (f" … ({len(items)} in all)" if len(items) > limit else "")


# the names the engines imported before they were public (issue 20: no private
# imports); kept for outside callers of the old names
_protected_frame = protected_frame
_check_features = check_features
_binary = binary_column
_scores = score_column
