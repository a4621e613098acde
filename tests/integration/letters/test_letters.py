"""Per-decision letters on the real demo credit model: reasons, counterfactuals, checks,
storage (SQLite and PostgreSQL), CLI, hostile input."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from auditor.cli import app
from auditor.demo import DemoCase
from auditor.errors import AuditorError, SpecError
from auditor.explain import interventional_tree_shap
from auditor.letters.reasons import ReasonError
from auditor.letters.service import LetterError, issue_letters
from auditor.models import load_model
from auditor.service import perform_audit
from auditor.spec import load_spec
from auditor.store import open_store
from auditor.store.decisions import load_decisions
from auditor.store.models import Letter
from tests._db import db_url, pg_admin, store  # noqa: F401

N = 12  # adverse decisions per test


def _permutation_shapley(
    f: Any, x: np.ndarray, baseline: np.ndarray, *, permutations: int, seed: int
) -> np.ndarray:
    """Interventional Shapley values by permutation sampling, one path at a time.

    Written independently of auditor.letters.attribution (loops, not broadcasting), with
    the documented order scheme: seeded random orders and their reversals.
    """
    p = x.shape[1]
    rng = np.random.default_rng(seed)
    orders = []
    for _ in range(permutations // 2):
        order = rng.permutation(p)
        orders += [order, order[::-1]]
    out = np.zeros_like(x, dtype=np.float64)
    for r, row in enumerate(x):
        for order in orders:
            for b in baseline:
                path = [b.copy()]
                for j in order:
                    nxt = path[-1].copy()
                    nxt[j] = row[j]
                    path.append(nxt)
                f_path = f(np.asarray(path))
                for k, j in enumerate(order):
                    out[r, j] += f_path[k + 1] - f_path[k]
    return out / (len(orders) * len(baseline))


def _spec_copy(case: DemoCase, tmp: Path, rows: int = 300, **letters: Any) -> Path:
    """The demo credit spec with ``letters`` keys replaced, on its first ``rows`` rows
    (300 by default: most tests exercise paths, not scale), without the
    explanation-quality stage."""
    data = yaml.safe_load(case.spec_path.read_text())
    data["letters"] = {**data["letters"], **letters}
    # letters do not read the audit's explanation-quality measures: skip that stage (~3 s)
    data["explain"] = {**data.get("explain", {}), "quality": {"enabled": False}}
    data["model"]["path"] = str(case.spec_path.parent / data["model"]["path"])
    small = tmp / "credit_small.csv"
    lines = (case.spec_path.parent / data["data"]["path"]).read_text().splitlines()
    small.write_text("\n".join(lines[: rows + 1]) + "\n")
    data["data"]["path"] = str(small)
    path = tmp / "credit_audit.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def audited(credit_case: DemoCase, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One stored audit of the demo credit model (SQLite), shared by the module.

    No letter is held for review here (threshold 1): stability is test_letters_review's.
    """
    tmp = tmp_path_factory.mktemp("letters")
    url = f"sqlite:///{tmp / 'a.db'}"
    spec = _spec_copy(credit_case, tmp, rows=1000, review={"threshold": 1.0})
    outcome = perform_audit(spec, database_url=url)
    return {"url": url, "id": outcome.result.audit_id, "tmp": tmp}


def _first_adverse(url: str, audit_id: str, n: int) -> list[str]:
    with open_store(url) as s, s.session() as session:
        stored = load_decisions(session, audit_id)
    return [d for d, f in zip(stored.ids, stored.favorable, strict=True) if not f][:n]


