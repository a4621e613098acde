"""The shipped name tables: real counts and shares, strict loading, thresholds applied."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from auditor.errors import DataValidationError
from auditor.screener.names import (
    DATA_DIR,
    FIRST_BY_SEX_FILE,
    RACES,
    SEXES,
    SURNAMES_FILE,
    load_name_table,
)


def test_every_group_has_names_at_the_default_thresholds() -> None:
    table = load_name_table()
    for sex in SEXES:
        assert len(table.first_names(sex)) >= 100
    for race in RACES:
        assert len(table.surnames(race)) >= 50
    assert "Census" in table.attribution
    assert "Social Security" in table.attribution


def test_names_meet_their_thresholds_and_groups_do_not_overlap() -> None:
    table = load_name_table()
    assert all(e.share >= 0.9 for e in table.surname_entries)
    assert all(e.share >= 0.99 for e in table.first_by_sex)
    female, male = set(table.first_names("Female")), set(table.first_names("Male"))
    assert not female & male
    surnames = [set(table.surnames(r)) for r in RACES]
    assert sum(len(s) for s in surnames) == len(set().union(*surnames))
    # most frequent first: Garcia (rank 6 in 2010) heads the Hispanic surnames
    assert table.surnames("Hispanic or Latino")[0] == "Garcia"
    assert table.share("Garcia", "Hispanic or Latino") == pytest.approx(0.92, abs=0.01)


def test_stricter_thresholds_keep_fewer_names() -> None:
    loose = load_name_table(min_surname_share=0.8)
    strict = load_name_table(min_surname_share=0.95)
    race = "Black or African American"
    assert len(strict.surnames(race)) < len(load_name_table().surnames(race))
    assert len(load_name_table().surnames(race)) < len(loose.surnames(race))
    assert "Washington" in loose.surnames(race)  # 87% Black in 2010: below the 90% default
    assert "Washington" not in load_name_table().surnames(race)


def test_first_names_by_sex_and_race() -> None:
    table = load_name_table()
    hispanic_men = table.first_names("Male", "Hispanic or Latino")
    assert "Jose" in hispanic_men
    assert set(hispanic_men) <= set(table.first_names("Male"))
    with pytest.raises(ValueError, match="unknown race"):
        table.surnames("Martian")


def test_a_damaged_table_names_file_row_and_column(tmp_path: Path) -> None:
    for name in (SURNAMES_FILE, FIRST_BY_SEX_FILE, "first_names_tzioumis2018.csv"):
        shutil.copy(DATA_DIR / name, tmp_path / name)
    path = tmp_path / SURNAMES_FILE
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace("Hispanic or Latino", "Hispanic")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataValidationError, match=r"surnames_census2010.csv, row 4"):
        load_name_table(data_dir=tmp_path)
    (tmp_path / FIRST_BY_SEX_FILE).write_text("first_name,sex\nAnna,Female\n")
    shutil.copy(DATA_DIR / SURNAMES_FILE, path)
    with pytest.raises(DataValidationError, match="lacks column"):
        load_name_table(data_dir=tmp_path)
    with pytest.raises(DataValidationError, match="keep no names"):
        load_name_table(min_surname_share=1.01)


def test_shipped_tables_stay_compact() -> None:
    assert sum(p.stat().st_size for p in DATA_DIR.iterdir()) < 300_000
