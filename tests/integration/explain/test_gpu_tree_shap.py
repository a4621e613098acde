"""The CUDA TreeSHAP kernel against the CPU engine, without a GPU: numba's CUDA simulator.

The simulator (``NUMBA_ENABLE_CUDASIM=1``) runs the kernel's threads on the CPU with the
same shared memory, atomics and block layout, so these tests check the kernel's
arithmetic and indexing on real LightGBM models (NaN, zero-as-missing, categorical,
paths deep enough that the CPU engine uses its quadrature, multiclass), the device rule
and what the result records. The kernel's speed is bench/bench_gpu.py's business.
"""

from __future__ import annotations

import sys
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

# the simulator must be chosen before numba.cuda is first imported; auto never picks it
if "numba.cuda" not in sys.modules:
    import numba

    # numba's config, not the environment: subprocesses of later tests stay as they were
    numba.config.ENABLE_CUDASIM = 1  # type: ignore[attr-defined]
try:
    from numba import cuda

    _RUNNABLE = bool(cuda.is_available())  # type: ignore[no-untyped-call]
    _WHY = "numba.cuda was imported before this module without a device or the simulator"
except Exception as exc:  # the simulator cannot import on this numba
    _RUNNABLE, _WHY = False, f"numba's CUDA simulator cannot import: {exc}"
pytestmark = pytest.mark.skipif(not _RUNNABLE, reason=_WHY)

import auditor.explain  # noqa: E402
from auditor.engine.kernel import ChunkPlan, explain_rows  # noqa: E402
from auditor.errors import ExplainError, SpecError  # noqa: E402
from auditor.explain import gpu_tree_shap  # noqa: E402
from auditor.explain.fast_tree_shap import TreeShapEngine  # noqa: E402
from auditor.explain.gpu_tree_shap import choose_device, path_dependent_cuda  # noqa: E402
from auditor.explain.tree_shap import CUDA_ENGINE, FAST_ENGINE  # noqa: E402
from auditor.models.lightgbm_adapter import LightGBMAdapter  # noqa: E402
from auditor.spec import load_spec  # noqa: E402

ROWS = 12  # the simulator runs every CUDA thread as a Python thread
THREADS = 32