def test_reasons_equal_independent_top_adverse_attributions(
    audited: dict[str, Any], credit_case: DemoCase
) -> None:
    ids = _first_adverse(audited["url"], audited["id"], N)
    with open_store(audited["url"]) as s:
        letters = issue_letters(s, audited["id"], decisions=",".join(ids))
    spec = load_spec(credit_case.spec_path)
    model = load_model(spec)
    assert model is not None
    with open_store(audited["url"]) as s, s.session() as session:
        stored = load_decisions(session, audited["id"])
    x = model.encode(stored.features)
    scores = model.score(x)
    # baseline recomputed here: scores in [t, t + band], closest first, at most max_rows
    above = np.flatnonzero(scores >= 0.5)
    above = above[np.argsort(scores[above], kind="stable")]
    band = np.sort(above[scores[above] <= 0.55][:25])
    rows = [stored.ids.index(d) for d in ids]
    # exact interventional TreeSHAP (its exactness against brute-force Shapley values is
    # tested in test_fast_tree_shap); this test recomputes the baseline band, the adverse
    # filter, the ranking and the reason-code mapping on its own
    values = interventional_tree_shap(model, x[rows], x[band]).values
    codes = spec.letters.reason_codes  # type: ignore[union-attr]
    protected = set(spec.protected)
    for letter, row in zip(letters, values, strict=True):
        order = [i for i in np.argsort(row, kind="stable") if row[i] < -1e-9][:4]
        expected = [(x_names := model.feature_names)[i] for i in order]
        got = [r["feature"] for r in letter.record["reasons"]]
        assert got == expected, letter.record["decision_id"]
        for r, i in zip(letter.record["reasons"], order, strict=True):
            assert r["contribution"] == pytest.approx(row[i], abs=1e-6)
            assert r["text"] == codes[x_names[i]].adverse
            assert r["feature"] not in protected
        assert letter.record["baseline"]["method"] == "interventional_tree_shap"
        # issued, or held for review when its reasons are unstable (test_letters_review)
        assert letter.record["status"] in {"issued", "needs_review"}, letter.record["failure"]
        assert letter.pdf is not None


def _moved_cost(rule: Any, old: Any, new: Any, observed: pd.Series) -> float:
    """The documented cost of one change, recomputed: share of the range (or order)."""
    if rule.order is not None:
        a, b = rule.order.index(old), rule.order.index(new)
        assert (b > a) if rule.direction == "increase" else (b < a) or rule.direction == "any"
        return float(rule.weight * abs(b - a) / (len(rule.order) - 1))
    lo = rule.min if rule.min is not None else observed.min()
    hi = rule.max if rule.max is not None else observed.max()
    assert lo <= new <= hi
    if rule.direction == "decrease":
        assert new < old
    elif rule.direction == "increase":
        assert new > old
    return float(rule.weight * abs(new - old) / (hi - lo))


