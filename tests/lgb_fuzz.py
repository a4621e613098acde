"""Mutation fuzzing of LightGBM text models (run in a child process by test_model_fuzz.py).

Trains three tiny models (numeric binary, categorical binary, multiclass), then applies
seeded random mutations: a field value replaced by a hostile number, a byte replaced,
deleted or inserted, a line deleted or duplicated. Each mutated file must either be
refused with a :class:`ModelLoadError` naming the file, or load and give the same
path-dependent SHAP values from auditor's engine as LightGBM's ``pred_contrib``.

A native crash kills this process: the parent test sees the signal and the mutation
named in ``current.txt``. A longer run, locally (about 30 mutations a second)::

    PYTHONPATH=$PWD .venv/bin/python tests/lgb_fuzz.py --count 20000 --seed 7 --out /tmp/fz

Exit status 0 when every mutation behaved; the summary is printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from auditor.errors import AuditorError, ModelLoadError
from auditor.explain.tree_shap import engine_for
from auditor.models.lightgbm_adapter import LightGBMAdapter, load_booster

_FIELDS = (
    "split_feature", "left_child", "right_child", "decision_type", "threshold", "num_leaves",
    "num_cat", "cat_boundaries", "cat_threshold", "leaf_value", "leaf_count",
    "internal_count", "num_class", "num_tree_per_iteration", "max_feature_idx", "tree_sizes",
    "is_linear", "feature_names", "internal_value", "shrinkage", "[categorical_feature",
    "feature_infos", "objective", "version", "pandas_categorical",
)  # fmt: skip
_VALUES = (
    "-1", "0", "1", "2", "3", "5", "9", "-7", "31", "64", "255", "2147483647", "-2147483648",
    "4294967295", "4294967296", "99999999999", "nan", "inf", "-inf", "1e309", "", "x",
    "0.5", "-0", "1 2", "0x10", '"', "\\", "[1]", "[0:1", "a b",
)  # fmt: skip


def train_models(folder: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """Three small text models and a few rows each to explain."""
    rng = np.random.default_rng(0)
    n = 300
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    quiet = {"verbose": -1, "num_leaves": 6, "min_data_in_leaf": 5}
    out: dict[str, tuple[Path, np.ndarray]] = {}
    numeric = lgb.train({"objective": "binary", **quiet}, lgb.Dataset(x, y), 3)
    out["numeric"] = (folder / "numeric.txt", x[:12])
    numeric.save_model(str(out["numeric"][0]))
    codes = rng.integers(0, 40, n)
    frame = pd.DataFrame({"g": pd.Categorical(codes), "v": x[:, 0]})
    yc = ((codes % 3 == 0) ^ (x[:, 0] > 1)).astype(int)
    cat_params = {"objective": "binary", "min_data_per_group": 5, "cat_smooth": 1,
                  "max_cat_to_onehot": 2, **quiet}  # fmt: skip
    categorical = lgb.train(cat_params, lgb.Dataset(frame, yc), 3)
    out["categorical"] = (folder / "categorical.txt", np.column_stack([codes, x[:, 0]])[:12])
    categorical.save_model(str(out["categorical"][0]))
    y3 = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)
    multi = lgb.train({"objective": "multiclass", "num_class": 3, **quiet}, lgb.Dataset(x, y3), 2)
    out["multiclass"] = (folder / "multiclass.txt", x[:12])
    multi.save_model(str(out["multiclass"][0]))
    return out


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One random mutation of a model file and a description of it."""
    kind = rng.choice(("field", "field", "field", "byte", "delete", "insert", "line"))
    if kind == "field":
        lines = data.split(b"\n")
        field = rng.choice(_FIELDS).encode()
        rows = [i for i, line in enumerate(lines) if line.startswith(field)]
        if rows:
            i = rng.choice(rows)
            key, sep, value = lines[i].partition(b"=" if b"=" in lines[i] else b":")
            tokens = value.split(b" ")
            j = rng.randrange(len(tokens))
            tokens[j] = rng.choice(_VALUES).encode()
            lines[i] = key + sep + b" ".join(tokens)
            return b"\n".join(lines), f"line {i} token {j}: {lines[i][:80]!r}"
    pos = rng.randrange(len(data))
    if kind == "byte":
        new = rng.choice((rng.randrange(256), *b"0123456789-. =\n"))
        return data[:pos] + bytes([new]) + data[pos + 1 :], f"byte {pos} -> {new}"
    if kind == "delete":
        return data[:pos] + data[pos + rng.randint(1, 8) :], f"delete at {pos}"
    if kind == "insert":
        chunk = rng.choice((b"9", b"-1", b" ", b"\n", b"=", b"Tree=0\n", b"\x00", b'"', b"\\"))
        return data[:pos] + chunk + data[pos:], f"insert {chunk!r} at {pos}"
    lines = data.split(b"\n")
    i = rng.randrange(len(lines))
    if rng.random() < 0.5:
        del lines[i]
        return b"\n".join(lines), f"delete line {i}"
    lines.insert(i, lines[rng.randrange(len(lines))])
    return b"\n".join(lines), f"duplicate a line at {i}"


