"""The sample screeners, the loopback server and section attributions, end to end.

The two sample screeners are trained once for the module (a few seconds on one core)."""

from __future__ import annotations

import csv
import json
import math
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from auditor.errors import DataValidationError, ModelLoadError
from auditor.screener import sample_model as sm
from auditor.screener.loopback import LoopbackServer, serve_sample_screener
from auditor.screener.names import load_name_table
from auditor.screener.paired import paired_effects, repeat_consistency
from auditor.screener.sample import (
    NAME_PENALTY_LOGIT,
    TEXT_FIELDS,
    SampleScreeners,
    expected_selection_rates,
    generate_applications,
    score_records,
    train_sample_screeners,
    write_applications,
)
from auditor.screener.sections import probe_effect_by_section, section_attributions

N_APPS = 80


@pytest.fixture(scope="module")
def screeners(tmp_path_factory: pytest.TempPathFactory) -> SampleScreeners:
    return train_sample_screeners(tmp_path_factory.mktemp("screeners"))


@pytest.fixture(scope="module")
def apps() -> list[dict[str, object]]:
    return generate_applications(N_APPS, seed=0)


def _name_variants(apps: list[dict[str, object]]) -> pd.DataFrame:
    """Each application with 2 names per sex x race cell (the probe h23a builds, in small)."""
    table = load_name_table()
    rows = []
    for i, app in enumerate(apps):
        for sex in ("Female", "Male"):
            for race in ("Black or African American", "White"):
                for v in range(2):
                    first = table.first_names(sex)[(i + v) % 50]
                    last = table.surnames(race)[(3 * i + v) % 50]
                    rows.append(
                        {
                            **app,
                            "name": f"{first} {last}",
                            "_sex": sex,
                            "_race": race,
                            "_variant": f"{sex}|{race}|{v}",
                        }
                    )
    return pd.DataFrame(rows)


def _scored(variants: pd.DataFrame, model: Path) -> pd.DataFrame:
    records = variants.drop(columns=["_sex", "_race", "_variant"]).to_dict("records")
    scores = score_records(records, model)
    return pd.DataFrame(
        {
            "application_id": variants["id"],
            "probe": "name",
            "variant": variants["_variant"],
            "sex": variants["_sex"],
            "race_ethnicity": variants["_race"],
            "repeat": 0,
            "score": scores,
            "selected": [s >= 0.5 for s in scores],
        }
    )


def test_applications_are_seeded_and_written_as_csv_and_jsonl(tmp_path: Path) -> None:
    a, b = generate_applications(50, seed=4), generate_applications(50, seed=4)
    assert a == b
    assert a != generate_applications(50, seed=5)
    assert any(r["skills"] is None for r in generate_applications(200, seed=0))
    assert all(str(r["graduation_year"]) in str(r["education"]) for r in a)
    csv_path, jsonl_path = write_applications(a, tmp_path)
    back = [json.loads(line) for line in jsonl_path.read_text().splitlines()]
    assert back == a
    with csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == [r["id"] for r in a]
    missing = next(i for i, r in enumerate(a) if r["skills"] is None or r["references"] is None)
    assert "" in (rows[missing]["skills"], rows[missing]["references"])


def test_injected_name_effect_is_found_with_an_interval_excluding_zero(
    screeners: SampleScreeners, apps: list[dict[str, object]]
) -> None:
    scored = _scored(_name_variants(apps), screeners.injected)
    effects = {
        (e.attribute, e.group): e
        for e in paired_effects(scored, ["sex", "race_ethnicity"], resamples=2000)
    }
    for key in (("sex", "Female"), ("race_ethnicity", "Black or African American")):
        effect = effects[key]
        assert effect.ci_high < 0, effect
        assert effect.p_value < 0.001
        assert effect.selection_rate_difference is not None
        assert effect.selection_rate_difference < 0
    both = effects[("sex & race_ethnicity", "Female & Black or African American")]
    assert both.mean_difference < effects[("sex", "Female")].mean_difference
    # one penalised token (a female first name, a White surname) against none: the selection
    # rates are exactly those the documented logit shift predicts
    base, lowered = expected_selection_rates(apps, screeners.injected)
    white_women = effects[("sex & race_ethnicity", "Female & White")]
    assert white_women.reference == "Male & White"
    assert white_women.reference_selection_rate == pytest.approx(base, abs=1e-12)
    assert white_women.group_selection_rate == pytest.approx(lowered, abs=1e-12)
    assert lowered / base < 0.9