def test_counterfactuals_flip_the_decision(audited: dict[str, Any], credit_case: DemoCase) -> None:
    """Over many adverse rows: each counterfactual, applied to the stored inputs, flips the
    model's decision; only actionable features change (never protected or immutable
    ones), in their allowed direction and order; the recorded cost is the documented one;
    and no cheaper single category move flips the decision."""
    ids = _first_adverse(audited["url"], audited["id"], 60)
    with open_store(audited["url"]) as s:
        letters = issue_letters(s, audited["id"], decisions=",".join(ids), kind="gdpr")
    spec = load_spec(credit_case.spec_path)
    model = load_model(spec)
    assert model is not None
    with open_store(audited["url"]) as s, s.session() as session:
        stored = load_decisions(session, audited["id"])
    cf_spec = spec.letters.counterfactual  # type: ignore[union-attr]
    actionable = cf_spec.actionable
    fixed = set(spec.protected) | set(cf_spec.immutable)
    found: dict[str, int] = {}
    for letter in letters:
        cf = letter.record["counterfactual"]
        detail = letter.record["counterfactual_detail"]
        if cf is None:
            assert letter.record["counterfactual_note"].startswith("no change to")
            assert detail["cost"] is None
            continue
        assert 1 <= len(cf) <= cf_spec.max_features
        before = stored.features.iloc[[stored.ids.index(letter.record["decision_id"])]]
        after = before.copy()
        cost = 0.0
        for feature, value in cf.items():
            assert feature in actionable
            assert feature not in fixed
            old = before[feature].iloc[0]
            cost += _moved_cost(actionable[feature], old, value, stored.features[feature])
            after[feature] = pd.Series([value], index=after.index, dtype=object)
            found[feature] = found.get(feature, 0) + 1
        changed = [c for c in before.columns if before[c].iloc[0] != after[c].iloc[0]]
        assert sorted(changed) == sorted(cf)
        assert detail["cost"] == pytest.approx(cost, abs=1e-6)
        assert model.score(model.encode(before))[0] < 0.5
        flipped = model.score(model.encode(after.astype(before.dtypes.to_dict())))[0]
        assert flipped >= 0.5
        assert detail["score"] == pytest.approx(flipped, abs=1e-6)
        # no cheaper single category move flips it (categories are few: check them all)
        for feature, rule in actionable.items():
            old = before[feature].iloc[0]
            if rule.order is None or old not in rule.order:
                continue
            for target in rule.order:
                j, k = rule.order.index(old), rule.order.index(target)
                if (k > j) != (rule.direction == "increase") or k == j:
                    continue
                if rule.weight * abs(k - j) / (len(rule.order) - 1) >= cost - 1e-9:
                    continue
                trial = before.copy()
                trial[feature] = pd.Series([target], index=trial.index, dtype=object)
                assert model.score(model.encode(trial))[0] < 0.5, (feature, target)
    # the demo spec's numeric and categorical features both produce counterfactuals
    assert found.get("duration", 0) + found.get("credit_amount", 0) >= 20
    assert found.get("checking_status", 0) + found.get("savings", 0) >= 2


def test_no_counterfactual_within_bounds_is_said(credit_case: DemoCase, tmp_path: Path) -> None:
    """A tight bound on the only actionable feature: most letters say no change exists."""
    spec = _spec_copy(
        credit_case,
        tmp_path,
        counterfactual={
            "actionable": {
                "checking_status": {
                    "direction": "increase",
                    "order": ["... < 0 DM", "0 <= ... < 200 DM"],
                    "weight": 2,
                }
            }
        },
        review={"threshold": 1.0},
    )
    url = f"sqlite:///{tmp_path / 'cf.db'}"
    audit_id = perform_audit(spec, database_url=url).result.audit_id
    ids = _first_adverse(url, audit_id, 30)
    with open_store(url) as s:
        letters = issue_letters(s, audit_id, decisions=",".join(ids), kind="gdpr")
    none = [lt for lt in letters if lt.record["counterfactual"] is None]
    some = [lt for lt in letters if lt.record["counterfactual"] is not None]
    assert none
    for lt in none:
        assert "no change to checking_status" in lt.record["counterfactual_note"]
        # the letter says it in words, naming the item by its label
        assert "We checked changes to the following items" in lt.html
        words = re.sub(r"<[^>]+>", "", lt.html)
        assert "Checking account status. None of these changes would have changed" in words
        assert lt.issued, lt.record["failure"]  # saying so satisfies the content check
    for lt in some:
        assert lt.record["counterfactual"] == {"checking_status": "0 <= ... < 200 DM"}
        assert lt.record["counterfactual_detail"]["cost"] == pytest.approx(2.0)


