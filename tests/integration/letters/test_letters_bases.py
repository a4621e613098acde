"""ECOA/Reg B prohibited bases are never a reason in a credit letter (held-out check on
an Adult-like credit model whose strongest reasons are marital status, age, country)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from auditor.errors import SpecError
from auditor.letters.bases import suggestions
from auditor.letters.service import issue_letters
from auditor.service import perform_audit
from auditor.spec import load_spec
from auditor.store import open_store
from auditor.store.decisions import load_decisions
from tests.adult_like import PROHIBITED, prepare


@pytest.fixture(scope="module")
def adult(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("adult")
    spec = prepare(tmp, n=600)
    url = f"sqlite:///{tmp / 'a.db'}"
    audit_id = perform_audit(spec, database_url=url).result.audit_id
    return {"tmp": tmp, "spec": spec, "url": url, "id": audit_id}


def test_names_that_look_like_a_basis_are_suggested() -> None:
    found = dict(
        suggestions(
            [
                "marital_status",
                "age",
                "native_country",
                "relationship",
                "mortgage_age_months",
                "averageBalance",
                "countryOfBirth",
                "duration",
            ],
            {},
        )
    )
    assert found == {
        "marital_status": "marital_status",
        "age": "age",
        "native_country": "national_origin",
        "relationship": "marital_status",
        "mortgage_age_months": "age",
        "countryOfBirth": "national_origin",
    }
    assert suggestions(["age"], {"age": "none"}) == []


def test_an_unmapped_basis_like_feature_is_refused_with_advice(adult: dict[str, Any]) -> None:
    data = yaml.safe_load(adult["spec"].read_text())
    del data["letters"]["prohibited_bases"]["relationship"]
    with pytest.raises(SpecError) as caught:
        load_spec(data, base_dir=adult["tmp"])
    text = "\n".join(caught.value.problems)
    assert "'relationship' looks like the ECOA/Reg B prohibited basis 'marital status'" in text
    assert "relationship: marital_status" in text
    data["letters"]["prohibited_bases"]["relationship"] = "none"  # declared: not a basis
    load_spec(data, base_dir=adult["tmp"])


def test_no_credit_letter_states_a_prohibited_basis(adult: dict[str, Any]) -> None:
    with open_store(adult["url"]) as s, s.session() as session:
        stored = load_decisions(session, adult["id"])
    adverse = [d for d, f in zip(stored.ids, stored.favorable, strict=True) if not f][:40]
    with open_store(adult["url"]) as s:
        letters = issue_letters(s, adult["id"], decisions=",".join(adverse))
    stated = [r["feature"] for lt in letters for r in lt.record["reasons"]]
    assert stated
    assert not set(stated) & set(PROHIBITED)
    # nor does the printed list of reasons (the ECOA notice itself names the bases)
    for lt in letters:
        (listed,) = re.findall(r'<ol class="reasons">(.*?)</ol>', lt.html, re.S)
        assert not any(w in listed.lower() for w in ("marital", "country", "relationship", "age"))
    # the check is not vacuous: this model's strongest reason is often a basis
    principal = [
        lt
        for lt in letters
        if lt.record["withheld_reasons"][:1] and lt.record["withheld_reasons"][0]["rank"] == 1
    ]
    lesser = [lt for lt in letters if any(w["rank"] > 1 for w in lt.record["withheld_reasons"])]
    assert principal
    assert lesser
    for lt in principal:
        assert lt.record["status"] == "blocked"
        feature = lt.record["withheld_reasons"][0]["feature"]
        assert f"the principal reason is '{feature}'" in lt.record["failure"]
    # a lesser reason on a basis is left out; the letter still passes its content checks
    assert any(lt.record["status"] != "blocked" for lt in lesser)