def _data(n: int = 1200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    x[rng.random(n) < 0.1, 0] = np.nan  # NaN missing values
    x[:, 3] = rng.integers(0, 12, n)  # a categorical feature
    x[rng.random(n) < 0.05, 3] = np.nan
    x[rng.random(n) < 0.2, 4] = 0.0  # zeros, missing when zero_as_missing
    logit = np.nan_to_num(x[:, 0]) + x[:, 1] * x[:, 2] + (x[:, 3] % 3 == 1) + x[:, 4]
    y = (logit + rng.normal(size=n) > 0).astype(int)
    return x, y


def _train(params: dict[str, Any], rounds: int) -> tuple[lgb.Booster, np.ndarray]:
    x, y = _data()
    if params.get("objective") == "multiclass":
        y = y + (x[:, 1] > 0.5)
    base = {"verbose": -1, "min_data_in_leaf": 5, "min_data_per_group": 5, "num_threads": 1}
    data = lgb.Dataset(x, y, categorical_feature=[3])
    return lgb.train({**base, **params}, data, rounds), x


CASES = {
    "NaN missing, categorical": ({"objective": "binary", "num_leaves": 15}, 6),
    "zero as missing": ({"objective": "binary", "zero_as_missing": True, "num_leaves": 8}, 5),
    "deep paths, CPU quadrature": ({"objective": "binary", "num_leaves": 120}, 2),
    "multiclass": ({"objective": "multiclass", "num_class": 3, "num_leaves": 7}, 3),
}


@pytest.mark.parametrize("case", CASES)
def test_the_kernel_matches_the_cpu_engine_and_lightgbm(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    params, rounds = CASES[case]
    if "quadrature" in case:
        # no table budget: the CPU engine runs every tree through its quadrature kernel,
        # so the two sides compute the same values by different routes
        monkeypatch.setenv("AUDITOR_TREESHAP_TABLE_MB", "0")
    booster, x = _train(params, rounds)
    engine = TreeShapEngine.from_model(booster)
    # rows with every kind of value the decisions treat apart
    xs = x[:ROWS].copy()
    xs[0, :] = np.nan
    xs[1, 3] = 40.0  # a category never seen in training
    xs[2, 4] = 0.0
    ours = path_dependent_cuda(engine, xs, block_threads=THREADS)
    cpu = engine.path_dependent(xs, threads=1)
    assert ours.shape == cpu.shape
    assert np.abs(ours - cpu).max() <= 1e-12
    reference = np.asarray(booster.predict(xs, pred_contrib=True))
    assert np.abs(ours - reference).max() <= 1e-9
    if "quadrature" in case:
        assert len(engine.path_tables().quadrature) == engine.model.num_trees


def test_one_block_per_row_needs_no_particular_thread_count() -> None:
    booster, x = _train({"objective": "binary", "num_leaves": 15}, 4)
    engine = TreeShapEngine.from_model(booster)
    few = path_dependent_cuda(engine, x[:4], block_threads=3)
    many = path_dependent_cuda(engine, x[:4], block_threads=64)
    assert np.abs(few - many).max() <= 1e-12
    assert np.abs(few - engine.path_dependent(x[:4])).max() <= 1e-12


def test_the_device_rule() -> None:
    booster, _x = _train({"objective": "binary", "num_leaves": 15}, 4)
    engine = TreeShapEngine.from_model(booster)
    assert choose_device("cpu", engine, 10**9) == ("cpu", "explain.device: cpu")
    where, why = choose_device("auto", engine, 10)
    assert where == "cpu"
    assert "below" in why
    assert str(gpu_tree_shap.AUTO_MIN_LEAF_ROWS) in why
    # enough work, but the simulator is not a device: auto stays on the CPU
    where, why = choose_device("auto", engine, gpu_tree_shap.AUTO_MIN_LEAF_ROWS)
    assert (where, why) == ("cpu", "auto: no CUDA device")
    # an explicit request runs the kernel (here on the simulator)
    assert choose_device("cuda", engine, 10)[0] == "cuda"
    with pytest.raises(ExplainError, match=r"explain\.device must be one of"):
        choose_device("gpu", engine, 10)


def test_auto_picks_the_device_for_big_work_and_leaves_models_it_cannot_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    booster, _ = _train({"objective": "binary", "num_leaves": 15}, 4)
    engine = TreeShapEngine.from_model(booster)
    monkeypatch.setattr(gpu_tree_shap, "cuda_device_present", lambda: True)
    leaves = int((engine.model.left < 0).sum())
    rows = -(-gpu_tree_shap.AUTO_MIN_LEAF_ROWS // leaves)
    assert choose_device("auto", engine, rows)[0] == "cuda"
    assert choose_device("auto", engine, rows - 1)[0] == "cpu"
    monkeypatch.setattr(gpu_tree_shap, "MAX_PATH_FEATURES", 1)
    where, why = choose_device("auto", engine, rows)
    assert where == "cpu"
    assert "distinct features" in why
    with pytest.raises(ExplainError, match="cannot explain this model"):
        choose_device("cuda", engine, 10)


def test_the_public_explain_records_the_device_that_ran() -> None:
    booster, x = _train({"objective": "binary", "num_leaves": 15}, 4)
    frame = pd.DataFrame(x[:6], columns=booster.feature_name())
    on_gpu = auditor.explain(booster, frame, device="cuda")
    on_cpu = auditor.explain(booster, frame, device="cpu")
    assert on_gpu.params["device"] == "cuda"
    assert on_gpu.engine == CUDA_ENGINE
    assert on_gpu.params["device_rule"] == "explain.device: cuda"
    assert on_cpu.params["device"] == "cpu"
    assert on_cpu.engine == FAST_ENGINE
    assert np.abs(on_gpu.values - on_cpu.values).max() <= 1e-12
    assert on_gpu.additivity_error <= 1e-9
    auto = auditor.explain(booster, frame)  # small: the CPU, with the rule's words
    assert auto.params["device"] == "cpu"
    assert auto.params["device_rule"].startswith("auto:")


def test_the_spec_key_reaches_the_audit_kernel() -> None:
    spec = load_spec(
        {
            "name": "unit-spec",
            "domain": "credit",
            "data": {"path": "decisions.csv"},
            "columns": {"id": "applicant_id", "decision": "approved"},
            "protected": ["sex"],
            "explain": {"device": "cuda"},
        }
    )
    assert spec.explain.device == "cuda"
    booster, x = _train({"objective": "binary", "num_leaves": 15}, 4)
    adapter = LightGBMAdapter(booster)
    plan = ChunkPlan("unit", "tree_shap", None, x[:20], 64, None, (), {}, spec.explain.device)
    values, _base, _out, gaps, params, _, _ = explain_rows(plan, adapter, x[:5])
    assert params["device"] == "cuda"
    assert params["engine"] == CUDA_ENGINE
    assert gaps.max() <= 1e-9
    cpu_plan = ChunkPlan("unit", "tree_shap", None, x[:20], 64, None, (), {})
    cpu_values = explain_rows(cpu_plan, adapter, x[:5])[0]
    assert np.abs(values - cpu_values).max() <= 1e-12
    with pytest.raises(SpecError) as err:
        load_spec(
            {
                "name": "unit-spec",
                "domain": "credit",
                "data": {"path": "decisions.csv"},
                "columns": {"id": "applicant_id", "decision": "approved"},
                "protected": ["sex"],
                "explain": {"device": "gpu"},
            }
        )
    assert any("explain.device" in p for p in err.value.problems)


def test_integrated_gradients_take_the_device_setting() -> None:
    torch = pytest.importorskip("torch")
    from auditor.explain.integrated_gradients import ig_device

    assert ig_device("cpu") == "cpu"
    assert ig_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ExplainError, match="no CUDA device"):
            ig_device("cuda")


def test_integrated_gradients_record_the_device_asked_for() -> None:
    from auditor.explain import get_explainer
    from auditor.models.mlp import TabularMLP
    from auditor.models.torch_adapter import TorchAdapter

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    adapter = TorchAdapter(TabularMLP(4, (8,)).eval(), ("a", "b", "c", "d"))
    x = np.random.default_rng(0).normal(size=(20, 4))
    explainer = get_explainer("integrated_gradients")
    values, _base, params = explainer.explain(adapter, x, background=x, steps=16, device="cpu")
    assert params["device"] == "cpu"
    # tolerance 1: no row refined with more steps, so both calls did the same work
    attr = auditor.explain.explain_matrix(
        adapter, x, method="integrated_gradients", steps=16, device="cpu", tolerance=1.0
    )
    assert attr.params["device"] == "cpu"
    np.testing.assert_allclose(attr.values, values, rtol=0, atol=1e-6)


def test_an_audit_decides_auto_once_for_all_its_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    from auditor.explain.run import plan_device

    booster, x = _train({"objective": "binary", "num_leaves": 15}, 4)
    adapter = LightGBMAdapter(booster)
    device, rule = plan_device(adapter, "tree_shap", "auto", 10)
    assert device == "cpu"
    assert rule is not None
    assert rule.startswith("auto: 10 rows x ")
    assert plan_device(adapter, "tree_shap", "cpu", 10**9) == ("cpu", None)
    assert plan_device(adapter, "permutation_shap", "auto", 10**9) == ("auto", None)
    # a whole audit's rows are enough work although each chunk's would not be: every
    # chunk gets the plan's device
    monkeypatch.setattr(gpu_tree_shap, "cuda_device_present", lambda: True)
    device, rule = plan_device(adapter, "tree_shap", "auto", gpu_tree_shap.AUTO_MIN_LEAF_ROWS)
    assert device == "cuda"
    plan = ChunkPlan("unit", "tree_shap", None, x[:20], 64, None, (), {}, device)
    params = explain_rows(plan, adapter, x[:3])[4]
    assert params["device"] == "cuda"