def test_counterfactual_spec_errors(credit_case: DemoCase, tmp_path: Path) -> None:
    def bad(actionable: dict[str, Any]) -> Path:
        return _spec_copy(credit_case, tmp_path, counterfactual={"actionable": actionable})

    with pytest.raises(SpecError, match="min, max and step are for numeric features"):
        load_spec(bad({"savings": {"direction": "increase", "order": ["a", "b"], "max": 3}}))
    with pytest.raises(SpecError, match="listed twice"):
        load_spec(bad({"savings": {"direction": "increase", "order": ["a", "a"]}}))
    with pytest.raises(SpecError, match="weight"):
        load_spec(bad({"duration": {"direction": "decrease", "weight": 0}}))
    url = f"sqlite:///{tmp_path / 'e.db'}"
    cases = {
        "savings": ({"direction": "increase"}, "categorical; list the categories"),
        "duration": ({"direction": "decrease", "order": ["4", "6"]}, "'order' is for categ"),
        "checking_status": (
            {"direction": "increase", "order": ["... < 0 DM", "a fortune"]},
            "'a fortune' is not a category the model knows for 'checking_status'",
        ),
    }
    for feature, (rule, message) in cases.items():
        audit_id = perform_audit(bad({feature: rule}), database_url=url).result.audit_id
        with open_store(url) as s:
            with pytest.raises(AuditorError, match=message):
                issue_letters(s, audit_id, decisions="adverse")
            with s.session() as session:
                assert session.query(Letter).filter_by(audit_id=audit_id).count() == 0


def test_no_protected_attribute_in_any_reason(audited: dict[str, Any]) -> None:
    with open_store(audited["url"]) as s:
        ids = _first_adverse(audited["url"], audited["id"], 80)
        letters = issue_letters(s, audited["id"], decisions=",".join(ids), kind="ai_act")
    assert len(letters) == 80
    spec_protected = {"sex", "age_band", "age", "personal_status", "foreign_worker"}
    for letter in letters:
        for r in letter.record["reasons"]:
            assert not spec_protected.intersection(r["features"])
        text = letter.html.lower()
        assert "personal status" not in text
        assert "foreign worker" not in text


def test_missing_mapping_and_forbidden_reason_name_the_feature(
    credit_case: DemoCase, tmp_path: Path
) -> None:
    data = yaml.safe_load(credit_case.spec_path.read_text())
    codes = dict(data["letters"]["reason_codes"])
    del codes["duration"]
    spec = _spec_copy(credit_case, tmp_path, reason_codes=codes)
    url = f"sqlite:///{tmp_path / 'b.db'}"
    audit_id = perform_audit(spec, database_url=url).result.audit_id
    with open_store(url) as s, pytest.raises(ReasonError, match="'duration' has no reason-code"):
        issue_letters(s, audit_id, decisions="adverse")
    spec = _spec_copy(credit_case, tmp_path, forbidden_reasons=["duration"])
    audit_id = perform_audit(spec, database_url=url).result.audit_id
    with open_store(url) as s:
        with pytest.raises(ReasonError, match="'duration' is forbidden"):
            issue_letters(s, audit_id, decisions="adverse")
        with s.session() as session:
            assert session.query(Letter).filter_by(audit_id=audit_id).count() == 0


def test_spec_rejects_protected_reason_and_unknown_features(
    credit_case: DemoCase, tmp_path: Path
) -> None:
    spec = _spec_copy(
        credit_case,
        tmp_path,
        reason_codes={"sex": {"adverse": "Sex"}, "nope": {"adverse": "Nope"}},
        counterfactual={"actionable": {"age_band": {"direction": "any"}}},
    )
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    text = str(info.value)
    assert "'sex' is a protected attribute" in text
    assert "nope" not in text  # a shared dictionary may cover features this model lacks
    assert "actionable.age_band: a protected attribute can never be changed" in text


def test_changed_model_file_is_refused(credit_case: DemoCase, tmp_path: Path) -> None:
    import shutil

    model_copy = tmp_path / "model.txt"
    shutil.copy(credit_case.spec_path.parent / "credit_lgbm.txt", model_copy)
    data = yaml.safe_load(_spec_copy(credit_case, tmp_path).read_text())
    data["model"]["path"] = str(model_copy)
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(data))
    url = f"sqlite:///{tmp_path / 'c.db'}"
    audit_id = perform_audit(spec, database_url=url).result.audit_id
    model_copy.write_text(model_copy.read_text() + "\n")
    with open_store(url) as s, pytest.raises(LetterError, match="has changed since audit"):
        issue_letters(s, audit_id)
    model_copy.unlink()
    with open_store(url) as s, pytest.raises(LetterError, match="is gone"):
        issue_letters(s, audit_id)


