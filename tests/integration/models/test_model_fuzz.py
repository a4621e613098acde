"""Corrupt LightGBM model files never take the process down (issue 16, item 3).

The fuzz campaign runs in a child process (``tests/lgb_fuzz.py``): a segfault or abort
there fails this test with the culprit mutation instead of killing pytest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from auditor.cli import app
from auditor.demo import DemoCase
from auditor.explain._lgb_trees import CorruptModel, check_indices, flatten
from auditor.models.lightgbm_text import TextModelProblem, check_text_model
from tests._paths import REPO

FUZZ_MUTATIONS = 300
FUZZ_TIMEOUT_S = 240  # generous for a loaded CI machine; about 10 s on an idle one


def test_fuzzed_model_files_crash_nothing_and_hang_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(REPO / "tests" / "lgb_fuzz.py"), "--out", str(tmp_path)]
    command += ["--count", str(FUZZ_MUTATIONS), "--seed", "0"]
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=FUZZ_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        culprit = (tmp_path / "current.txt").read_text(encoding="utf-8")
        pytest.fail(f"the fuzz run hung at {culprit}")
    culprit = (tmp_path / "current.txt").read_text(encoding="utf-8").strip()
    assert done.returncode >= 0, f"native crash (signal {-done.returncode}) at {culprit}"
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stdout[-2000:] + done.stderr[-2000:]
    summary = json.loads(lines[-1])
    assert summary["failures"] == [], summary
    assert done.returncode == 0
    tally = summary["tally"]
    assert sum(tally.values()) == FUZZ_MUTATIONS
    # both outcomes happen, or the mutations (or the check) are not doing their job
    assert tally.get("refused", 0) > 50, tally
    assert tally.get("matched", 0) > 20, tally


def test_fuzzed_torch_files_are_loaded_or_refused_naming_the_file(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(REPO / "tests" / "torch_fuzz.py"), "--out", str(tmp_path)]
    done = subprocess.run(
        [*command, "--count", "80", "--seed", "0"],
        env=env, capture_output=True, text=True, timeout=FUZZ_TIMEOUT_S,
    )  # fmt: skip
    culprit = (tmp_path / "current.txt").read_text(encoding="utf-8").strip()
    assert done.returncode >= 0, f"native crash (signal {-done.returncode}) at {culprit}"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["failures"] == [], summary
    assert done.returncode == 0, summary
    assert summary["tally"].get("refused", 0) > 10, summary


def _first_tree_edit(text: str, field: str, value: str) -> str:
    """The model with the first value of ``field`` in the first tree replaced (and no
    ``tree_sizes`` header, so a longer value does not move the trees' byte offsets)."""
    lines = [line for line in text.split("\n") if not line.startswith("tree_sizes=")]
    i = next(n for n, line in enumerate(lines) if line.startswith(field + "="))
    key, _, values = lines[i].partition("=")
    lines[i] = f"{key}={' '.join([value, *values.split(' ')[1:]])}"
    return "\n".join(lines)


# the three single-value edits the issue reports as SIGSEGV/SIGABRT, and a cycle
CRASHERS = [
    ("split_feature", "99", "split_feature[0] is 99, outside 0..16"),
    ("left_child", "99", "left_child[0] is 99"),
    ("num_cat", "9", "num_cat=9 but 5 splits are categorical"),
    ("left_child", "0", "reaches split 0 a second time"),
]


@pytest.mark.parametrize(("field", "value", "expected"), CRASHERS)
def test_crashing_edits_exit_2_naming_the_file(
    credit_case: DemoCase, tmp_path: Path, field: str, value: str, expected: str
) -> None:
    folder = credit_case.spec_path.parent
    good = (folder / "credit_lgbm.txt").read_text(encoding="ascii")
    model = tmp_path / "edited.txt"
    model.write_text(_first_tree_edit(good, field, value), encoding="ascii")
    spec = yaml.safe_load(credit_case.spec_path.read_text(encoding="utf-8"))
    spec["data"]["path"] = str(folder / spec["data"]["path"])
    spec["model"]["path"] = str(model)
    spec_path = tmp_path / "audit.yaml"
    spec_path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'a.db'}"
    result = CliRunner().invoke(app, ["audit", str(spec_path), "--db", db])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert f"{model}: not a valid LightGBM model file" in result.output
    assert "(tree 0: " in result.output
    assert expected in result.output


def test_checker_accepts_what_lightgbm_writes(credit_case: DemoCase) -> None:
    check_text_model((credit_case.spec_path.parent / "credit_lgbm.txt").read_bytes())


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("threshold", "nan"), "threshold[0] is 'nan', not a number"),
        (("leaf_value", "1e999"), "leaf_value[0] is '1e999', not finite"),
        (("decision_type", "12"), "decision_type[0]=12 has no missing type"),
        (("num_leaves", "1_0"), "not an integer"),
    ],
)
def test_checker_names_the_field(
    credit_case: DemoCase, edit: tuple[str, str], expected: str
) -> None:
    good = (credit_case.spec_path.parent / "credit_lgbm.txt").read_text(encoding="ascii")
    with pytest.raises(TextModelProblem, match="tree 0") as caught:
        check_text_model(_first_tree_edit(good, *edit).encode("ascii"))
    assert expected in str(caught.value)


def test_checker_refuses_a_blank_line_inside_a_tree(credit_case: DemoCase) -> None:
    # LightGBM parses trees in an OpenMP loop: its error there aborts the process
    good = (credit_case.spec_path.parent / "credit_lgbm.txt").read_text(encoding="ascii")
    broken = _first_tree_edit(good, "num_leaves", good.split("num_leaves=")[1].split()[0])
    broken = broken.replace("\ninternal_value=", "\n\ninternal_value=", 1)
    with pytest.raises(TextModelProblem, match="blank line inside the tree"):
        check_text_model(broken.encode("ascii"))


def test_kernel_arrays_are_bounds_checked(credit_case: DemoCase) -> None:
    import lightgbm as lgb

    booster = lgb.Booster(model_file=str(credit_case.spec_path.parent / "credit_lgbm.txt"))
    flat = flatten(booster.dump_model())
    check_indices(flat)  # the real model passes
    internal = int(np.flatnonzero(flat.left >= 0)[0])
    for array, value in (
        (flat.split_feature, flat.num_features),
        (flat.left, len(flat.parent)),
        (flat.same_ancestor, len(flat.parent)),
        (flat.edge_feature, -5),
    ):
        k = internal if array is not flat.edge_feature else internal + 1
        saved = array[k]
        array[k] = value
        with pytest.raises(CorruptModel, match="Corrupt LightGBM model: node"):
            check_indices(flat)
        array[k] = saved
    check_indices(flat)


def test_checker_accepts_utf8_feature_names(tmp_path: Path) -> None:
    import lightgbm as lgb
    import pandas as pd

    from auditor.models.lightgbm_adapter import LightGBMAdapter

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"âge": rng.normal(size=200), "revenu_€": rng.normal(size=200)})
    booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(x, x["âge"] > 0), 3)
    booster.save_model(str(tmp_path / "utf8.txt"))
    adapter = LightGBMAdapter.load(tmp_path / "utf8.txt")
    assert adapter.feature_names == ("âge", "revenu_€")