def test_injected_effect_is_exactly_the_documented_logit(
    screeners: SampleScreeners, apps: list[dict[str, object]]
) -> None:
    app = apps[3]
    names = ["Jennifer Olson", "Michael Olson", "Michael Smalls", "Jennifer Smalls"]
    scores = score_records([{**app, "name": n} for n in names], screeners.injected)
    logit = [math.log(s / (1 - s)) for s in scores]
    assert logit[0] - logit[1] == pytest.approx(-NAME_PENALTY_LOGIT, abs=1e-4)
    assert logit[2] - logit[1] == pytest.approx(-NAME_PENALTY_LOGIT, abs=1e-4)
    assert logit[3] - logit[1] == pytest.approx(-2 * NAME_PENALTY_LOGIT, abs=1e-4)


def test_clean_screener_difference_is_exactly_zero(
    screeners: SampleScreeners, apps: list[dict[str, object]]
) -> None:
    scored = _scored(_name_variants(apps), screeners.clean)
    effects = paired_effects(scored, ["sex", "race_ethnicity"], resamples=500)
    assert effects
    for effect in effects:
        assert effect.mean_difference == 0.0
        assert (effect.ci_low, effect.ci_high) == (0.0, 0.0)
        assert effect.p_value == 1.0
    # and the clean screener still reads the applications: scores vary with merit
    assert scored["score"].std() > 0.1


def test_loopback_server_returns_the_callables_scores(
    screeners: SampleScreeners, apps: list[dict[str, object]]
) -> None:
    direct = score_records(apps[:10], screeners.injected)
    with serve_sample_screener(screeners.injected, api_key="k") as server:
        over_http = _post(server.score_url, {"records": apps[:10]}, key="k")["scores"]
        assert over_http == direct
        chat = []
        for app in apps[:3]:
            prompt = f"Rate this application from 0 to 1.\n{json.dumps(app)}"
            reply = _post(
                server.chat_url,
                {
                    "model": "m",
                    "messages": [
                        {"role": "system", "content": "You screen resumes."},
                        {"role": "user", "content": prompt},
                    ],
                },
                key="k",
            )
            chat.append(float(reply["choices"][0]["message"]["content"]))
        assert chat == direct[:3]
        # a template that writes one "Label: value" line per field
        lines = "\n".join(
            f"{k.replace('_', ' ').capitalize()}: {'' if v is None else v}"
            for k, v in apps[0].items()
        )
        reply = _post(server.chat_url, {"messages": [{"role": "user", "content": lines}]}, key="k")
        assert float(reply["choices"][0]["message"]["content"]) == direct[0]
        with pytest.raises(urllib.error.HTTPError, match="401"):
            _post(server.score_url, {"records": []}, key="wrong")
        assert server.requests == 5


def test_loopback_rejects_malformed_bodies() -> None:
    with LoopbackServer(lambda records: [0.5] * len(records)) as server:
        with pytest.raises(urllib.error.HTTPError, match="400"):
            _post(server.score_url, {"rows": []})
        with pytest.raises(urllib.error.HTTPError, match="400"):
            _post(server.chat_url, {"messages": [{"role": "user", "content": "hello"}]})


def test_a_noisy_loopback_server_is_a_stochastic_screener(
    screeners: SampleScreeners, apps: list[dict[str, object]]
) -> None:
    rows = []
    with serve_sample_screener(screeners.clean, noise_sd=0.05, seed=3) as server:
        for repeat in range(6):
            scores = _post(server.score_url, {"records": apps[:20]})["scores"]
            assert isinstance(scores, list)
            rows += [
                {
                    "application_id": a["id"],
                    "probe": "none",
                    "variant": "original",
                    "repeat": repeat,
                    "score": s,
                    "selected": s >= 0.5,
                }
                for a, s in zip(apps[:20], scores, strict=True)
            ]
    summary = repeat_consistency(pd.DataFrame(rows))
    assert summary.units == 20
    assert summary.repeats == 6
    assert 0.03 < summary.mean_sd < 0.07