def test_letters_stored_on_both_backends(
    db_url: str,  # noqa: F811
    credit_case: DemoCase,
    tmp_path: Path,
) -> None:
    spec = _spec_copy(credit_case, tmp_path)
    audit_id = perform_audit(spec, database_url=db_url).result.audit_id
    ids = _first_adverse(db_url, audit_id, 3)
    with open_store(db_url) as s:
        letters = issue_letters(s, audit_id, decisions=",".join(ids))
        with s.session() as session:
            rows = session.query(Letter).filter_by(audit_id=audit_id).order_by(Letter.id).all()
            assert [r.decision_id for r in rows] == ids
            for row, letter in zip(rows, letters, strict=True):
                assert row.status == letter.record["status"]
                assert row.pdf is not None
                assert row.sha256 == letter.record["sha256"]
                assert row.reasons == letter.record["reasons"]
                assert row.baseline["kind"] == "cutoff"
                assert row.counterfactual == letter.record["counterfactual"]
                # migration 0006: what decided the status, and the counterfactual's details
                assert row.review == letter.record["review"]
                assert row.review["needed"] == (row.status == "needs_review")
                assert row.counterfactual_detail == letter.record["counterfactual_detail"]
                assert row.addressed is False


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


HEADER = ["decision_id", "name", "address_1", "address_2", "address_3"]


def test_cli_end_to_end_and_errors(audited: dict[str, Any], tmp_path: Path) -> None:
    ids = _first_adverse(audited["url"], audited["id"], 2)
    runner = CliRunner()
    out_dir, js = tmp_path / "out", tmp_path / "letters.json"
    args = ["letters", audited["id"], "--db", audited["url"], "--decisions", ",".join(ids)]
    res = runner.invoke(app, [*args, "--out", str(out_dir), "--json", str(js)])
    assert res.exit_code == 0, res.output
    records = json.loads(js.read_text())
    assert [r["decision_id"] for r in records] == ids
    for r in records:
        assert set(r) >= {"decision_id", "kind", "reasons", "baseline", "counterfactual", "sha256"}
        assert r["addressed"] is False
        # the spec's letters.review settings, recorded on the letter
        assert {k: r["review"][k] for k in ("draws", "noise", "threshold")} == {
            "draws": 8,
            "noise": 0.05,
            "threshold": 1.0,
        }
        pdf = (out_dir / f"{r['decision_id']}-reg_b.pdf").read_bytes()
        import hashlib

        assert hashlib.sha256(pdf).hexdigest() == r["sha256"]
    bad = runner.invoke(app, ["letters", "no-such-audit", "--db", audited["url"]])
    assert bad.exit_code == 2
    assert "no-such-audit" in bad.output
    assert "Traceback" not in bad.output
    bad = runner.invoke(app, [*args[:4], "--decisions", "GC-9999"])
    assert bad.exit_code == 2
    assert "GC-9999" in bad.output
    bad = runner.invoke(app, [*args, "--kind", "bogus"])
    assert bad.exit_code == 2
    assert "bogus" in bad.output


