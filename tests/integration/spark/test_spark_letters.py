"""Letters of a Spark audit (local[2], several partitions) equal the in-memory path's:
the decisions are read from the audited data, the letters built on the executors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from auditor.cli import app
from auditor.demo import DemoCase
from auditor.letters.recipients import Recipient
from auditor.letters.service import IssuedLetter, issue_letters, letter_path
from auditor.service import perform_audit
from auditor.store import open_store
from auditor.store.decisions import decision_source, load_decisions

pytest.importorskip("pyspark", reason="the 'spark' extra (pyspark) is not installed")

ROWS = 160  # ~50 adverse decisions: a few dozen letters per path


@pytest.fixture(scope="module")
def spark(spark: Any) -> Iterator[Any]:
    """conftest's one Spark session, with smaller partitions for this module."""
    before = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "4096")  # several partitions
    yield spark
    spark.conf.set("spark.sql.files.maxPartitionBytes", before)


def _spec(case: DemoCase, tmp: Path, rows: int = ROWS, **letters: Any) -> dict[str, Any]:
    data = yaml.safe_load(case.spec_path.read_text())
    frame = pd.read_csv(case.spec_path.parent / data["data"]["path"]).head(rows)
    parquet = tmp / "credit.parquet"
    frame.to_parquet(parquet, row_group_size=25)
    data["data"] = {"path": str(parquet)}
    data["model"]["path"] = str(case.spec_path.parent / data["model"]["path"])
    data["explain"] = {**data.get("explain", {}), "quality": {"enabled": False}}
    data["letters"] = {**data["letters"], **letters}
    return dict(data)


def _both(
    spec: dict[str, Any], tmp: Path, *runs: dict[str, Any]
) -> list[tuple[list[IssuedLetter], list[IssuedLetter]]]:
    """The same letters (one batch per ``issue_letters`` arguments in ``runs``) from an
    in-memory audit and from a Spark audit of the same data."""
    out: dict[str, list[list[IssuedLetter]]] = {}
    for name, engine in (("local", {}), ("spark", {"engine": {"kind": "spark"}})):
        url = f"sqlite:///{tmp / (name + '.db')}"
        outcome = perform_audit({**spec, **engine}, database_url=url)
        with open_store(url) as store:
            out[name] = [issue_letters(store, outcome.result.audit_id, **r) for r in runs]
    return list(zip(out["local"], out["spark"], strict=True))


def _same(local: list[IssuedLetter], spark: list[IssuedLetter]) -> None:
    assert [lt.record["decision_id"] for lt in spark] == [lt.record["decision_id"] for lt in local]
    for a, b in zip(local, spark, strict=True):
        assert b.record == a.record, a.record["decision_id"]
        assert b.html == a.html
        assert b.pdf == a.pdf


def test_spark_letters_equal_in_memory(spark: Any, tmp_path: Path, credit_case: DemoCase) -> None:
    spec = _spec(credit_case, tmp_path)
    assert spark.read.parquet(spec["data"]["path"]).rdd.getNumPartitions() > 2
    [(local, distributed)] = _both(spec, tmp_path, {})
    assert len(local) >= 30
    assert {lt.record["status"] for lt in local} >= {"issued"}
    assert any(lt.record["counterfactual"] for lt in local)
    _same(local, distributed)


def test_spark_letters_ids_sample_baseline_and_recipients(
    spark: Any, tmp_path: Path, credit_case: DemoCase
) -> None:
    # fewer rows: every decision gets a letter below
    spec = _spec(credit_case, tmp_path, rows=64, baseline={"kind": "favorable", "max_rows": 20})
    url = f"sqlite:///{tmp_path / 'ids.db'}"
    outcome = perform_audit(spec, database_url=url)
    with open_store(url) as store, store.session() as session:
        stored = load_decisions(session, outcome.result.audit_id)
    # ids out of audit order, from several partitions, favourable and adverse
    ids = [stored.ids[i] for i in (60, 3, 37, 20, 51, 9)]
    who = {d: Recipient(f"Applicant {d}", ("1 Main St", "Town")) for d in ids}
    (local, distributed), (every, every_spark) = _both(
        spec, tmp_path, {"decisions": ",".join(ids), "recipients": who}, {"decisions": "all"}
    )
    assert [lt.record["decision_id"] for lt in local] == ids
    assert all(lt.record["addressed"] for lt in local)
    _same(local, distributed)
    assert len(every) == len(stored.ids)  # favourable decisions too: letters' places differ
    _same(every, every_spark)


def test_cli_spark_audit_letters_end_to_end(
    spark: Any, tmp_path: Path, credit_case: DemoCase
) -> None:
    spec = _spec(credit_case, tmp_path, rows=64, review={"threshold": 1.0})
    spec_path = tmp_path / "audit.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    res = runner.invoke(app, ["audit", str(spec_path), "--engine", "spark", "--db", url])
    assert res.exit_code in (0, 1), res.output  # 1: a policy finding, not an error
    with open_store(url) as store, store.session() as session:
        from auditor.store.repository import list_audits

        audit_id = list_audits(session)[0].id
        assert decision_source(session, audit_id) is not None
    out_dir, js = tmp_path / "pdf", tmp_path / "letters.json"
    # an audit run on Spark: --engine spark is implied
    res = runner.invoke(
        app, ["letters", audit_id, "--db", url, "--out", str(out_dir), "--json", str(js)]
    )
    assert res.exit_code == 0, res.output
    records = json.loads(js.read_text())
    assert len(records) >= 10
    for r in records:
        pdf = letter_path(out_dir, r).read_bytes()  # held ones are in held/
        assert hashlib.sha256(pdf).hexdigest() == r["sha256"]
    with open_store(url) as store, store.session() as session:
        from sqlalchemy import func, select

        from auditor.store.models import Letter

        n = session.execute(select(func.count()).select_from(Letter)).scalar_one()
        assert n == len(records)
    # the local engine says how to issue them
    res = runner.invoke(app, ["letters", audit_id, "--db", url, "--engine", "local"])
    assert res.exit_code == 2
    assert "--engine spark" in res.output
    # the audited data is gone: a clear error, nothing written
    Path(spec["data"]["path"]).unlink()
    res = runner.invoke(app, ["letters", audit_id, "--db", url, "--engine", "spark"])
    assert res.exit_code == 2
    assert "is gone" in res.output
    assert "credit.parquet" in res.output
    assert "Traceback" not in res.output
    with open_store(url) as store, store.session() as session:
        assert session.execute(select(func.count()).select_from(Letter)).scalar_one() == n


def test_executor_user_error_is_a_clear_message(
    spark: Any, tmp_path: Path, credit_case: DemoCase
) -> None:
    codes = dict(yaml.safe_load(credit_case.spec_path.read_text())["letters"]["reason_codes"])
    del codes["duration"]  # a principal reason of some adverse decisions: found on executors
    spec = _spec(credit_case, tmp_path, reason_codes=codes)
    url = f"sqlite:///{tmp_path / 'err.db'}"
    # an in-memory audit (decisions stored) whose letters are asked of Spark all the same
    audit_id = perform_audit(spec, database_url=url).result.audit_id
    res = CliRunner().invoke(app, ["letters", audit_id, "--db", url, "--engine", "spark"])
    assert res.exit_code == 2, res.output
    assert "'duration' has no reason-code" in res.output
    assert "Traceback" not in res.output
    from sqlalchemy import func, select

    from auditor.store.models import Letter

    with open_store(url) as store, store.session() as session:
        assert session.execute(select(func.count()).select_from(Letter)).scalar_one() == 0
