"""Bad inputs through the CLI: exit code 2, one clear message, no traceback, nothing stored."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sqlalchemy import select
from typer.testing import CliRunner, Result

from auditor.cli import app
from auditor.demo import CREDIT_FEATURES, DemoCase
from auditor.report import render_html
from auditor.result import AuditResult
from auditor.store import list_audits, open_store
from auditor.store.models import Event

runner = CliRunner()

SpecWriter = Callable[..., Path]


@pytest.fixture
def credit_env(credit_case: DemoCase, tmp_path: Path) -> tuple[pd.DataFrame, SpecWriter]:
    """150 German-credit rows, and a writer of specs for them (changes on top of the demo)."""
    folder = credit_case.spec_path.parent
    df = pd.read_csv(folder / "german_credit.csv", nrows=150)
    base = yaml.safe_load(credit_case.spec_path.read_text(encoding="utf-8"))
    base["model"]["path"] = str(folder / base["model"]["path"])

    def write(rows: pd.DataFrame | None = None, name: str = "audit.yaml", **changes: Any) -> Path:
        frame = df if rows is None else rows
        csv = tmp_path / "credit.csv"
        frame.to_csv(csv, index=False)
        spec = {**base, "data": {"path": str(csv)}}
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(spec.get(key), dict):
                spec[key] = {**spec[key], **value}
            else:
                spec[key] = value
        path = tmp_path / name
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        return path

    return df, write


def audit(spec: Path, *args: str) -> Result:
    return runner.invoke(app, ["audit", str(spec), *args])


def assert_user_error(res: Result, *expected: str) -> str:
    output = res.output
    assert res.exit_code == 2, output
    assert isinstance(res.exception, SystemExit)  # not an uncaught exception
    assert "Traceback" not in output
    assert output.startswith("error: ")
    for text in expected:
        assert text in output, output
    return output


def assert_nothing_stored(url: str) -> None:
    store = open_store(url)
    try:
        with store.session() as session:
            assert list_audits(session) == []
            kinds = list(session.scalars(select(Event.kind)))
    finally:
        store.dispose()
    assert set(kinds) <= {"audit.failed"}
    assert len(kinds) <= 1


def failed_events(url: str) -> list[dict[str, Any]]:
    store = open_store(url)
    try:
        with store.session() as session:
            rows = session.scalars(select(Event).where(Event.kind == "audit.failed")).all()
            return [json.loads(e.payload) for e in rows]
    finally:
        store.dispose()


def test_malformed_yaml(tmp_path: Path, sqlite_url: str) -> None:
    spec = tmp_path / "audit.yaml"
    spec.write_text("name: x\ndomain: credit\ncolumns:\n  id: a\n   decision: b\n")
    assert_user_error(audit(spec, "--db", sqlite_url), str(spec), "malformed YAML at line 5")
    assert_nothing_stored(sqlite_url)


def test_bad_spec_key(credit_env: tuple[pd.DataFrame, SpecWriter], sqlite_url: str) -> None:
    _, write = credit_env
    spec = write(colour="blue", min_group_size=0)
    out = assert_user_error(
        audit(spec, "--db", sqlite_url),
        str(spec),
        "colour: unknown key",
        "min_group_size: Input should be greater than or equal to 1",
    )
    assert "  - " in out
    assert_nothing_stored(sqlite_url)


def test_bad_date_in_spec(credit_env: tuple[pd.DataFrame, SpecWriter], sqlite_url: str) -> None:
    _, write = credit_env
    spec = write()
    spec.write_text(spec.read_text() + "audit_date: 2026-02-30\n")
    assert_user_error(audit(spec, "--db", sqlite_url), str(spec), "audit_date:")
    assert_nothing_stored(sqlite_url)


def test_missing_data_file(
    credit_env: tuple[pd.DataFrame, SpecWriter], tmp_path: Path, sqlite_url: str
) -> None:
    _, write = credit_env
    spec = write(data={"path": str(tmp_path / "nowhere.csv")})
    assert_user_error(
        audit(spec, "--db", sqlite_url), f"Data file not found: {tmp_path / 'nowhere.csv'}"
    )
    assert_nothing_stored(sqlite_url)
    (event,) = failed_events(sqlite_url)
    assert event["name"] == "german-credit-demo"
    assert "nowhere.csv" in event["error"]


def test_missing_column(credit_env: tuple[pd.DataFrame, SpecWriter], sqlite_url: str) -> None:
    df, write = credit_env
    spec = write(df.drop(columns=["duration"]))
    assert_user_error(
        audit(spec, "--db", sqlite_url),
        "credit.csv: the data do not match the spec",
        "column 'duration' (named in columns.features) is missing",
    )
    assert_nothing_stored(sqlite_url)


def test_wrong_dtype_for_a_model_feature(
    credit_env: tuple[pd.DataFrame, SpecWriter], sqlite_url: str
) -> None:
    df, write = credit_env
    bad = df.astype({"credit_amount": object})
    bad.loc[4, "credit_amount"] = "a lot"
    assert_user_error(
        audit(write(bad), "--db", sqlite_url),
        "credit_lgbm.txt: the data do not fit the model",
        "column 'credit_amount' holds text (e.g. ['a lot'] at row(s) 5)",
    )
    assert_nothing_stored(sqlite_url)


def test_model_feature_mismatch(
    credit_env: tuple[pd.DataFrame, SpecWriter], sqlite_url: str
) -> None:
    _, write = credit_env
    features = [f for f in CREDIT_FEATURES if f != "job"]
    spec = write(columns={"features": features})
    assert_user_error(
        audit(spec, "--db", sqlite_url),
        "the model does not match the spec's features",
        "the model needs feature(s) not in columns.features: ['job']",
    )
    assert_nothing_stored(sqlite_url)


@pytest.mark.parametrize("corruption", ["truncated", "random"])
def test_corrupt_model_file(
    credit_env: tuple[pd.DataFrame, SpecWriter],
    credit_case: DemoCase,
    tmp_path: Path,
    sqlite_url: str,
    corruption: str,
) -> None:
    _, write = credit_env
    good = (credit_case.spec_path.parent / "credit_lgbm.txt").read_bytes()
    model = tmp_path / "model.txt"
    if corruption == "truncated":  # crashed the whole process before the adapter checked
        model.write_bytes(good[: len(good) // 3])
    else:
        model.write_bytes(np.random.default_rng(0).bytes(3000))
    spec = write(model={"path": str(model)})
    assert_user_error(audit(spec, "--db", sqlite_url), f"{model}: not a", "LightGBM model file")
    assert_nothing_stored(sqlite_url)


def test_unknown_policy_id(credit_env: tuple[pd.DataFrame, SpecWriter], sqlite_url: str) -> None:
    _, write = credit_env
    spec = write(policies=["ecoa_reg_b", "fair_lending_2030"])
    assert_user_error(
        audit(spec, "--db", sqlite_url),
        "policies.1: unknown policy pack 'fair_lending_2030'",
        "available: aaa, adea, california, colorado, ecoa_reg_b",
    )
    assert_nothing_stored(sqlite_url)


def test_pickle_without_trusted(
    credit_env: tuple[pd.DataFrame, SpecWriter], tmp_path: Path, sqlite_url: str
) -> None:
    df, write = credit_env
    features = ["duration", "credit_amount", "installment_rate"]
    lr = LogisticRegression(max_iter=500).fit(df[features], df["good_credit"])
    model = tmp_path / "model.pkl"
    model.write_bytes(pickle.dumps(lr))
    spec = write(
        model={"path": str(model), "kind": "sklearn"},
        columns={"features": features},
        explain={"method": "none"},
        letters=None,  # the demo's letters name features this small model lacks
        training=None,  # the demo's LDA section reuses a LightGBM model's parameters
    )
    assert_user_error(
        audit(spec, "--db", sqlite_url),
        f"{model}: refusing to load a pickle/joblib file",
        "model.trusted: true",
    )
    assert_nothing_stored(sqlite_url)
    # the same spec trusting the file runs (without the database, to stay fast)
    trusted = write(
        name="trusted.yaml",
        model={"path": str(model), "kind": "sklearn", "trusted": True},
        columns={"features": features},
        explain={"method": "none"},
        letters=None,
    )
    res = audit(trusted, "--no-store", "--quiet")
    assert res.exit_code == 0, res.output


def test_duplicate_ids_with_protected_file(
    credit_env: tuple[pd.DataFrame, SpecWriter], tmp_path: Path, sqlite_url: str
) -> None:
    df, write = credit_env
    protected = tmp_path / "protected.csv"
    df[["applicant_id", "sex", "age_band"]].to_csv(protected, index=False)
    dup = pd.concat([df, df.iloc[[0]]], ignore_index=True).drop(columns=["sex", "age_band"])
    csv = tmp_path / "dup.csv"
    dup.to_csv(csv, index=False)
    spec = write(name="dup.yaml")
    data = yaml.safe_load(spec.read_text())
    data["data"] = {"path": str(csv), "protected_path": str(protected)}
    spec.write_text(yaml.safe_dump(data))
    assert_user_error(audit(spec, "--db", sqlite_url), "id column repeats 1 id(s), e.g. GC-0001")
    assert_nothing_stored(sqlite_url)


def test_fail_on_severity(hiring_case: DemoCase, tmp_path: Path) -> None:
    folder = hiring_case.spec_path.parent
    spec = yaml.safe_load(hiring_case.spec_path.read_text(encoding="utf-8"))
    sample = pd.read_csv(folder / "hiring.csv").sample(4000, random_state=0)
    sample.to_csv(tmp_path / "hiring.csv", index=False)
    spec["model"]["path"] = str(folder / spec["model"]["path"])
    spec["explain"] = {"method": "integrated_gradients", "max_rows": 300}
    # UGESP is guidance and only flags (issue 18); New Jersey's disparate-impact rule is
    # binding law with a high severity, so the demo's injected disparity fails it
    spec["policies"] = [*spec["policies"], "new_jersey"]
    spec["jurisdictions"] = [*spec.get("jurisdictions", []), "US-NJ"]
    path = tmp_path / "hiring.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")

    high = audit(path, "--no-store", "--fail-on", "high", "--json", str(tmp_path / "r.json"))
    assert high.exit_code == 1, high.output
    assert "Traceback" not in high.output
    result = AuditResult.from_json((tmp_path / "r.json").read_text(encoding="utf-8"))
    failing = result.failed("high")
    assert failing
    assert {f.rule_id for f in failing} >= {"NJ-13-16-DISPARATE-IMPACT"}
    assert any(f.scope == "race_ethnicity=Black or African American" for f in failing)
    assert f"{len(failing)} finding(s) failed at severity high or above." in high.output

    critical = audit(path, "--no-store", "--quiet", "--fail-on", "critical")
    assert critical.exit_code == 0, critical.output
    assert critical.output == ""


HOSTILE = "<script>alert(1)</script>"


def test_hostile_group_values_are_escaped(
    credit_env: tuple[pd.DataFrame, SpecWriter], tmp_path: Path
) -> None:
    df, write = credit_env
    hostile = df.copy()
    hostile.loc[:39, "sex"] = HOSTILE  # a real group of 40
    hostile.loc[40:44, "sex"] = '[bold red]{group}[/] & "quoted"'
    json_path = tmp_path / "result.json"
    # one attribute, no intersection: fewer charts to render
    spec = write(hostile, protected=["sex"], intersections=[], reference="highest")
    res = audit(spec, "--no-store", "--json", str(json_path))
    assert res.exit_code == 0, res.output
    result = AuditResult.from_json(json_path.read_text(encoding="utf-8"))
    groups = {g.group for g in result.dataset.groups if g.attribute == "sex"}
    assert HOSTILE in groups  # kept verbatim in the data of the result
    assert any(HOSTILE in f.message for f in result.findings)
    html = render_html(result)
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "alert(1)" in html  # the text is shown, escaped


# files the operator names on the command line, read whole before any size check: a
# device such as /dev/zero has no size (stat says 0) and never ends, so the read grew
# until the process ran out of memory
ENDLESS_INPUTS = {
    "verify --pdf": ["verify", "--pdf", "/dev/zero"],
    "attest --document": ["attest", "deadbeef", "-e", "EVIDENCE", "--document", "/dev/zero"],
    "letters --recipients": ["letters", "deadbeef", "--recipients", "/dev/zero"],
}


@pytest.mark.parametrize("case", sorted(ENDLESS_INPUTS))
def test_an_endless_input_file_is_refused_not_read_whole(case: str, tmp_path: Path) -> None:
    import resource
    import subprocess
    import sys

    from tests._paths import REPO

    evidence = tmp_path / "evidence.yaml"
    evidence.write_text("retention_months: 25\n")
    args = [str(evidence) if a == "EVIDENCE" else a for a in ENDLESS_INPUTS[case]]
    db = f"sqlite:///{tmp_path / 'audits.db'}"

    def cap_memory() -> None:  # a regression fails this test, not the machine
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    done = subprocess.run(
        [sys.executable, "-m", "auditor", *args, "--db", db],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        preexec_fn=cap_memory,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "/dev/zero" in done.stderr