def test_cli_recipients_address_the_letters_and_bad_files_are_refused(
    audited: dict[str, Any], tmp_path: Path
) -> None:
    ids = _first_adverse(audited["url"], audited["id"], 2)
    args = ["letters", audited["id"], "--db", audited["url"], "--decisions", ",".join(ids)]
    good = _write_csv(
        tmp_path / "to.csv",
        [
            HEADER,
            [ids[0], "Maria Schmidt", "Hauptstraße 5", "10115 Berlin", ""],
            [ids[1], "Jan Novák", "Na Příkopě 12", "110 00 Praha 1", "Czech Republic"],
            ["GC-0001", "Not selected", "Somewhere 1", "", ""],  # in the audit: ignored
        ],
    )
    js = tmp_path / "letters.json"
    runner = CliRunner()
    res = runner.invoke(app, [*args, "--recipients", str(good), "--json", str(js)])
    assert res.exit_code == 0, res.output
    records = {r["decision_id"]: r for r in json.loads(js.read_text())}
    assert all(r["addressed"] is True for r in records.values())
    # the name and address are in the letter, never in its record or the event log
    assert "Maria" not in js.read_text()
    assert "Novák" not in js.read_text()
    from auditor.store.models import Decision, Event

    with open_store(audited["url"]) as s, s.session() as session:
        rows = {r.decision_id: r for r in session.query(Letter).filter(Letter.addressed.is_(True))}
        assert set(rows) == set(ids)
        assert "Maria Schmidt" in rows[ids[0]].html
        assert "10115 Berlin" in rows[ids[0]].html
        assert "Praha 1" in rows[ids[1]].html
        for r in rows.values():
            for col in ("reasons", "baseline", "counterfactual", "checks", "review", "failure"):
                assert "Schmidt" not in json.dumps(getattr(r, col))
        events = [e.payload for e in session.query(Event)]
        assert not any("Schmidt" in e for e in events)
        features = [json.dumps(d.features) for d in session.query(Decision)]
        assert not any("Schmidt" in f for f in features)
        before = session.query(Letter).count()

    def refused(rows: list[list[str]], *needles: str, raw: bytes | None = None) -> None:
        path = tmp_path / "bad.csv"
        if raw is not None:
            path.write_bytes(raw)
        else:
            _write_csv(path, rows)
        res = runner.invoke(app, [*args, "--recipients", str(path)])
        assert res.exit_code == 2, res.output
        assert "Traceback" not in res.output
        text = " ".join(res.output.split())
        for needle in needles:
            assert needle in text, (needle, res.output)

    a, b = ids
    refused([HEADER, [a, "A", "x", "", ""], ["", "B", "y", "", ""]], "line 3", "no decision_id")
    refused([HEADER, [a, "A", "x", "", ""], [a, "B", "y", "", ""]], f"'{a}' is listed twice")
    refused([HEADER, [a, "A", "x", "", ""], ["GC-9999", "B", "y", "", ""]], "'GC-9999'", "not in")
    refused([HEADER, [a, "A", "x", "", ""]], "no recipient for 1 selected", f"'{b}'")
    refused([HEADER, [a, "", "x", "", ""], [b, "B", "y", "", ""]], "line 2", "no name")
    refused([HEADER, [a, "A", "", "", ""], [b, "B", "y", "", ""]], "line 2", "no address")
    refused([["decision_id", "name"], [a, "A"]], "missing column(s) address_1")
    refused([HEADER, [a, "A\x00", "x", "", ""]], "line 2, column name", "control")
    refused([HEADER, [a, "A" * 501, "x", "", ""]], "line 2, column name", "501 characters")
    refused([], "not UTF-8", raw="decision_id,name,address_1\nGC,\xe9,x\n".encode("latin-1"))
    res = runner.invoke(app, [*args, "--recipients", str(tmp_path / "missing.csv")])
    assert res.exit_code == 2
    assert "missing.csv" in res.output
    with open_store(audited["url"]) as s, s.session() as session:
        assert session.query(Letter).count() == before  # nothing half-written


def _pdf_text(pdf: bytes) -> str:
    import subprocess

    done = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True)
    return done.stdout.decode()


def _pdf_pages(pdf: bytes) -> int:
    import subprocess

    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout
    return int(next(ln for ln in info.decode().splitlines() if ln.startswith("Pages:")).split()[1])


