"""Section 5.4 "How far the explanations can be trusted": rendered from a real quality block."""

from __future__ import annotations

import dataclasses
import re
from html import unescape
from typing import Any

import numpy as np
import pytest
import torch

from auditor.explain.quality import QualitySettings, assess, quality_facts
from auditor.models import wrap_model
from auditor.models.mlp import TabularMLP
from auditor.report import render_html
from auditor.result import AuditResult
from tests.factories import make_result
from tests.report_svgs import chart_svgs


@pytest.fixture(scope="module")
def block() -> dict[str, Any]:
    torch.manual_seed(0)
    net = TabularMLP(4, hidden=(8,))
    model = wrap_model(net, ["income", "debt", "age", "tenure"])
    x = np.random.default_rng(0).normal(size=(300, 4))
    settings = QualitySettings(rows=60, draws=2, stability_rows=20, background=50, seed=1)
    return assess(model, x, settings, primary="deeplift")


def _with(block: dict[str, Any]) -> AuditResult:
    return dataclasses.replace(make_result(), explanation_quality=block)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_section_shows_officer_sentences_table_and_chart(block: dict[str, Any]) -> None:
    html = render_html(_with(block))
    section = html[html.index('id="sec-explanation-quality"') :]
    section = section[: section.index("</section>")]
    text = _text(section)
    # 5.5 when the attribution section has a gap-decomposition subsection (5.4), else 5.4
    assert re.search(r"5\.[45] How far the explanations can be trusted", text)
    assert "DeepLIFT (rescale), the method behind this audit's explanations" in text
    assert "reproduces the model's output for each decision" in text
    assert "random order" in text
    assert "should go to human review" in text
    assert len(chart_svgs(section)) == 1  # the deletion-curve chart
    for label in ("Integrated gradients", "LRP (epsilon rule)", "Saliency", "LIME-style"):
        assert label in text
    deeplift = next(m for m in block["methods"] if m["method"] == "deeplift")
    shown = f"{deeplift['deletion_auc']:.3f}"
    assert shown in text or shown.replace("-", "−") in text
    assert 'href="#sec-explanation-quality"' in html  # listed in the contents
    for word in ("fair", "unbiased", "compliant"):
        assert not re.search(rf"\b{word}\b", text, flags=re.IGNORECASE)


def test_old_and_unmeasured_results_say_why(block: dict[str, Any]) -> None:
    old = render_html(make_result())  # written before issue 10: no block at all
    assert "Explanation quality was not measured" in _text(old)
    off = {"computed": False, "reason": "the spec turned it off (explain.quality.enabled: false)"}
    assert "the spec turned it off" in _text(render_html(_with(off)))


def test_block_round_trips_through_json_and_feeds_policy_facts(block: dict[str, Any]) -> None:
    result = _with(block)
    assert AuditResult.from_json(result.to_json()) == result
    facts = quality_facts(block)
    deeplift = next(m for m in block["methods"] if m["method"] == "deeplift")
    assert facts["explanation.fidelity.completeness_max"] == deeplift["completeness_max"]
    assert (
        facts["explanation.stability.reasons_changed_share"]
        == (deeplift["reasons_changed_perturbation"])
    )
    gain = block["random_order"]["deletion_auc"] - deeplift["deletion_auc"]
    assert facts["explanation.fidelity.deletion_gain"] == pytest.approx(gain)
    assert quality_facts({"computed": False}) == {}
    # the audit's method not measured: no facts, rather than another method's figures
    assert quality_facts({**block, "primary": "permutation_shap"}) == {}
