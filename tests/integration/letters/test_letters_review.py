"""Letters whose principal reasons are unstable are held for human review, not issued."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import SpecError
from auditor.letters.review import MeasurementNoise, review_reasons
from auditor.letters.service import issue_letters
from auditor.letters.settings import ReviewSpec
from auditor.service import perform_audit
from auditor.spec import load_spec
from auditor.store import open_store, verify
from auditor.store.models import Letter


def _explain(rows: np.ndarray) -> np.ndarray:
    # two adverse reasons; their sizes follow the two inputs
    return -np.column_stack([1.0 + rows[:, 0], 1.0 + rows[:, 1]])


def _principal(values: np.ndarray) -> list[list[int]]:
    return [[int(np.argmin(v))] for v in values]  # one principal reason


def test_nearly_equal_top_reasons_are_caught() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(500, 2))
    x = np.array([[0.0, 0.001], [3.0, -3.0]])  # a near tie, and a clear winner
    # 40 copies: a near tie changes on about half of them (8 could show 2 by chance)
    settings = ReviewSpec(draws=40)
    result = review_reasons(_explain, _principal, x, _explain(x), reference, k=1, settings=settings)
    assert result.needs_review.tolist() == [True, False]
    assert result.changed_share[0] > 0.25
    assert result.changed_share[1] == 0.0
    assert result.near_tie.tolist() == [True, False]
    assert result.record(0)["needed"] is True


def _spec(case: Any, tmp: Path, **review_keys: Any) -> Path:
    data = yaml.safe_load(case.spec_path.read_text())
    data["letters"]["review"] = review_keys
    for key in ("model", "data"):
        data[key]["path"] = str(case.spec_path.parent / data[key]["path"])
    path = tmp / "credit_review.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def audit(credit_case: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    tmp = tmp_path_factory.mktemp("review")
    url = f"sqlite:///{tmp / 'a.db'}"
    outcome = perform_audit(credit_case.spec_path, database_url=url)
    return url, outcome.result.audit_id


def _adverse_ids(url: str, audit_id: str, n: int) -> str:
    from auditor.store.decisions import load_decisions

    with open_store(url) as s, s.session() as session:
        stored = load_decisions(session, audit_id)
    ids = [d for d, f in zip(stored.ids, stored.favorable, strict=True) if not f][:n]
    return ",".join(ids)


def test_every_adverse_letter_records_its_review(audit: tuple[str, str]) -> None:
    url, audit_id = audit
    with open_store(url) as s:
        letters = issue_letters(s, audit_id, decisions=_adverse_ids(url, audit_id, 12))
        with s.session() as session:
            stored = {
                r.decision_id: r.review for r in session.query(Letter).filter_by(audit_id=audit_id)
            }
            # real letters, decisions and the audit's rows are sealed and verify clean
            assert verify(session).ok, verify(session).problems
    assert len(letters) == 12
    held = [lt for lt in letters if lt.record["status"] == "needs_review"]
    assert all(lt.pdf is not None and not lt.issued for lt in held)
    # held only on the principal reason: a minority (bench/bench_letters_review.py: 52 of
    # the demo's 266 adverse letters)
    assert len(held) <= 6
    for lt in letters:
        rv = lt.record["review"]
        assert 0.0 <= rv["changed_share"] <= 1.0
        assert 0.0 <= rv["reasons_changed_share"] <= 1.0
        assert lt.record["status"] == ("needs_review" if rv["needed"] else "issued")
        # defaults of letters.review, recorded with the letter and stored (migration 0006);
        # the demo spec declares the loan term exact
        assert (rv["draws"], rv["noise"], rv["threshold"], rv["scale"]) == (
            8,
            0.05,
            0.25,
            "value",
        )
        assert rv["measurement"] == {"duration": 0.0}
        assert rv["criterion"] == "principal reason"
        assert stored[lt.record["decision_id"]] == rv


def test_review_settings_come_from_the_spec(
    credit_case: Any, tmp_path: Path, audit: tuple[str, str]
) -> None:
    """threshold 0 and large noise: a letter is held exactly when any copy changed."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    spec = _spec(credit_case, tmp_path, draws=5, noise=0.5, threshold=0.0)
    audit_id = perform_audit(spec, database_url=url).result.audit_id
    out = tmp_path / "letters"
    ids = _adverse_ids(url, audit_id, 6)
    res = CliRunner().invoke(
        app, ["letters", audit_id, "--db", url, "--decisions", ids, "--out", str(out)]
    )
    assert res.exit_code == 1, res.output
    assert "held for human review" in res.output
    with open_store(url) as s:
        letters = issue_letters(s, audit_id, decisions=ids)
    assert len(letters) == 6
    held = [lt for lt in letters if lt.record["status"] == "needs_review"]
    assert held
    for lt in letters:
        rv = lt.record["review"]
        assert (rv["draws"], rv["noise"], rv["threshold"]) == (5, 0.5, 0.0)
        # a share within one copy of the threshold is re-checked on 2 x 5 more copies
        used = rv.get("rechecked_draws", 5)
        assert used in (5, 15)
        assert rv["changed_share"] in {round(k / used, 4) for k in range(used + 1)}
        assert (lt.record["status"] == "needs_review") == (rv["changed_share"] > 0)
    assert all(lt.pdf is not None and not lt.issued for lt in held)
    # the batch's hold rate, printed and written beside the letters
    summary = json.loads((out / "letters-summary.json").read_text())
    assert summary["reviewed"] == 6
    assert summary["held"] == len(held)
    assert summary["hold_rate"] == round(len(held) / 6, 4)
    assert f"{len(held)} of 6 adverse letter(s) held" in res.output
    # --out holds the issued letters only; held ones are in held/, marked on every page
    issued = {lt.record["decision_id"] for lt in letters if lt.issued}
    assert {p.name.rsplit("-", 1)[0] for p in out.glob("*.pdf")} == issued
    assert {p.name.rsplit("-", 1)[0] for p in (out / "held").glob("*.pdf")} == {
        lt.record["decision_id"] for lt in held
    }
    for path in (out / "held").glob("*.pdf"):
        text = subprocess.run(
            ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
        pages = [page for page in text.split("\f") if page.strip()]
        assert pages
        assert all("HELD FOR REVIEW — NOT FOR MAILING" in page for page in pages)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"draws": 0}, "letters.review.draws"),
        ({"noise": 0}, "letters.review.noise"),
        ({"threshold": 1.5}, "letters.review.threshold"),
        ({"treshold": 0.2}, "letters.review.treshold"),
    ],
)
def test_review_settings_are_validated(
    credit_case: Any, tmp_path: Path, keys: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError, match=message.replace(".", r"\.")):
        load_spec(_spec(credit_case, tmp_path, **keys))