def test_hostile_recipient_text_renders_as_text(credit_case: DemoCase, tmp_path: Path) -> None:
    """Names and addresses with markup, CSS, URLs, right-to-left and very long text print as
    typed, fetch nothing and keep the letter to its normal length (checked as PNGs too)."""
    import subprocess

    from auditor.letters.recipients import read_recipients

    spec = _spec_copy(credit_case, tmp_path, review={"threshold": 1.0})
    url = f"sqlite:///{tmp_path / 'r.db'}"
    audit_id = perform_audit(spec, database_url=url).result.audit_id
    plain_id, hostile_id = _first_adverse(url, audit_id, 2)
    hostile_name = '<img src="http://evil.invalid/x.png">Eve</style><script>alert(1)</script>'
    path = _write_csv(
        tmp_path / "to.csv",
        [
            HEADER,
            [plain_id, "Maria Schmidt", "Hauptstraße 5", "10115 Berlin", "Germany"],
            [
                hostile_id,
                hostile_name,
                "url(file:///etc/passwd); background: url(http://evil.invalid/b.png)",
                "\u202eknaB lilE\u202c مرحبا بكم في البنك https://evil.invalid/@import",
                "W" * 480,
            ],
        ],
    )
    recipients = read_recipients(path)
    with open_store(url) as s:
        plain, hostile = issue_letters(
            s, audit_id, decisions=f"{plain_id},{hostile_id}", recipients=recipients
        )
    assert plain.issued
    assert hostile.issued
    assert "<img" not in hostile.html
    assert "<script>" not in hostile.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile.html
    assert hostile.pdf is not None
    assert plain.pdf is not None
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=hostile.pdf, capture_output=True, check=True
    ).stdout.decode()
    flat = "".join(text.split())
    assert "".join(hostile_name.split()) in flat  # the name prints as typed
    assert "Dear" in text
    assert "W" * 40 in text
    # the long address wraps inside the page: at most one page more than the plain letter
    assert _pdf_pages(hostile.pdf) <= _pdf_pages(plain.pdf) + 1 <= 3
    png = tmp_path / "hostile"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", "-", str(png)],
        input=hostile.pdf,
        check=True,
    )
    assert list(tmp_path.glob("hostile*.png"))


def test_content_check_blocks_a_letter_and_stores_the_failure(
    credit_case: DemoCase, tmp_path: Path
) -> None:
    data = yaml.safe_load(credit_case.spec_path.read_text())
    codes = {
        k: {**v, "adverse": "Credit score too low"}
        for k, v in data["letters"]["reason_codes"].items()
    }
    spec = _spec_copy(credit_case, tmp_path, reason_codes=codes)
    url = f"sqlite:///{tmp_path / 'g.db'}"
    audit_id = perform_audit(spec, database_url=url).result.audit_id
    ids = _first_adverse(url, audit_id, 1)
    with open_store(url) as s:
        (letter,) = issue_letters(s, audit_id, decisions=ids[0], out_dir=tmp_path / "o")
        assert not letter.issued
        assert "REGB-9B2-SPECIFIC-REASONS" in letter.record["failure"]
        assert "generic" in letter.record["failure"]
        with s.session() as session:
            row = session.query(Letter).filter_by(audit_id=audit_id).one()
            assert row.status == "blocked"
            assert row.failure
    # rendered for the reviewer, but never in --out itself, and marked on every page
    assert not list((tmp_path / "o").glob("*.pdf"))
    (written,) = (tmp_path / "o" / "blocked").glob("*.pdf")
    pages = _pdf_text(written.read_bytes()).split("\f")
    pages = [page for page in pages if page.strip()]
    assert pages
    assert all("BLOCKED — NOT FOR MAILING" in page for page in pages)


def test_no_letters_without_a_letters_section(tmp_path: Path, credit_case: DemoCase) -> None:
    # the module's smaller audit (300 rows, no explanation-quality stage: 53 s -> a few
    # on the shared machine); what is checked is only that no decisions were stored
    data = yaml.safe_load(_spec_copy(credit_case, tmp_path).read_text())
    del data["letters"]
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(data))
    url = f"sqlite:///{tmp_path / 'n.db'}"
    audit_id = perform_audit(spec, database_url=url).result.audit_id
    with open_store(url) as s, pytest.raises(AuditorError, match="no stored decisions"):
        issue_letters(s, audit_id)


