"""Loading decision data: every problem names the file, the column and the rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from auditor.batch import UNKNOWN
from auditor.data import load_decisions
from auditor.errors import DataValidationError
from auditor.spec import AuditSpec, load_spec


def frame(**changes: Any) -> pd.DataFrame:
    """Eight decisions with a label, a score, two features and two protected attributes."""
    data: dict[str, Any] = {
        "id": [f"A{i}" for i in range(1, 9)],
        "approved": [1, 0, 1, 1, 0, 1, 0, 1],
        "good": [1, 0, 1, 0, 0, 1, 1, 1],
        "score": [0.9, 0.2, 0.8, 0.7, 0.1, 0.6, 0.4, 0.95],
        "income": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0],
        "region": ["n", "s", "n", "s", "n", "s", "n", "s"],
        "sex": ["f", "m", "f", "m", "f", "m", "f", "m"],
        "age_band": ["young", "old", "old", "young", "old", "young", "old", "young"],
    }
    data.update(changes)
    return pd.DataFrame(data)


def spec_for(path: Path, **changes: Any) -> AuditSpec:
    spec: dict[str, Any] = {
        "name": "data-test",
        "domain": "credit",
        "data": {"path": str(path)},
        "columns": {
            "id": "id",
            "decision": "approved",
            "label": "good",
            "score": "score",
            "features": ["income", "region"],
        },
        "protected": ["sex", "age_band"],
    }
    spec.update(changes)
    return load_spec(spec)


def write_csv(tmp_path: Path, df: pd.DataFrame, name: str = "decisions.csv") -> Path:
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def problems(exc: pytest.ExceptionInfo[DataValidationError]) -> list[str]:
    return list(exc.value.problems)


def test_valid_file_loads(tmp_path: Path) -> None:
    batch = load_decisions(spec_for(write_csv(tmp_path, frame())))
    assert len(batch) == 8
    assert batch.ids.tolist() == [f"A{i}" for i in range(1, 9)]
    assert batch.decisions is not None
    assert batch.decisions.tolist() == [1, 0, 1, 1, 0, 1, 0, 1]
    assert batch.labels is not None
    assert batch.labels.tolist() == [1, 0, 1, 0, 0, 1, 1, 1]
    assert batch.scores is not None
    assert batch.scores[0] == pytest.approx(0.9)
    assert list(batch.features.columns) == ["income", "region"]
    assert list(batch.protected.columns) == ["sex", "age_band"]
    assert "sex" not in batch.features.columns  # protected attributes stay apart


def test_missing_columns_are_named_with_the_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path, frame().drop(columns=["income", "age_band"]))
    with pytest.raises(DataValidationError) as exc:
        load_decisions(spec_for(path))
    assert str(path) in str(exc.value)
    found = problems(exc)
    assert len(found) == 2
    assert found[0].startswith("column 'income' (named in columns.features) is missing")
    assert found[1].startswith("column 'age_band' (named in protected) is missing")
    assert "the file has: id, approved" in found[0]


def test_missing_data_file(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"Data file not found: .*absent\.csv"):
        load_decisions(spec_for(tmp_path / "absent.csv"))


def test_nan_in_decision_and_label_names_column_and_rows(tmp_path: Path) -> None:
    df = frame(
        approved=[1, np.nan, 1, 1, 0, np.nan, 0, 1],
        good=[1, 0, 1, 0, 0, 1, 1, np.nan],
    )
    with pytest.raises(DataValidationError) as exc:
        load_decisions(spec_for(write_csv(tmp_path, df)))
    assert problems(exc) == [
        "column 'approved': 2 missing value(s) at row(s) 2, 6",
        "column 'good': 1 missing value(s) at row(s) 8",
    ]


def test_missing_protected_values_become_unknown_and_are_counted(tmp_path: Path) -> None:
    df = frame(sex=["f", None, "f", "  ", "f", "m", "f", "m"])
    batch = load_decisions(spec_for(write_csv(tmp_path, df)))
    assert len(batch) == 8  # nothing dropped
    assert batch.protected["sex"].tolist() == ["f", UNKNOWN, "f", UNKNOWN, "f", "m", "f", "m"]
    assert batch.protected["sex"].value_counts()[UNKNOWN] == 2
    # an intersection with an unknown part is unknown as a whole
    inter = batch.group_labels(["sex", "age_band"])
    assert inter.tolist()[:4] == ["f & young", UNKNOWN, "f & old", UNKNOWN]


def test_missing_protected_values_with_error_policy(tmp_path: Path) -> None:
    df = frame(sex=["f", None, "f", "  ", "f", "m", "f", "m"])
    path = write_csv(tmp_path, df)
    with pytest.raises(DataValidationError) as exc:
        load_decisions(spec_for(path, missing_protected="error"))
    (problem,) = problems(exc)
    assert problem.startswith("column 'sex': 2 missing value(s) at row(s) 2, 4")
    assert str(path) in str(exc.value)


def test_duplicate_ids(tmp_path: Path) -> None:
    df = frame(id=["A1", "A2", "A1", "A4", "A2", "A6", "A7", "A2"])
    with pytest.raises(DataValidationError) as exc:
        load_decisions(spec_for(write_csv(tmp_path, df)))
    (problem,) = problems(exc)
    assert problem == "id column repeats 2 id(s), e.g. A1, A2"


def protected_split(tmp_path: Path, df: pd.DataFrame) -> tuple[Path, Path]:
    """Decisions without protected attributes, and a second file with them (shuffled)."""
    data = write_csv(tmp_path, df.drop(columns=["sex", "age_band"]))
    prot = df[["id", "sex", "age_band"]].sample(frac=1.0, random_state=1)
    return data, write_csv(tmp_path, prot, "protected.csv")


def test_protected_attributes_joined_by_id(tmp_path: Path) -> None:
    df = frame()
    data, prot = protected_split(tmp_path, df)
    # drop two ids from the protected file: they become unknown, and are still counted
    kept = pd.read_csv(prot)
    kept = kept[~kept["id"].isin(["A3", "A8"])]
    kept.to_csv(prot, index=False)
    spec = spec_for(data, data={"path": str(data), "protected_path": str(prot)})
    batch = load_decisions(spec)
    assert batch.ids.tolist() == df["id"].tolist()  # the data file's order is kept
    expected_sex = df["sex"].tolist()
    expected_sex[2] = expected_sex[7] = UNKNOWN
    assert batch.protected["sex"].tolist() == expected_sex
    assert batch.protected["age_band"].tolist()[2] == UNKNOWN


def test_protected_file_lacking_a_column(tmp_path: Path) -> None:
    data, prot = protected_split(tmp_path, frame())
    pd.read_csv(prot).drop(columns=["age_band"]).to_csv(prot, index=False)
    spec = spec_for(data, data={"path": str(data), "protected_path": str(prot)})
    with pytest.raises(DataValidationError, match=r"protected\.csv: .*lacks column\(s\) age_band"):
        load_decisions(spec)


def test_duplicate_ids_with_a_protected_file_are_reported_not_a_crash(tmp_path: Path) -> None:
    df = frame(id=["A1", "A2", "A3", "A4", "A5", "A6", "A7", "A7"])
    data, prot = protected_split(tmp_path, df.iloc[:7])
    write_csv(tmp_path, df.drop(columns=["sex", "age_band"]))  # data file with A7 twice
    spec = spec_for(data, data={"path": str(data), "protected_path": str(prot)})
    with pytest.raises(DataValidationError) as exc:
        load_decisions(spec)
    assert problems(exc) == ["id column repeats 1 id(s), e.g. A7"]


def test_parquet_input(tmp_path: Path) -> None:
    df = frame()
    path = tmp_path / "decisions.parquet"
    df.to_parquet(path)
    batch = load_decisions(spec_for(path))
    assert batch.decisions is not None
    assert batch.decisions.tolist() == df["approved"].tolist()
    assert batch.protected["age_band"].tolist() == df["age_band"].tolist()
    # the format can also be forced for a file without the suffix
    odd = tmp_path / "decisions.data"
    df.to_parquet(odd)
    forced = load_decisions(spec_for(odd, data={"path": str(odd), "format": "parquet"}))
    assert forced.ids.tolist() == df["id"].tolist()


def test_unreadable_parquet_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataValidationError, match=r"broken\.parquet: cannot read as PARQUET"):
        load_decisions(spec_for(path))


def test_favourable_value_that_never_occurs(tmp_path: Path) -> None:
    df = frame(approved=["yes", "no"] * 4, good=["yes", "no"] * 4)
    with pytest.raises(DataValidationError) as exc:
        load_decisions(spec_for(write_csv(tmp_path, df), favorable="approved"))
    assert problems(exc) == [
        "column 'approved': the favourable value 'approved' never occurs; values seen: no, yes",
        "column 'good': the favourable value 'approved' never occurs; values seen: no, yes",
    ]
    batch = load_decisions(spec_for(write_csv(tmp_path, df), favorable="yes"))
    assert batch.decisions is not None
    assert batch.decisions.tolist() == [1, 0] * 4


def test_more_than_two_outcomes(tmp_path: Path) -> None:
    df = frame(approved=[1, 0, 2, 1, 0, 1, 0, 1])
    with pytest.raises(DataValidationError) as exc:
        load_decisions(spec_for(write_csv(tmp_path, df)))
    # the stray value is named by its row (issue 16: a bad value at row 999,990 of a million)
    assert problems(exc) == [
        "column 'approved': expected two outcomes, found 3: 0, 1, 2; "
        "unexpected value(s) '2' at row(s) 3"
    ]


@pytest.mark.parametrize(
    ("values", "favorable"),
    [
        ([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0], 1),  # floats in the file, int in the spec
        ([True, False, True, True, False, True, False, True], 1),
        ([1, 0, 1, 1, 0, 1, 0, 1], True),
    ],
)
def test_favourable_value_matches_by_value(
    tmp_path: Path, values: list[object], favorable: object
) -> None:
    df = frame(approved=values)
    path = tmp_path / "decisions.parquet"
    df.to_parquet(path)  # keeps the float / bool dtype exactly
    batch = load_decisions(spec_for(path, favorable=favorable))
    assert batch.decisions is not None
    assert batch.decisions.tolist() == [1, 0, 1, 1, 0, 1, 0, 1]


def test_non_numeric_score_names_column_and_rows(tmp_path: Path) -> None:
    df = frame(score=["0.9", "high", "0.8", "0.7", "", "0.6", "0.4", "n/a"])
    with pytest.raises(DataValidationError) as exc:
        load_decisions(spec_for(write_csv(tmp_path, df)))
    assert problems(exc) == [
        "column 'score': 3 missing or non-numeric score(s) at row(s) 2, 5, 8",
    ]


def test_decisions_from_scores_and_threshold(tmp_path: Path) -> None:
    path = write_csv(tmp_path, frame())
    spec = spec_for(
        path,
        columns={"id": "id", "score": "score"},
        threshold=0.65,
    )
    batch = load_decisions(spec)
    assert batch.decisions is not None
    assert batch.decisions.tolist() == [1, 0, 1, 1, 0, 0, 0, 1]


def test_all_problems_at_once(tmp_path: Path) -> None:
    df = frame(
        id=["A1", "A1", "A3", "A4", "A5", "A6", "A7", "A8"],
        approved=[1, np.nan, 1, 1, 0, 1, 0, 1],
        score=["x", "0.2", "0.8", "0.7", "0.1", "0.6", "0.4", "0.95"],
    )
    with pytest.raises(DataValidationError) as exc:
        load_decisions(spec_for(write_csv(tmp_path, df)))
    found = problems(exc)
    assert len(found) == 3
    assert found[0].startswith("id column repeats")
    assert found[1].startswith("column 'approved'")
    assert found[2].startswith("column 'score'")


def test_empty_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path, frame().iloc[:0])
    with pytest.raises(DataValidationError) as exc:
        load_decisions(spec_for(path, columns={"id": "id", "score": "score"}))
    assert "the file has no rows" in problems(exc)


# ids that look like numbers: "00042" is an applicant's id, not the number 42; read as a
# number it lost its zeros ("42"), or gained ".0" in every row when one id was blank, and
# letters and recipients files no longer matched the customer's record
NUMERIC_LOOKING_IDS = {
    "zero-padded": ["00041", "00042", "00043", "00044", "00045", "00046", "00047", "00048"],
    "decimal-looking": ["7.50", "7.5", "1e3", "1000", "12", "12.0", "-0", "0"],
}


@pytest.mark.parametrize("case", sorted(NUMERIC_LOOKING_IDS))
def test_ids_that_look_like_numbers_are_kept_as_written(case: str, tmp_path: Path) -> None:
    from auditor.engine.local import LocalSource

    ids = NUMERIC_LOOKING_IDS[case]
    df = frame(id=ids)
    path = write_csv(tmp_path, df)
    assert load_decisions(spec_for(path)).ids.tolist() == ids
    streamed = spec_for(path, engine={"chunk_rows": 3})
    assert LocalSource(streamed).batch(streamed).ids.tolist() == ids
    # the protected file is joined by the same text
    data, prot = protected_split(tmp_path, df)
    joined = spec_for(data, data={"path": str(data), "protected_path": str(prot)})
    batch = load_decisions(joined)
    assert batch.ids.tolist() == ids
    assert batch.protected["sex"].tolist() == df["sex"].tolist()


def test_a_missing_id_names_its_rows(tmp_path: Path) -> None:
    ids: list[Any] = [f"{i:05d}" for i in range(1, 9)]
    ids[2] = ids[6] = None
    with pytest.raises(DataValidationError) as exc:
        load_decisions(spec_for(write_csv(tmp_path, frame(id=ids))))
    (problem,) = problems(exc)
    assert problem.startswith("column 'id' (columns.id): 2 missing id(s) at row(s) 3, 7")