def _post(url: str, body: dict[str, object], key: str | None = None) -> dict[str, object]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_section_attributions_three_methods_agree_on_the_linear_screener(
    screeners: SampleScreeners, apps: list[dict[str, object]]
) -> None:
    def score(records: list[dict[str, object]]) -> list[float]:
        return score_records(records, screeners.clean)

    loo = section_attributions(score, apps, TEXT_FIELDS)
    occ = section_attributions(score, apps, TEXT_FIELDS, method="occlusion", window=4)
    grad = section_attributions(score, apps, TEXT_FIELDS, method="gradient", model=screeners.clean)
    assert loo.calls == N_APPS + sum(s.applications for s in loo.sections)
    assert grad.calls == 0
    # on a linear screener the three methods measure nearly the same thing: leave-one-out
    # and occlusion differ only through the sigmoid, gradients are their first-order term
    for a, o, g in zip(loo.sections, occ.sections, grad.sections, strict=True):
        assert a.section == o.section == g.section
        assert a.ci_low <= a.mean <= a.ci_high
        assert o.mean == pytest.approx(a.mean, abs=0.3 * abs(a.mean) + 0.01)
        assert g.mean == pytest.approx(a.mean, abs=0.3 * abs(a.mean) + 0.01)
    assert max(abs(s.mean) for s in loo.sections) > 0.1  # the sections do move the score
    with pytest.raises(ValueError, match="unknown attribution method"):
        section_attributions(score, apps, TEXT_FIELDS, method="shap")


def test_the_name_effect_runs_through_the_name_and_no_other_section(
    screeners: SampleScreeners, apps: list[dict[str, object]]
) -> None:
    def score(records: list[dict[str, object]]) -> list[float]:
        return score_records(records, screeners.injected)

    group = [{**a, "name": "Latoya Smalls"} for a in apps]
    reference = [{**a, "name": "Mark Olson"} for a in apps]
    effects = {
        e.removed: e
        for e in probe_effect_by_section(score, group, reference, ["name", "summary", "skills"])
    }
    assert effects[None].ci_high < 0
    assert effects["name"].mean_difference == 0.0
    assert effects["skills"].ci_high < 0
    # attributions see the name too: all three methods put a negative weight on it
    for method in ("leave_one_out", "occlusion", "gradient"):
        found = section_attributions(
            score, group, ["name", "skills"], method=method, model=screeners.injected
        )
        name = found.sections[0]
        assert name.section == "name"
        assert name.ci_high < 0, method


def test_saved_screener_round_trips_and_bad_files_are_refused(
    screeners: SampleScreeners, tmp_path: Path
) -> None:
    model = sm.load(screeners.injected)
    assert model.config.name_penalty == NAME_PENALTY_LOGIT
    assert (screeners.injected / sm.CONFIG_FILE).is_file()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / sm.CONFIG_FILE).write_text('{"format": "something else"}')
    (bad / sm.WEIGHTS_FILE).write_bytes(b"not a state dict")
    with pytest.raises(ModelLoadError, match="not a sample screener config"):
        sm.load(bad)
    (bad / sm.CONFIG_FILE).write_text((screeners.clean / sm.CONFIG_FILE).read_text())
    with pytest.raises(ModelLoadError, match="not the state dict"):
        sm.load(bad)


def test_a_non_numeric_structured_field_is_named(screeners: SampleScreeners) -> None:
    record = {**generate_applications(1, seed=0)[0], "years_experience": "ten"}
    with pytest.raises(DataValidationError, match=r"A0000.*years_experience.*'ten'"):
        score_records([record], screeners.clean)
    with (
        serve_sample_screener(screeners.clean) as server,
        pytest.raises(urllib.error.HTTPError, match="400") as caught,
    ):
        _post(server.score_url, {"records": [record]})
    assert "years_experience" in caught.value.read().decode()


def test_training_is_deterministic(tmp_path: Path) -> None:
    a = train_sample_screeners(tmp_path / "a", n_train=300)
    b = train_sample_screeners(tmp_path / "b", n_train=300)
    apps = generate_applications(20, seed=9)
    assert score_records(apps, a.injected) == score_records(apps, b.injected)
    assert score_records(apps, a.clean) == score_records(apps, b.clean)