def test_hiring_notices_from_a_torch_model(hiring_case: DemoCase, tmp_path: Path) -> None:
    """PyTorch path: integrated gradients from the baseline mean; counterfactuals verified."""
    data = yaml.safe_load(hiring_case.spec_path.read_text())
    folder = hiring_case.spec_path.parent
    rows = (folder / data["data"]["path"]).read_text().splitlines()[:601]
    (tmp_path / "hiring.csv").write_text("\n".join(rows) + "\n")
    data["data"]["path"] = str(tmp_path / "hiring.csv")
    data["model"]["path"] = str(folder / data["model"]["path"])
    text = {
        "years_experience": "Years of relevant experience",
        "education_level": "Level of education completed",
        "skills_test": "Result of the skills test",
        "interview_score": "Interview assessment score",
        "certifications": "Number of professional certifications",
    }
    data["letters"] = {
        "kinds": ["hiring"],
        "organisation": {"name": "Example Corp", "address": "1 Plaza\nNew York, NY"},
        "contact": "Write to careers@example.com to ask for a review.",
        "reason_codes": {k: {"adverse": v} for k, v in text.items()},
        "counterfactual": {
            "actionable": {"skills_test": {"direction": "increase", "max": 100, "step": 1}}
        },
    }
    url = f"sqlite:///{tmp_path / 'h.db'}"
    # the injected disparity runs through area_code: forbidden, it cannot be left out
    data["letters"]["forbidden_reasons"] = ["area_code"]
    spec = tmp_path / "hiring.yaml"
    spec.write_text(yaml.safe_dump(data))
    audit_id = perform_audit(spec, database_url=url).result.audit_id
    ids = _first_adverse(url, audit_id, 40)
    with open_store(url) as s, pytest.raises(ReasonError, match="'area_code' is forbidden"):
        issue_letters(s, audit_id, decisions=",".join(ids))
    # disclosed instead: the letters state it when it is a principal reason
    data["letters"]["forbidden_reasons"] = []
    data["letters"]["reason_codes"]["area_code"] = {"adverse": "The area code of your address"}
    spec.write_text(yaml.safe_dump(data))
    audit_id = perform_audit(spec, database_url=url).result.audit_id
    with open_store(url) as s:
        letters = issue_letters(s, audit_id, decisions=",".join(ids))
    model = load_model(load_spec(spec))
    assert model is not None
    for letter in letters:
        assert letter.record["baseline"]["method"] == "integrated_gradients"
        assert letter.record["baseline"]["additivity_error"] < 1e-2
        contributions = [r["contribution"] for r in letter.record["reasons"]]
        assert contributions == sorted(contributions)
        assert all(c < 0 for c in contributions)
        cf = letter.record["counterfactual"]
        if cf is not None:
            with open_store(url) as s, s.session() as session:
                stored = load_decisions(session, audit_id)
            row = stored.features.iloc[[stored.ids.index(letter.record["decision_id"])]].copy()
            row["skills_test"] = cf["skills_test"]
            assert model.score(model.encode(row))[0] >= 0.4


def test_permutation_estimator_for_other_models_matches_a_loop(credit_case: DemoCase) -> None:
    """The sampled estimator used for models without a tree engine, against the loop."""
    from auditor.letters.attribution import _permutation

    spec = load_spec(credit_case.spec_path)
    model = load_model(spec)
    assert model is not None
    frame = pd.read_csv(credit_case.spec_path.parent / spec.data.path).head(40)
    x = model.encode(frame[spec.columns.features])
    got = _permutation(model, x[:5], x[20:26], permutations=6, seed=3)
    want = _permutation_shapley(model.output, x[:5], x[20:26], permutations=6, seed=3)
    np.testing.assert_allclose(got.values, want, atol=1e-9)
    assert got.additivity_error < 1e-9
