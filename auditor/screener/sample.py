"""A synthetic application set and the two sample screeners trained on it.

The applications are for one posting (a data analyst): a name, a short summary, work
experience, education with a graduation year, a skills list (missing for about one in seven),
a referee's note (written with the pronoun that matches the first name, so pronoun probes have
something to rewrite) and years of experience. Everything is generated from a seed; no real
person's data is used beyond first names and surnames drawn from the public name tables.

Each application has a hidden *merit* logit built from what an employer may legitimately use
(relevant skills, years of experience, degree, the verbs and outcomes in the experience text).
Two sample screeners are trained on the same training applications:

* **clean** — labels drawn from ``sigmoid(merit)``; the name is not an input.
* **injected** — labels drawn from ``sigmoid(merit - NAME_PENALTY_LOGIT * k)`` where ``k`` counts
  the name's penalised tokens (a first name in the table's ``Female`` list, a surname in its
  ``Black or African American`` list); the screener reads the name through fixed name-token
  weights of exactly ``-NAME_PENALTY_LOGIT`` each (see :mod:`auditor.screener.sample_model`).
  So for any application, a variant whose name carries one penalised token scores exactly
  ``NAME_PENALTY_LOGIT`` lower in logit than one whose name carries none.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from auditor.screener.names import NameTable, load_name_table

# the documented injected effect: logit lowered per penalised name token
NAME_PENALTY_LOGIT = 1.0
PENALISED_SEX = "Female"
PENALISED_RACE = "Black or African American"

TEXT_FIELDS: tuple[str, ...] = ("summary", "experience", "education", "skills", "references")
NUMERIC_FIELDS: tuple[str, ...] = ("years_experience",)
FIELDS: tuple[str, ...] = (
    "id",
    "name",
    *TEXT_FIELDS,
    "years_experience",
    "graduation_year",
)
REFERENCE_YEAR = 2026  # "now" for graduation years: applicants graduated years_experience ago

# skill -> contribution to merit; the relevant ones are what the posting asks for
SKILLS: dict[str, float] = {
    "SQL": 0.7,
    "Python": 0.7,
    "statistics": 0.6,
    "Tableau": 0.4,
    "Excel": 0.3,
    "R": 0.4,
    "dbt": 0.3,
    "A/B testing": 0.5,
    "data visualisation": 0.3,
    "Spark": 0.3,
    "customer service": -0.1,
    "cash handling": -0.2,
    "social media": 0.0,
    "Photoshop": -0.1,
    "forklift operation": -0.3,
    "typing": 0.0,
}
# (verb, weight): strong verbs describe owning the work
VERBS: tuple[tuple[str, float], ...] = (
    ("Led", 0.4),
    ("Built", 0.4),
    ("Automated", 0.5),
    ("Designed", 0.3),
    ("Analysed", 0.3),
    ("Assisted with", -0.2),
    ("Helped with", -0.2),
    ("Supported", -0.1),
    ("Handled", -0.1),
)
OBJECTS: tuple[tuple[str, float], ...] = (
    ("weekly revenue dashboards for the finance team", 0.3),
    ("ETL pipelines feeding the data warehouse", 0.4),
    ("A/B tests of the checkout page", 0.4),
    ("customer support tickets", -0.2),
    ("inventory counts for the store", -0.3),
    ("monthly sales reports in spreadsheets", 0.1),
    ("a churn model for subscription customers", 0.5),
    ("survey data cleaning for a research group", 0.2),
)
OUTCOMES: tuple[tuple[str, float], ...] = (
    ("cutting reporting time by 40%", 0.3),
    ("saving about 10 hours a week", 0.2),
    ("used by 200 staff", 0.2),
    ("", 0.0),
    ("", 0.0),
)
COMPANIES = (
    "Acme Retail",
    "Northwind Logistics",
    "Blue Harbor Bank",
    "Civic Health",
    "Brightline Media",
    "Summit Insurance",
    "Riverside Grocers",
    "Metro Transit",
)
DEGREES: tuple[tuple[str, float], ...] = (
    ("PhD in Statistics", 0.6),
    ("MS in Data Science", 0.6),
    ("BS in Computer Science", 0.5),
    ("BS in Statistics", 0.5),
    ("BA in Economics", 0.3),
    ("BA in English", 0.0),
    ("BS in Biology", 0.1),
    ("Associate degree in Business", 0.0),
    ("Data analytics bootcamp certificate", 0.1),
    ("High school diploma", -0.3),
)
SCHOOLS = (
    "State University",
    "City College",
    "Lakeside University",
    "Technical Institute",
    "Community College",
    "Northern University",
)
SUMMARY_OPENERS = (
    "Detail-oriented",
    "Curious",
    "Results-driven",
    "Methodical",
    "Analytical",
    "Practical",
)
REFEREE_QUALITIES: tuple[tuple[str, float], ...] = (
    ("consistently delivered accurate work on time", 0.2),
    ("was dependable and easy to work with", 0.1),
    ("needed close supervision on larger tasks", -0.3),
    ("took ownership of difficult projects", 0.3),
)
MERIT_INTERCEPT = -2.4  # centres merit so that about 40% of applications are selected


@dataclass(frozen=True)
class SampleScreeners:
    """Where :func:`train_sample_screeners` wrote the two screeners and what they are."""

    injected: Path
    clean: Path
    name_penalty: float
    penalised_groups: tuple[str, ...]


def _pick(rng: random.Random, options: Sequence[tuple[str, float]]) -> tuple[str, float]:
    return options[rng.randrange(len(options))]


def _application(
    rng: random.Random, index: int, table: NameTable
) -> tuple[dict[str, object], float]:
    """One application and its merit logit."""
    sex = rng.choice(("Female", "Male"))
    race = rng.choice(("White", "Black or African American", "Hispanic or Latino", "Asian"))
    first = rng.choice(table.first_names(sex)[:150])
    last = rng.choice(table.surnames(race)[:100])
    pronoun = "she" if sex == "Female" else "he"

    years = rng.randint(0, 20)
    merit = MERIT_INTERCEPT + 0.12 * min(years, 15)

    jobs = []
    for _ in range(1 + min(years // 5, 2)):
        (verb, wv), (obj, wo), (outcome, wt) = (
            _pick(rng, VERBS),
            _pick(rng, OBJECTS),
            _pick(rng, OUTCOMES),
        )
        company = rng.choice(COMPANIES)
        jobs.append(f"{verb} {obj} at {company}" + (f", {outcome}" if outcome else "") + ".")
        merit += wv + wo + wt
    experience = " ".join(jobs) if years > 0 or rng.random() < 0.5 else None
    if experience is None:
        merit -= 0.3

    degree, wd = _pick(rng, DEGREES)
    graduation = REFERENCE_YEAR - years - rng.randint(0, 3)
    education = f"{degree}, {rng.choice(SCHOOLS)}, {graduation}."
    merit += wd

    skills: str | None = None
    if rng.random() >= 0.15:  # about one in seven applications leaves skills empty
        chosen = rng.sample(sorted(SKILLS), k=rng.randint(2, 6))
        skills = ", ".join(chosen)
        merit += sum(SKILLS[s] for s in chosen)

    quality, wq = _pick(rng, REFEREE_QUALITIES)
    references = (
        f"Former manager at {rng.choice(COMPANIES)} says {pronoun} {quality}."
        if rng.random() < 0.7
        else None
    )
    merit += wq if references else 0.0

    opener = rng.choice(SUMMARY_OPENERS)
    summary = (
        f"{opener} analyst with {years} years of experience turning data into decisions."
        if years
        else f"{opener} graduate looking for a first role in data analysis."
    )
    record: dict[str, object] = {
        "id": f"A{index:04d}",
        "name": f"{first} {last}",
        "summary": summary,
        "experience": experience,
        "education": education,
        "skills": skills,
        "references": references,
        "years_experience": years,
        "graduation_year": graduation,
    }
    return record, merit


def generate_applications(
    n: int = 200, *, seed: int = 0, table: NameTable | None = None
) -> list[dict[str, object]]:
    """``n`` synthetic applications, the same for the same seed."""
    return [r for r, _ in _generate(n, seed, table or load_name_table())]


def _generate(n: int, seed: int, table: NameTable) -> list[tuple[dict[str, object], float]]:
    rng = random.Random(seed)
    return [_application(rng, i, table) for i in range(n)]


def penalised_name_tokens(table: NameTable) -> list[str]:
    """The name tokens the injected screener penalises (positional, see ``name_tokens``)."""
    first = [f"first:{n.lower()}" for n in table.first_names(PENALISED_SEX)]
    last = [f"last:{n.lower()}" for n in table.surnames(PENALISED_RACE)]
    return first + last


def _check_no_collisions(table: NameTable, penalised: Sequence[str], buckets: int) -> None:
    """A penalised and an unpenalised table name must not share a hash bucket."""
    from auditor.screener.sample_model import bucket

    every = {f"first:{e.name.lower()}" for e in (*table.first_by_sex, *table.first_by_race)}
    every |= {f"last:{e.name.lower()}" for e in table.surname_entries}
    hit = {bucket(t, buckets) for t in penalised}
    clash = sorted(t for t in every - set(penalised) if bucket(t, buckets) in hit)
    if clash:
        raise RuntimeError(f"name tokens share a bucket with a penalised name: {clash[:5]}")


def write_applications(
    records: Sequence[Mapping[str, object]], folder: Path, stem: str = "applications"
) -> tuple[Path, Path]:
    """Write ``stem.csv`` (missing values as empty cells) and ``stem.jsonl`` (as null)."""
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, jsonl_path = folder / f"{stem}.csv", folder / f"{stem}.jsonl"
    with csv_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(FIELDS))
        writer.writeheader()
        for record in records:
            writer.writerow({k: ("" if record.get(k) is None else record.get(k)) for k in FIELDS})
    with jsonl_path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps({k: record.get(k) for k in FIELDS}) + "\n")
    return csv_path, jsonl_path


def train_sample_screeners(
    folder: Path,
    *,
    seed: int = 0,
    n_train: int = 2000,
    name_penalty: float = NAME_PENALTY_LOGIT,
) -> SampleScreeners:
    """Train the injected and the clean sample screeners into ``folder/injected`` and
    ``folder/clean`` (each a ``config.json`` + ``weights.pt``). Deterministic for a seed."""
    from auditor.screener import sample_model as sm

    table = load_name_table()
    # training applications come from a different stream than the audit set (seed + 1)
    rows = _generate(n_train, seed + 1, table)
    records = [r for r, _ in rows]
    penalised = penalised_name_tokens(table)
    _check_no_collisions(table, penalised, sm.ScreenerConfig((), ()).name_buckets)
    penalised_set = set(penalised)
    label_rng = random.Random(seed + 2)
    uniforms = [label_rng.random() for _ in rows]

    def labels(penalty: float) -> list[int]:
        out = []
        for (record, merit), u in zip(rows, uniforms, strict=True):
            k = sum(t in penalised_set for t in sm.name_tokens(record["name"]))
            out.append(int(u < 1.0 / (1.0 + math.exp(-(merit - penalty * k)))))
        return out

    groups = (PENALISED_SEX, PENALISED_RACE)
    injected_cfg = sm.ScreenerConfig(
        TEXT_FIELDS,
        NUMERIC_FIELDS,
        name_field="name",
        name_penalty=name_penalty,
        penalised_groups=groups,
        description=(
            f"Sample screener WITH an injected name effect: each name token from the table's "
            f"{PENALISED_SEX} first names or {PENALISED_RACE} surnames lowers the logit by "
            f"{name_penalty}."
        ),
        training={"seed": seed, "n_train": n_train, "labels": "merit - penalty * tokens"},
    )
    clean_cfg = sm.ScreenerConfig(
        TEXT_FIELDS,
        NUMERIC_FIELDS,
        description="Sample screener without a name effect: the name is not an input.",
        training={"seed": seed, "n_train": n_train, "labels": "merit"},
    )
    injected = sm.SampleScreener(injected_cfg)
    sm.set_name_penalty(injected, penalised)
    sm.train(injected, records, labels(name_penalty), seed=seed)
    clean = sm.SampleScreener(clean_cfg)
    sm.train(clean, records, labels(0.0), seed=seed)
    return SampleScreeners(
        injected=sm.save(injected, folder / "injected"),
        clean=sm.save(clean, folder / "clean"),
        name_penalty=name_penalty,
        penalised_groups=groups,
    )


@cache
def _loaded(path: str, stamp: int) -> object:
    from auditor.screener import sample_model as sm

    del stamp  # part of the cache key only: a retrained screener is read again
    return sm.load(Path(path))


def score_records(records: list[dict[str, object]], model_path: str | Path) -> list[float]:
    """Scores in (0, 1) from a saved sample screener (a folder from
    :func:`train_sample_screeners`); usable as a screener callable with
    ``options: {model_path: ...}``."""
    from auditor.screener import sample_model as sm

    path = Path(model_path).resolve()
    config = path / sm.CONFIG_FILE if path.is_dir() else path
    stamp = config.stat().st_mtime_ns if config.exists() else 0
    model = _loaded(str(path), stamp)
    assert isinstance(model, sm.SampleScreener)
    return sm.predict(model, records)


def expected_selection_rates(
    records: list[dict[str, object]],
    model_path: str | Path,
    *,
    name_field: str = "name",
    penalised_tokens: int = 1,
    threshold: float | None = None,
) -> tuple[float, float]:
    """What the injected effect should do to selection on ``records``: the selection rate
    with no penalised name token and with ``penalised_tokens`` of them (the name removed,
    then the logit shifted by exactly ``penalised_tokens * name_penalty``). Their ratio is
    the LL144-style impact ratio an audit of the injected screener should find, up to the
    sampling of names and applications."""
    from auditor.screener import sample_model as sm

    path = Path(model_path).resolve()
    model = sm.load(path)
    cut = model.config.threshold if threshold is None else threshold
    scores = score_records([{**r, name_field: None} for r in records], path)
    shift = penalised_tokens * model.config.name_penalty
    if not scores:
        return float("nan"), float("nan")
    base = sum(s >= cut for s in scores) / len(scores)
    lowered = [1.0 / (1.0 + math.exp(-(math.log(s / (1.0 - s)) - shift))) for s in scores]
    return base, sum(s >= cut for s in lowered) / len(lowered)
