"""Paired variants of each application that differ in one signal only (issue 23).

A probe takes an application record and returns its variants, each labelled with the
group its signal stands for. Within one application every variant is the same text
except for the signal, so the difference in the screener's output between two variants
is that signal's effect on this application (the paired design of audit studies,
Bertrand & Mullainathan 2004):

- ``name``: the name field (and every occurrence of the original name, and of its first
  and last word, in the text fields) replaced by a first + last name associated with one
  sex × race/ethnicity cell of the shipped name tables; the same ``per_group`` names per
  cell for every application;
- ``pronoun``: third-person pronouns in the text fields rewritten to one sex;
- ``age``: the graduation year (a structured field) and its occurrences in the text set
  to an earlier or a later year;
- custom probes: a literal text replaced by each listed variant.

Applications in which a probe has nothing to change (no graduation year, no text to
find) are left out of that probe, so they add no zero differences to its mean.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from auditor.errors import DataValidationError
from auditor.screener.applications import Record
from auditor.screener.names import RACES, SEXES, NameTable
from auditor.spec import AgeProbe, CustomProbe, NamesProbe, ScreenerSpec

PROBE_NAME, PROBE_PRONOUN, PROBE_AGE = "name", "pronoun", "age"
AGE_COLUMN = "age_signal"


@dataclass(frozen=True)
class Variant:
    """One variant of one application: which probe, which group, the record sent."""

    application_id: str
    probe: str
    variant: str
    groups: dict[str, str]  # e.g. {"sex": "Female", "race_ethnicity": "White"}
    record: Record


def probe_groups(sc: ScreenerSpec) -> dict[str, tuple[str, ...]]:
    """Probe -> the group columns its variants carry (the attributes compared)."""
    out: dict[str, tuple[str, ...]] = {}
    if sc.probes.names is not None:
        out[PROBE_NAME] = ("sex", "race_ethnicity")
    if sc.probes.pronouns:
        out[PROBE_PRONOUN] = ("sex",)
    if sc.probes.age is not None:
        out[PROBE_AGE] = (AGE_COLUMN,)
    for custom in sc.probes.custom:
        out[custom.name] = (custom.name,)
    return out


def build_variants(sc: ScreenerSpec, records: list[Record], names: NameTable) -> list[Variant]:
    """Every variant of every application, probe by probe, in a fixed order."""
    out: list[Variant] = []
    cells = name_cells(sc.probes.names, names) if sc.probes.names is not None else []
    for record in records:
        if cells:
            out += _name_variants(sc, record, cells)
        if sc.probes.pronouns:
            out += _pronoun_variants(sc, record)
        if sc.probes.age is not None:
            out += _age_variants(sc, record, sc.probes.age)
        for custom in sc.probes.custom:
            out += _custom_variants(sc, record, custom)
    return out


@dataclass(frozen=True)
class NameCell:
    """The names standing for one sex × race/ethnicity cell."""

    sex: str
    race: str
    names: tuple[str, ...]  # "First Last"


def name_cells(probe: NamesProbe, table: NameTable) -> list[NameCell]:
    """``per_group`` full names per cell: the most frequent first names of the sex (those
    also associated with the race/ethnicity first) and the most frequent surnames of the
    race/ethnicity, paired in order."""
    sexes = probe.sexes or list(SEXES)
    races = probe.races or list(RACES)
    bad = [s for s in sexes if s not in SEXES] + [r for r in races if r not in RACES]
    if bad:
        raise DataValidationError(
            f"screener.probes.names: {bad[0]!r} is not a group the name tables support "
            f"(sexes: {', '.join(SEXES)}; races: {', '.join(RACES)})"
        )
    cells = []
    for sex in sexes:
        for race in races:
            firsts = list(dict.fromkeys((*table.first_names(sex, race), *table.first_names(sex))))
            lasts = table.surnames(race)
            k = probe.per_group
            if len(firsts) < k or len(lasts) < k:
                raise DataValidationError(
                    f"screener.probes.names.per_group: {k} names asked for {sex} × {race}; "
                    f"the tables have {min(len(firsts), len(lasts))}"
                )
            pairs = zip(firsts[:k], lasts[:k], strict=True)
            full = tuple(f"{first.title()} {last.title()}" for first, last in pairs)
            cells.append(NameCell(sex, race, full))
    return cells


def _with_text(sc: ScreenerSpec, record: Record, change: dict[str, str | None]) -> Record:
    out = dict(record)
    out.update(change)
    return out


def _replace_words(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", new.replace("\\", r"\\"), text)


def _name_variants(sc: ScreenerSpec, record: Record, cells: list[NameCell]) -> Iterator[Variant]:
    original = str(record[sc.name_field])
    words = original.split()
    app = str(record[sc.id_field])
    for cell in cells:
        for j, full in enumerate(cell.names):
            new_words = full.split()
            change: dict[str, str | None] = {sc.name_field: full}
            for field in sc.text_fields:
                text = record[field]
                if not isinstance(text, str):
                    continue
                text = _replace_words(text, original, full)
                if len(words) >= 2:  # "Dear Ms. Smith", "Jane" alone in a signature
                    text = _replace_words(text, words[0], new_words[0])
                    text = _replace_words(text, words[-1], new_words[-1])
                change[field] = text
            yield Variant(
                app,
                PROBE_NAME,
                f"{cell.sex}|{cell.race}|{j}",
                {"sex": cell.sex, "race_ethnicity": cell.race},
                _with_text(sc, record, change),
            )


# third-person pronouns, each rewritten to the other sex; "her" is "his" before a word
# (her resume -> his resume) and "him" otherwise (with her -> with him)
_TO_MALE = {"she": "he", "hers": "his", "herself": "himself"}
_TO_FEMALE = {"he": "she", "him": "her", "his": "her", "himself": "herself"}
_PRONOUN_RE = re.compile(r"\b(she|he|hers|his|herself|himself|him|her)\b(\s+\w)?", re.IGNORECASE)


def set_pronouns(text: str, sex: str) -> str:
    """``text`` with its third-person pronouns for ``sex`` (Female or Male)."""

    def swap(m: re.Match[str]) -> str:
        word, after = m.group(1), m.group(2) or ""
        low = word.lower()
        if sex == "Male":
            new = ("his" if after else "him") if low == "her" else _TO_MALE.get(low, low)
        else:
            new = _TO_FEMALE.get(low, low)
        if word[0].isupper():
            new = new[0].upper() + new[1:]
        return new + after

    return _PRONOUN_RE.sub(swap, text)


def _pronoun_variants(sc: ScreenerSpec, record: Record) -> Iterator[Variant]:
    texts = {f: record[f] for f in sc.text_fields if isinstance(record[f], str)}
    if not any(_PRONOUN_RE.search(str(t)) for t in texts.values()):
        return
    for sex in SEXES:
        change: dict[str, str | None] = {f: set_pronouns(str(t), sex) for f, t in texts.items()}
        yield Variant(
            str(record[sc.id_field]),
            PROBE_PRONOUN,
            sex,
            {"sex": sex},
            _with_text(sc, record, change),
        )


def age_label(year: int, probe: AgeProbe) -> str:
    """The group label of a graduation year (older first in the report)."""
    side = "older" if year == probe.older else "younger"
    return f"{side} (graduated {year})"


def _age_variants(sc: ScreenerSpec, record: Record, probe: AgeProbe) -> Iterator[Variant]:
    raw = record.get(probe.field)
    try:
        year = int(float(str(raw))) if raw is not None else None
    except ValueError:
        raise DataValidationError(
            f"screener.probes.age.field: application {record[sc.id_field]!r}: "
            f"{probe.field} = {raw!r} is not a year"
        ) from None
    if year is None:
        return
    for new in (probe.older, probe.younger):
        change: dict[str, object] = {probe.field: new}
        for field in sc.text_fields:
            text = record[field]
            if isinstance(text, str):
                change[field] = _replace_words(text, str(year), str(new))
        out = dict(record)
        out.update(change)
        yield Variant(
            str(record[sc.id_field]),
            PROBE_AGE,
            str(new),
            {AGE_COLUMN: age_label(new, probe)},
            out,
        )


def _custom_variants(sc: ScreenerSpec, record: Record, probe: CustomProbe) -> Iterator[Variant]:
    texts = {f: record[f] for f in sc.text_fields if isinstance(record[f], str)}
    if not any(probe.find in str(t) for t in texts.values()):
        return
    for label, replacement in probe.variants.items():
        change: dict[str, str | None] = {
            f: str(t).replace(probe.find, replacement) for f, t in texts.items()
        }
        yield Variant(
            str(record[sc.id_field]),
            probe.name,
            label,
            {probe.name: label},
            _with_text(sc, record, change),
        )
