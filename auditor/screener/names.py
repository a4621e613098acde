"""Public name-frequency tables: first names that signal sex, surnames (and some first names)
that signal race/ethnicity, with the share that makes each name a signal.

The shipped files (``data/``, see its README.md) are compact extracts of three public sources:
the Census Bureau's 2010 surname table, the Social Security Administration's first names by
sex (births 1960-1999) and Tzioumis (2018) first names by race/ethnicity. The loader is strict:
a file that does not look exactly as built is an error naming the file, row and column, never a
silently smaller table.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import DataValidationError

SEXES: tuple[str, ...] = ("Female", "Male")
# EEO-1 / LL144 labels the tables support; "Two or More Races" has no strongly associated
# names in either source and "Native Hawaiian or Other Pacific Islander" is not separated from
# "Asian" by the Census surname table, so neither is offered as a probe group
RACES: tuple[str, ...] = (
    "Hispanic or Latino",
    "White",
    "Black or African American",
    "Asian",
    "American Indian or Alaska Native",
)

DATA_DIR = Path(__file__).resolve().parent / "data"
SURNAMES_FILE = "surnames_census2010.csv"
FIRST_BY_SEX_FILE = "first_names_ssa.csv"
FIRST_BY_RACE_FILE = "first_names_tzioumis2018.csv"

ATTRIBUTION = (
    "Names: surnames and their race/ethnicity shares from the U.S. Census Bureau, Frequently "
    "Occurring Surnames from the 2010 Census (U.S. government work, public domain); first "
    "names and their sex shares from the U.S. Social Security Administration's national "
    "baby-name counts, births 1960-1999 (U.S. government work, public domain); first names "
    "and their race/ethnicity shares from K. Tzioumis, 'Data for: Demographic aspects of "
    "first names', Harvard Dataverse (2018), doi:10.7910/DVN/TYJKEZ. Sex is signalled by the "
    "first name, race/ethnicity by the surname (and by the first name where the Tzioumis "
    "table has strongly associated ones)."
)


@dataclass(frozen=True)
class NameEntry:
    """One name, the group it signals and how strongly (share of the group among its bearers)."""

    name: str
    group: str
    share: float
    count: int


@dataclass(frozen=True)
class NameTable:
    """Names per group, most frequent first, each at or above the table's share thresholds."""

    attribution: str
    surname_entries: tuple[NameEntry, ...]
    first_by_sex: tuple[NameEntry, ...]
    first_by_race: tuple[NameEntry, ...]
    min_surname_share: float = 0.9
    min_sex_share: float = 0.99
    min_first_name_race_share: float = 0.8

    def first_names(self, sex: str, race: str | None = None) -> tuple[str, ...]:
        """First names borne by ``sex`` at least ``min_sex_share`` of the time; with ``race``,
        only those also borne by ``race`` at least ``min_first_name_race_share`` of the time
        (can be short or empty: few first names are that strongly associated with a race)."""
        _check_label(sex, SEXES, "sex")
        names = [e.name for e in self.first_by_sex if e.group == sex]
        if race is None:
            return tuple(names)
        _check_label(race, RACES, "race")
        by_race = {e.name for e in self.first_by_race if e.group == race}
        return tuple(n for n in names if n in by_race)

    def surnames(self, race: str) -> tuple[str, ...]:
        """Surnames borne by ``race`` at least ``min_surname_share`` of the time."""
        _check_label(race, RACES, "race")
        return tuple(e.name for e in self.surname_entries if e.group == race)

    def share(self, name: str, group: str) -> float | None:
        """The published share of ``group`` among bearers of ``name`` (first or surname)."""
        for entry in (*self.surname_entries, *self.first_by_sex, *self.first_by_race):
            if entry.name == name and entry.group == group:
                return entry.share
        return None


def _check_label(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; the name tables support {', '.join(allowed)}")


def _read(
    path: Path, name_column: str, group_column: str, groups: tuple[str, ...]
) -> list[NameEntry]:
    """Rows of one shipped table, checked cell by cell."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise DataValidationError(
            f"name table {path} cannot be read ({exc}); reinstall auditor"
        ) from exc
    entries: list[NameEntry] = []
    with handle:
        reader = csv.DictReader(handle)
        expected = {name_column, group_column, "share", "count"}
        missing = expected - set(reader.fieldnames or ())
        if missing:
            raise DataValidationError(
                f"name table {path.name} lacks column(s) {', '.join(sorted(missing))}"
            )
        for line, row in enumerate(reader, start=2):
            where = f"name table {path.name}, row {line}"
            name, group = (row[name_column] or "").strip(), row[group_column]
            if not name or not name.replace("'", "").replace("-", "").isalpha():
                raise DataValidationError(f"{where}: {name_column} {name!r} is not a name")
            if group not in groups:
                raise DataValidationError(
                    f"{where}: {group_column} {group!r} is not one of {', '.join(groups)}"
                )
            try:
                share, count = float(row["share"]), int(row["count"])
            except (TypeError, ValueError) as exc:
                raise DataValidationError(f"{where}: share/count are not numbers") from exc
            if not 0.0 <= share <= 1.0 or count <= 0:
                raise DataValidationError(
                    f"{where}: share {share} must be in [0, 1] and count {count} positive"
                )
            entries.append(NameEntry(name, group, share, count))
    return entries


def _strongest(entries: list[NameEntry], min_share: float) -> tuple[NameEntry, ...]:
    """Entries at or above ``min_share``, most frequent first within each group."""
    kept = [e for e in entries if e.share >= min_share]
    return tuple(sorted(kept, key=lambda e: (e.group, -e.count, e.name)))


def load_name_table(
    *,
    min_surname_share: float = 0.9,
    min_sex_share: float = 0.99,
    min_first_name_race_share: float = 0.8,
    data_dir: Path = DATA_DIR,
) -> NameTable:
    """Read the shipped name tables; every supported group must keep at least one name.

    The defaults keep surnames whose bearers are >= 90% one race/ethnicity, first names
    whose bearers are >= 99% one sex, and first names whose bearers are >= 80% one
    race/ethnicity (the shipped files hold names down to 80% / 99% / 80%)."""
    surnames = _strongest(
        _read(data_dir / SURNAMES_FILE, "surname", "race_ethnicity", RACES), min_surname_share
    )
    by_sex = _strongest(
        _read(data_dir / FIRST_BY_SEX_FILE, "first_name", "sex", SEXES), min_sex_share
    )
    by_race = _strongest(
        _read(data_dir / FIRST_BY_RACE_FILE, "first_name", "race_ethnicity", RACES),
        min_first_name_race_share,
    )
    empty = [f"surnames for {r}" for r in RACES if not any(e.group == r for e in surnames)]
    empty += [f"first names for {s}" for s in SEXES if not any(e.group == s for e in by_sex)]
    if empty:
        raise DataValidationError(
            "the name tables keep no names at these thresholds", problems=empty
        )
    return NameTable(
        attribution=ATTRIBUTION,
        surname_entries=surnames,
        first_by_sex=by_sex,
        first_by_race=by_race,
        min_surname_share=min_surname_share,
        min_sex_share=min_sex_share,
        min_first_name_race_share=min_first_name_race_share,
    )