def check_one(path: Path, rows: np.ndarray) -> tuple[str, str]:
    """("refused", message), ("matched", engine) or ("MISMATCH"/"BADMESSAGE", detail)."""
    try:
        booster = load_booster(path)
        if booster.num_model_per_iteration() == 1:
            LightGBMAdapter(booster, source=str(path))
    except ModelLoadError as exc:
        ok = str(exc).startswith(f"{path}: ") or str(path) in str(exc)
        return ("refused" if ok else "BADMESSAGE"), str(exc)[:300]
    expected = np.asarray(booster.predict(rows, pred_contrib=True), dtype=np.float64)
    try:
        engine = engine_for(booster)
    except AuditorError as exc:  # the kernels' own bounds checks refused it
        return "refused", str(exc)[:300]
    if isinstance(engine, str):
        return "matched", "fallback: " + engine[:200]
    got = engine.path_dependent(rows, threads=1)
    # the interventional kernels walk the same arrays: they must not crash either, and
    # their values plus the base column still add up to the model's raw output
    inter = engine.interventional(rows, rows[:4], threads=1)
    inter = inter.reshape(len(rows), -1, rows.shape[1] + 1)
    raw = np.asarray(booster.predict(rows, raw_score=True)).reshape(len(rows), -1)
    if not np.allclose(inter.sum(axis=2), raw, rtol=1e-6, atol=1e-6, equal_nan=True):
        return "MISMATCH", "interventional values do not add up to the raw score"
    if np.allclose(got, expected, rtol=1e-6, atol=1e-6, equal_nan=True):
        return "matched", "fast engine"
    return "MISMATCH", f"max difference {np.nanmax(np.abs(got - expected))}"


def run(out: Path, count: int, seed: int) -> dict[str, Any]:
    """Fuzz ``count`` mutations spread over the three models; returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    models = train_models(out)
    rng = random.Random(seed)
    current = out / "current.txt"
    tally: dict[str, int] = {}
    failures: list[str] = []
    for i in range(count):
        name = list(models)[i % len(models)]
        source, rows = models[name]
        data, how = mutate(source.read_bytes(), rng)
        path = out / f"mutant-{name}.txt"
        path.write_bytes(data)
        # written before the check: if LightGBM or a kernel crashes, this names the culprit
        current.write_text(f"mutation {i} of {name}: {how}\n", encoding="utf-8")
        try:
            outcome, detail = check_one(path, rows)
        except Exception as exc:  # a traceback for the user: reported, and the run goes on
            outcome, detail = f"UNCAUGHT {type(exc).__name__}", str(exc)[:200]
        tally[outcome] = tally.get(outcome, 0) + 1
        if outcome not in ("refused", "matched"):
            failures.append(f"mutation {i} of {name} ({how}): {outcome} {detail}")
            (out / f"failure-{i}.txt").write_bytes(data)
    current.write_text("done\n", encoding="utf-8")
    return {"count": count, "seed": seed, "tally": tally, "failures": failures[:20]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    summary = run(args.out, args.count, args.seed)
    print(json.dumps(summary))
    return 0 if not summary["failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