def _small_spec(case: Any, tmp: Path, rows: int, **review_keys: Any) -> Path:
    path = _spec(case, tmp, **review_keys)
    data = yaml.safe_load(path.read_text())
    lines = Path(data["data"]["path"]).read_text().splitlines()
    (tmp / "small.csv").write_text("\n".join(lines[: rows + 1]) + "\n")
    data["data"]["path"] = str(tmp / "small.csv")
    data["explain"] = {**data.get("explain", {}), "quality": {"enabled": False}}
    path.write_text(yaml.safe_dump(data))
    return path


def test_review_outcome_is_the_decisions_own_whatever_the_batch(
    credit_case: Any, tmp_path: Path
) -> None:
    """Alone, in a pair, in the whole batch: the same draws, the same review record
    (the draws are seeded from the spec's seed and the decision id)."""
    url = f"sqlite:///{tmp_path / 'b.db'}"
    # large noise so that some decisions are held and shares are not all 0
    spec = _small_spec(credit_case, tmp_path, 250, noise=0.3, threshold=0.0)
    audit_id = perform_audit(spec, database_url=url).result.audit_id
    with open_store(url) as s:
        batch = {lt.record["decision_id"]: lt.record for lt in issue_letters(s, audit_id)}
        ids = list(batch)
        chosen = [ids[-1], ids[len(ids) // 2], ids[0]]
        for decision in chosen:
            (alone,) = issue_letters(s, audit_id, decisions=decision)
            assert alone.record["review"] == batch[decision]["review"]
            assert alone.record["status"] == batch[decision]["status"]
        pair = issue_letters(s, audit_id, decisions=f"{chosen[0]},{chosen[1]}")
        for lt in pair:
            assert lt.record["review"] == batch[lt.record["decision_id"]]["review"]
    shares = {r["review"]["changed_share"] for r in batch.values()}
    assert len(shares) > 1  # the check is not vacuous: outcomes differ between decisions


def test_only_a_changed_principal_reason_holds_a_letter() -> None:
    """Two nearly tied lesser reasons swap on every copy: recorded, not held; the
    principal reason is far ahead and never changes."""

    def explain(rows: np.ndarray) -> np.ndarray:
        return -np.column_stack([5.0 + 0 * rows[:, 0], 1.0 + rows[:, 0], 1.0 + rows[:, 1]])

    def principal(values: np.ndarray) -> list[list[int]]:
        return [[int(i) for i in np.argsort(v)[:2]] for v in values]

    rng = np.random.default_rng(1)
    reference = rng.normal(size=(400, 2))
    x = np.array([[0.0, 0.0005]])
    result = review_reasons(
        explain,
        principal,
        x,
        explain(x),
        reference,
        k=2,
        ids=["A-1"],
        settings=ReviewSpec(draws=40),
    )
    assert result.changed_share.tolist() == [0.0]
    assert result.needs_review.tolist() == [False]
    assert result.reasons_changed_share is not None
    assert result.reasons_changed_share[0] > 0.25
    assert result.record(0)["principal_margin"] == pytest.approx(0.8, abs=1e-3)


def test_measurement_noise_is_calibrated_per_feature() -> None:
    """Amounts move by a share of their own value (zero stays zero, whole stays whole);
    whole numbers below an amount's size (terms, ages, hours), discrete items and
    categories never; a value rounded to 3 decimals within its last half unit; a
    full-precision value by a share of itself; a declared standard deviation wins;
    unknown features are named."""
    from auditor.explain.quality.stability import FeatureNoise
    from auditor.letters.review import calibrated

    rng = np.random.default_rng(0)
    amount = rng.integers(250, 20000, 400).astype(float)  # whole currency units
    ratio = rng.uniform(0, 1, 400)  # full precision
    term = rng.integers(4, 72, 400).astype(float)  # whole months: recorded exactly
    rate = rng.integers(1, 5, 400).astype(float)  # four values: discrete
    dti = np.round(rng.uniform(0, 0.9, 400), 3)  # recorded to 0.001
    code = rng.integers(0, 40, 400).astype(float)  # a category's codes
    hours = rng.integers(1, 99, 400).astype(float)
    reference = np.column_stack([amount, ratio, term, rate, dti, code, hours])
    base = FeatureNoise.from_reference(reference, 0.05)
    names = ["amount", "ratio", "term", "rate", "dti", "code", "hours"]
    noise = calibrated(base, names, ReviewSpec(measurement={"hours": 2.0}), categorical=["code"])
    x = np.array(
        [[0.0, 0.5, 24.0, 3.0, 0.325, 7.0, 40.0], [10000.0, 0.0, 36.0, 2.0, 0.0, 3.0, 20.0]]
    )
    z = np.random.default_rng(1).standard_normal((2000, 2, 7))
    moved = np.stack([noise.shift(x, zi) for zi in z])
    assert np.all(moved[:, 0, 0] == 0.0)  # a zero amount stays zero
    assert np.all(moved[:, 1, 1] == 0.0)
    for j in (2, 3, 5):  # whole months, discrete, category codes: as recorded
        assert np.all(moved[..., j] == x[None, :, j])
    assert np.all(moved[:, 1, 0] == np.round(moved[:, 1, 0]))  # whole stays whole
    assert np.std(moved[:, 1, 0]) == pytest.approx(500.0, rel=0.1)  # 5% of 10,000
    assert np.std(moved[:, 0, 1]) == pytest.approx(0.025, rel=0.1)  # 5% of 0.5
    # recorded to 0.001: anywhere within half a unit of the last decimal, never beyond
    assert np.all(np.abs(moved[..., 4] - x[None, :, 4]) < 0.0005)
    assert np.std(moved[:, 0, 4]) == pytest.approx(0.001 / np.sqrt(12), rel=0.1)
    assert np.std(moved[:, 0, 6]) == pytest.approx(2.0, rel=0.1)  # declared, in hours
    with pytest.raises(ValueError, match=r"letters\.review\.measurement: income"):
        calibrated(base, names, ReviewSpec(measurement={"income": 1.0}))


def test_a_near_tie_is_a_lead_within_the_spread_not_a_jump() -> None:
    """Two reasons the noise swaps smoothly: held, a near tie. A clear lead lost only when
    the input crosses a split point (a jump in a minority of copies): held, not a tie."""

    def explain(rows: np.ndarray) -> np.ndarray:
        # row 0's reasons follow its input smoothly; row 1's first reason drops from 3 to
        # 0 once its input passes 0.4 (a tree's split point: about a third of the copies)
        smooth = np.column_stack([1.0 + rows[:, 0], 1.0 - rows[:, 0]])
        jump = np.column_stack([np.where(rows[:, 0] > 0.4, 0.0, 3.0), np.full(len(rows), 2.0)])
        return -np.where((rows[:, 1] > 0.5)[:, None], jump, smooth)

    x = np.array([[0.0, 0.0], [0.0, 1.0]])
    noise = MeasurementNoise(np.array([1.0, 0.0]), np.zeros(2), np.zeros(2, dtype=bool))
    result = review_reasons(
        explain,
        _principal,
        x,
        explain(x),
        noise,
        k=1,
        ids=["T-1", "J-1"],
        settings=ReviewSpec(draws=40),
    )
    assert result.needs_review.tolist() == [True, True]
    assert result.near_tie.tolist() == [True, False]
    record = result.record(1)
    assert record["principal_lead"] == pytest.approx(1.0)
    assert record["lead_spread"] == pytest.approx(0.0)
