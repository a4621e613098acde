"""Hostile inputs, tried as an attacker would (issue 16): specs, data, packs, evidence,
recipients, report strings and output files.

Each case runs ``auditor audit`` in-process and asserts exit code 2, one message naming
the culprit, no traceback, no audit stored (at most ``audit.failed`` events), no code run
and no network connection made. The inputs are small and nearly all fail at validation,
before any model runs, so the whole file takes seconds.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from auditor.cli import app
from auditor.errors import AuditorError, PolicyLoadError, SpecError
from auditor.store import open_store
from auditor.store.models import Audit, Event
from tests._paths import REPO

runner = CliRunner()
ROWS = 80


# --- shared inputs: one small data set, one database, no network -------------------------


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "applicant_id": [f"A{i:03d}" for i in range(ROWS)],
            "approved": (np.arange(ROWS) % 3 != 0).astype(int),
            "score": rng.uniform(0, 1, ROWS).round(3),
            "label": (np.arange(ROWS) % 2).astype(int),
            "sex": np.where(np.arange(ROWS) % 2 == 0, "F", "M"),
            "age_band": np.where(np.arange(ROWS) % 4 < 2, "young", "old"),
            "x1": rng.normal(size=ROWS).round(3),
            "x2": rng.integers(0, 5, ROWS),
        }
    )


BASE: dict[str, Any] = {
    "name": "hostile-inputs",
    "domain": "hiring",
    "data": {"path": "data.csv"},
    "columns": {
        "id": "applicant_id",
        "decision": "approved",
        "score": "score",
        "label": "label",
        "features": ["x1", "x2"],
    },
    "protected": ["sex", "age_band"],
    "min_group_size": 5,
    "explain": {"method": "none", "quality": {"enabled": False}},
}


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One database for the whole file: every case must leave it without audits."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'audits.db'}"
    open_store(url).dispose()  # migrate once
    return url


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Record (and refuse) every outgoing connection attempt."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object, *args: object) -> None:
        attempts.append(address)
        raise OSError("network access refused in the adversarial suite")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield attempts
    assert attempts == [], f"a hostile input made the tool connect to {attempts}"


def _write(folder: Path, spec: dict[str, Any] | str, frame: pd.DataFrame | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (frame if frame is not None else _frame()).to_csv(folder / "data.csv", index=False)
    path = folder / "audit.yaml"
    text = spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def _audit(spec_path: Path, db_url: str, *args: str) -> Result:
    return runner.invoke(app, ["audit", str(spec_path), "--db", db_url, "-q", *args])


def _assert_refused(res: Result, db_url: str, *culprit: str) -> str:
    output = res.output
    assert res.exit_code == 2, output
    assert isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in output
    assert output.startswith("error: "), output
    for text in culprit:
        assert text.lower() in output.lower(), f"{text!r} not named in:\n{output}"
    store = open_store(db_url, upgrade=False)
    try:
        with store.session() as session:
            assert session.scalar(select(func.count()).select_from(Audit)) == 0
            kinds = set(session.scalars(select(Event.kind)))
    finally:
        store.dispose()
    assert kinds <= {"audit.failed"}, kinds
    return output


def _with(path: str, value: Any) -> dict[str, Any]:
    """BASE with the dotted key ``path`` set to ``value``."""
    spec = yaml.safe_load(yaml.safe_dump(BASE))  # deep copy
    *parents, last = path.split(".")
    node = spec
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return spec


# --- spec: YAML itself ---------------------------------------------------------------------

_BOMB = "\n".join(
    [
        "name: bomb",
        "evidence:",
        '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"  {chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]"
            for i in range(8)
        ),
    ]
)

YAML_CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "alias bomb in evidence": (_BOMB, ("audit.yaml", "aliases")),
    "20,000 nested lists": ("name: x\nevidence: " + "[" * 20000 + "]" * 20000, ("nesting",)),
    "20,000 nested mappings": ("evidence: " + "{a: " * 20000 + "1" + "}" * 20000, ("nesting",)),
    "200 block-nested keys": (
        "evidence:\n" + "".join(" " * i + "k:\n" for i in range(1, 200)),
        ("nesting",),
    ),
    "python object tag": ("name: !!python/object/apply:os.system ['true']\n", ("constructor",)),
    "python name tag": ("name: !!python/name:os.system\n", ("constructor",)),
    "python module tag": ("evidence: !!python/module:os\n", ("constructor",)),
    "a flat list of 60,000 values": ("evidence: [" + "1," * 60000 + "1]", ("50,000 values",)),
    "two documents": ("name: a\n---\nname: b\n", ("another document",)),
    "a list, not a mapping": ("- name: a\n", ("mapping",)),
    "empty file": ("", ("mapping",)),
    "tab indentation": ("name: a\n\tdomain: credit\n", ("malformed yaml",)),
    "unclosed flow": ("protected: [sex, age_band\n", ("malformed yaml",)),
    "tagged bad timestamp": ("audit_date: !!timestamp 2026-13-45\n", ("audit.yaml",)),
    "tagged bad int": ("seed: !!int abc\n", ("audit.yaml",)),
    # PyYAML keeps the last of two equal keys: a reviewer reading the first would see a
    # minimum group size the audit does not use
    "a key given twice": (
        yaml.safe_dump(BASE, sort_keys=False) + "min_group_size: 1000\n",
        ("audit.yaml", "duplicate key 'min_group_size'", "line 21", "first at line 16"),
    ),
    "a nested key given twice": (
        "columns:\n  id: applicant_id\n  decision: approved\n  decision: label\n",
        ("audit.yaml", "duplicate key 'decision'", "line 4"),
    ),
}


@pytest.mark.parametrize("case", sorted(YAML_CASES))
def test_hostile_yaml_is_refused(case: str, tmp_path: Path, db_url: str) -> None:
    text, culprit = YAML_CASES[case]
    _assert_refused(_audit(_write(tmp_path, text, None), db_url), db_url, *culprit)


def test_oversized_spec_is_refused_before_it_is_read(tmp_path: Path, db_url: str) -> None:
    text = "name: big\n# " + "x" * (1024 * 1024) + "\n"
    _assert_refused(_audit(_write(tmp_path, text, None), db_url), db_url, "audit.yaml", "limit")


def test_non_utf8_spec_is_refused(tmp_path: Path, db_url: str) -> None:
    path = _write(tmp_path, BASE, None)
    path.write_bytes(b"name: \xff\xfe\x00bad\n")
    _assert_refused(_audit(path, db_url), db_url, "audit.yaml", "cannot read")


def test_alias_bomb_is_refused_quickly(tmp_path: Path, db_url: str) -> None:
    start = time.perf_counter()
    _assert_refused(_audit(_write(tmp_path, _BOMB, None), db_url), db_url, "aliases")
    assert time.perf_counter() - start < 5


# --- spec: keys and values -----------------------------------------------------------------

SPEC_CASES: list[tuple[str, Any, str]] = [
    ("seed", -1, "seed"),
    ("seed", 2**40, "seed"),
    ("seed", "abc", "seed"),
    ("seed", 1.5, "seed"),
    # YAML booleans are no numbers (pydantic's lax mode read them as 1 and 0)
    ("seed", True, "seed: expected a number, got the boolean true"),
    ("threshold", False, "threshold: expected a number, got the boolean false"),
    ("min_group_size", True, "min_group_size"),
    ("explain.max_rows", True, "max_rows"),
    ("explain.quality.noise", True, "noise"),
    ("threshold", float("inf"), "threshold"),
    ("threshold", float("-inf"), "threshold"),
    ("threshold", float("nan"), "threshold"),
    ("min_group_size", 0, "min_group_size"),
    ("min_group_size", -5, "min_group_size"),
    ("min_group_size", 10**12, "min_group_size"),
    ("explain.max_rows", 0, "explain.max_rows"),
    ("explain.max_rows", 10**12, "explain.max_rows"),
    ("explain.background", 0, "explain.background"),
    ("explain.background", 10**6, "explain.background"),
    ("explain.steps", 1, "explain.steps"),
    ("explain.tolerance", -1.0, "explain.tolerance"),
    ("explain.tolerance", float("inf"), "explain.tolerance"),
    ("explain.tolerance", float("nan"), "explain.tolerance"),
    ("explain.quality.rows", 5, "explain.quality.rows"),
    ("explain.quality.noise", float("nan"), "explain.quality.noise"),
    ("explain.quality.noise", 0.0, "explain.quality.noise"),
    ("explain.method", "magic", "explain.method"),
    ("engine.chunk_rows", 0, "engine.chunk_rows"),
    ("engine.chunk_rows", -1, "engine.chunk_rows"),
    ("engine.chunk_rows", 10**12, "engine.chunk_rows"),
    ("engine.kind", "dask", "engine.kind"),
    ("small_category_exclusion", {"below_share": float("nan"), "justification": "x" * 30},
     "below_share"),
    ("small_category_exclusion", {"below_share": 0.5, "justification": "x" * 30},
     "below_share"),
    ("intersections", [["sex", "sex"]], "intersections.0"),
    ("intersections", [["sex", "age_band"], ["age_band", "sex"]], "intersections.1"),
    ("intersections", [["sex", "age_band"], ["sex", "age_band"]], "intersections.1"),
    ("intersections", [["sex"]], "intersections.0"),
    ("intersections", [["sex", "religion"]], "religion"),
    ("protected", ["sex", "sex"], "protected"),
    ("protected", [], "protected"),
    ("name", "../../etc/passwd", "name"),
    ("name", "<script>alert(1)</script>", "name"),
    ("name", "a" * 200, "name"),
    ("name", "two words", "name"),
    ("name", "", "name"),
    ("name", "\u202eevil", "name"),
    ("name", "x\x00y", "name"),
    ("domain", "insurance", "domain"),
    ("favorable", [1], "favorable"),
    ("favorable", {"a": 1}, "favorable"),
    ("trusted", True, "trusted"),
    ("missing_protected", "drop", "missing_protected"),
    ("audit_date", "2026-13-01", "audit_date"),
    ("data.format", "xls", "data.format"),
    ("evidence", {"adverse_impact_review": float("inf")}, "evidence.adverse_impact_review"),
    ("evidence", {"x": {"y": float("nan")}}, "evidence.x.y"),
    ("evidence", "not a mapping", "evidence"),
    ("policies", ["../../etc"], "policies.0"),
    ("policies", ["no_such_pack"], "no_such_pack"),
    ("policy_paths", ["/nonexistent/packs"], "policy_paths.0"),
    ("reference", {"religion": "A"}, "reference.religion"),
    ("columns.features", ["sex"], "protected attribute"),
    ("columns.features", ["approved"], "decision column"),
    ("columns.features", ["x1", "x1"], "listed twice"),
    ("columns.extra", "x", "columns.extra"),
    ("model", {"path": "m.txt", "kind": "lightgbm", "module": "os:system"}, "model.module"),
    ("model", {"path": "m.pt", "kind": "torch", "module": "os.system"}, "model.module"),
    ("model", {"path": "m.pt", "kind": "onnx"}, "model.kind"),
    ("model", {"path": "m.pt", "kind": "torch", "init": [1, 2]}, "model.init"),
    ("letters", {"max_reasons": 0}, "letters"),
    ("letters.counterfactual.actionable.x1", {"direction": "any", "min": 5, "max": 1},
     "min (5) is above max"),
    ("letters.counterfactual.actionable.x1", {"direction": "any", "step": float("inf")},
     "step"),
    ("letters", {"review": {"noise": float("nan")}}, "letters.review.noise"),
]


@pytest.mark.parametrize(
    ("key", "value", "culprit"), SPEC_CASES, ids=[f"{k}={v!r}"[:60] for k, v, _ in SPEC_CASES]
)
def test_hostile_spec_values_are_refused(
    key: str, value: Any, culprit: str, tmp_path: Path, db_url: str
) -> None:
    res = _audit(_write(tmp_path, _with(key, value), None), db_url)
    _assert_refused(res, db_url, "audit.yaml", culprit)


TAG_CASES = {
    "a set in model.init": ("model.init", "!!set {a, b}", "model.init"),
    "bytes in model.init": ("model.init", "{blob: !!binary aGVsbG8=}", "model.init"),
    "a set in evidence": ("evidence", "{tools: !!set {a}}", "evidence.tools"),
    "bytes in evidence": ("evidence", "{doc: !!binary aGVsbG8=}", "evidence.doc"),
    "a number key in evidence": ("evidence", "{1: yes}", "evidence"),
}


@pytest.mark.parametrize("case", sorted(TAG_CASES))
def test_non_plain_yaml_values_are_refused(case: str, tmp_path: Path, db_url: str) -> None:
    key, literal, culprit = TAG_CASES[case]
    spec = _with(key, "PLACEHOLDER")
    if key.startswith("model"):
        spec["model"] = {"path": "m.pt", "kind": "torch", "init": "PLACEHOLDER"}
    text = yaml.safe_dump(spec, sort_keys=False).replace("PLACEHOLDER", literal)
    _assert_refused(_audit(_write(tmp_path, text, None), db_url), db_url, culprit)


# --- spec: code loading --------------------------------------------------------------------


def _torch_spec(folder: Path, module: str, init: dict[str, Any] | None = None) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "model.pt", "w") as z:  # shaped like a torch.save file
        z.writestr("archive/data.pkl", b"not read: the module is checked first")
    return {
        **BASE,
        "model": {"path": "model.pt", "kind": "torch", "module": module, "init": init or {}},
    }


CODE_CASES = [
    "os:system",
    "subprocess:Popen",
    "builtins:eval",
    "importlib:import_module",
    "pickle:loads",
    "shutil:rmtree",
    "auditor.cli:app",
    "torch.nn:Linear",  # a real nn.Module, but not one the operator allowed
    "hostile_import_probe:Net",
]


@pytest.mark.parametrize("module", CODE_CASES)
def test_a_spec_alone_imports_no_module(module: str, tmp_path: Path, db_url: str) -> None:
    marker = tmp_path / "ran"
    probe = tmp_path / "hostile_import_probe.py"
    probe.write_text(f"open({str(marker)!r}, 'w').close()\nNet = object\n")
    sys.path.insert(0, str(tmp_path))
    try:
        spec = _torch_spec(tmp_path, module, {"command": f"touch {marker}"})
        res = _audit(_write(tmp_path, spec, None), db_url)
    finally:
        sys.path.remove(str(tmp_path))
    _assert_refused(res, db_url, "model.module", "not an allowed model module", "--allow-module")
    assert not marker.exists()
    assert "hostile_import_probe" not in sys.modules


@pytest.mark.parametrize("how", ["option", "environment"])
def test_an_allowed_module_must_still_name_an_nn_module(
    how: str, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "ran"
    spec = _torch_spec(tmp_path, "os:system", {"command": f"touch {marker}"})
    args: list[str] = []
    monkeypatch.setenv("AUDITOR_ALLOWED_MODULES", "" if how == "option" else "os")
    if how == "option":
        args = ["--allow-module", "os"]
    res = _audit(_write(tmp_path, spec, None), db_url, *args)
    _assert_refused(res, db_url, "model.module", "not a torch.nn.Module subclass")
    assert not marker.exists()


def test_a_pickle_runs_nothing_without_trusted(tmp_path: Path, db_url: str) -> None:
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
            return (os.system, (f"touch {marker}",))

    import pickle

    (tmp_path / "model.pkl").write_bytes(pickle.dumps(Payload()))
    spec = {**BASE, "model": {"path": "model.pkl", "kind": "sklearn"}}
    res = _audit(_write(tmp_path, spec, None), db_url)
    _assert_refused(res, db_url, "model.pkl", "trusted")
    assert not marker.exists()


UPLOAD_CASES = {
    "module (even auditor's own)": (
        {"model": {"path": "m.pt", "kind": "torch", "module": "auditor.models.mlp:TabularMLP"}},
        "model.module",
    ),
    "module os:system": ({"model": {"path": "m.pt", "kind": "torch", "module": "os:system"}},
                         "model.module"),
    "trusted pickle": ({"model": {"path": "m.pkl", "kind": "sklearn", "trusted": True}},
                       "model.trusted"),
    "alias bomb": (_BOMB, "aliases"),
    "deep nesting": ("evidence: " + "[" * 5000 + "]" * 5000, "nesting"),
    "path outside the data root": ({"data": {"path": "../../etc/passwd"}}, "data.path"),
    "a URL to fetch": ({"data": {"path": "s3a://attacker/bucket"}}, "data.path"),
    "an outside Spark master": (
        {"engine": {"kind": "spark", "master": "spark://attacker.example:7077"}},
        "engine.master",
    ),
}


@pytest.mark.parametrize("case", sorted(UPLOAD_CASES))
def test_an_uploaded_spec_never_runs_code(case: str, tmp_path: Path) -> None:
    from auditor.web.uploads import load_uploaded_spec

    change, culprit = UPLOAD_CASES[case]
    _frame().to_csv(tmp_path / "data.csv", index=False)
    text = change if isinstance(change, str) else yaml.safe_dump({**BASE, **change})
    with pytest.raises(SpecError) as exc:
        load_uploaded_spec(text.encode(), "evil.yaml", tmp_path)
    assert "evil.yaml" in str(exc.value)
    assert culprit in str(exc.value)
    assert str(tmp_path / "auditor-upload") not in str(exc.value)


def test_a_web_job_forbids_code_whatever_the_spec_object_says(tmp_path: Path) -> None:
    """The hook in the web's job runner: a spec object marked untrusted loads no module."""
    from auditor.models import load_model
    from auditor.spec import load_spec

    spec = load_spec(_torch_spec(tmp_path, "auditor.models.mlp:TabularMLP"), base_dir=tmp_path)
    spec.forbid_code()
    with pytest.raises(AuditorError, match="uploaded through the web workspace"):
        load_model(spec)


# --- data ----------------------------------------------------------------------------------


def _set(column: str, rows: list[int], value: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        if isinstance(value, str) and pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].astype(object)
        elif isinstance(value, float):
            frame[column] = frame[column].astype(np.float64)
        frame.loc[rows, column] = value
        return frame

    return change


DATA_CASES: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], tuple[str, ...]]] = {
    "+inf score": (_set("score", [4], np.inf), ("'score'", "infinite", "row(s) 5")),
    "-inf score": (_set("score", [9, 10], -np.inf), ("'score'", "infinite", "10, 11")),
    "1e400 score (parsed as inf)": (_set("score", [0], "1e400"), ("'score'", "infinite")),
    "NaN score": (_set("score", [3], np.nan), ("'score'", "row(s) 4")),
    "text score": (_set("score", [7], "high"), ("'score'", "row(s) 8")),
    "+inf decision": (_set("approved", [2], np.inf), ("'approved'", "infinite", "row(s) 3")),
    "-inf label": (_set("label", [5], -np.inf), ("'label'", "infinite", "row(s) 6")),
    "+inf feature": (_set("x1", [11], np.inf), ("'x1'", "infinite", "row(s) 12")),
    "-inf integer feature": (_set("x2", [0, 79], -np.inf), ("'x2'", "infinite", "1, 80")),
    "stray decision 2": (_set("approved", [77], 2), ("'approved'", "'2'", "row(s) 78")),
    "stray value more common than 0": (
        _set("approved", list(range(60)), 2),
        ("'approved'", "'2' at row(s) 1, 2, 3, 4, 5", "(60 in all)"),
    ),
    "stray decision text": (_set("approved", [40], "yes"), ("'approved'", "'yes'", "41")),
    "missing decision": (_set("approved", [6], np.nan), ("'approved'", "row(s) 7")),
    "favourable value never occurs": (_set("approved", list(range(ROWS)), 0),
                                      ("'approved'", "never occurs")),
    "repeated ids": (_set("applicant_id", [1, 2], "A000"), ("id column", "A000")),
    "one group only": (_set("sex", list(range(ROWS)), "F"), ("'sex'", "only 'F'")),
    "no known group": (_set("age_band", list(range(ROWS)), ""), ("'age_band'", "no known")),
    "no rows": (lambda f: f.iloc[:0], ("no rows",)),
    "missing protected column": (lambda f: f.drop(columns=["sex"]), ("'sex'", "missing")),
    "missing feature column": (lambda f: f.drop(columns=["x2"]), ("'x2'", "missing")),
    # group names are stored (PostgreSQL refuses NUL and keeps 200 characters) and laid
    # out in the PDF (a 2 MB name took WeasyPrint minutes): refused at load, by row
    "NUL in a group name": (_set("sex", [3], "F\x00"), ("'sex'", "control characters", "row(s) 4")),
    "line break in a group name": (_set("sex", [3, 9], "F\nM"), ("'sex'", "row(s) 4, 10")),
    "2,000,000-character group name": (
        _set("age_band", [3], "x" * 2_000_000),
        ("'age_band'", "longer than 200 characters", "row(s) 4"),
    ),
    # ids are stored with letters (decisions.decision_id: 200 characters, no NUL on
    # PostgreSQL) and name the letter's file: refused at load, not when a letter is stored
    "NUL in an id": (_set("applicant_id", [5], "A\x00X"), ("'applicant_id'", "row(s) 6")),
    "a 300-character id": (
        _set("applicant_id", [7], "A" * 300),
        ("'applicant_id'", "longer than 200 characters", "row(s) 8"),
    ),
    # pandas renames a repeated header to 'sex.1' and audits the first: which of two
    # columns called 'sex' was meant is for the data's owner to say
    "protected column twice": (
        lambda f: pd.concat([f, f[["sex"]].replace({"F": "M", "M": "F"})], axis=1),
        ("'sex'", "2 times", "columns 5 and 9"),
    ),
    "feature column twice": (
        lambda f: pd.concat([f[["x1"]] * 10, f], axis=1),
        ("'x1'", "2 times", "columns 1 and 8"),
    ),
}


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_hostile_data_is_refused(case: str, tmp_path: Path, db_url: str) -> None:
    change, culprit = DATA_CASES[case]
    res = _audit(_write(tmp_path, BASE, change(_frame())), db_url)
    _assert_refused(res, db_url, "data.csv", *culprit)


def test_inf_in_a_parquet_feature_is_refused(tmp_path: Path, db_url: str) -> None:
    frame = _frame()
    frame["x1"] = frame["x1"].astype("float32")
    frame.loc[3, "x1"] = np.float32(np.inf)
    path = _write(tmp_path, _with("data.path", "data.parquet"), None)
    frame.to_parquet(tmp_path / "data.parquet")
    _assert_refused(_audit(path, db_url), db_url, "data.parquet", "'x1'", "row(s) 4")


def test_attribute_names_too_long_to_store_are_refused(tmp_path: Path, db_url: str) -> None:
    """metrics.attribute keeps 200 characters: an intersection of two long column names
    ('a & b') audited, then PostgreSQL refused to store its metrics."""
    long_sex, long_age = "s" * 120, "a" * 100
    frame = _frame().rename(columns={"sex": long_sex, "age_band": long_age})
    spec = {**BASE, "protected": [long_sex, long_age], "intersections": [[long_sex, long_age]]}
    res = _audit(_write(tmp_path, spec, frame), db_url)
    _assert_refused(res, db_url, "audit.yaml", "intersections.0", "200 characters")


@pytest.mark.parametrize(
    ("where", "culprit"),
    [("parts", "a folder"), ("/dev/zero", "not a regular file")],
    ids=["a folder", "a device"],
)
def test_data_that_is_no_file_is_named_as_such(
    where: str, culprit: str, tmp_path: Path, db_url: str
) -> None:
    """'Data file not found' for a path that exists sent the officer looking for a typo."""
    (tmp_path / "parts").mkdir()
    _assert_refused(_audit(_write(tmp_path, _with("data.path", where), None), db_url), db_url,
                    where, culprit)


def test_an_intersection_name_too_long_to_store_is_refused(tmp_path: Path, db_url: str) -> None:
    """Each name fits, "sex & age_band" does not: named before the audit runs."""
    frame = _frame()
    frame["sex"] = frame["sex"].map({"F": "Female " + "x" * 110, "M": "M"})
    frame["age_band"] = frame["age_band"].map({"young": "y" * 100, "old": "old"})
    spec = {**BASE, "intersections": [["sex", "age_band"]]}
    start = time.perf_counter()
    res = _audit(_write(tmp_path, spec, frame), db_url)
    _assert_refused(res, db_url, "data.csv", "sex & age_band", "longer than 200", "row(s) 1, 5")
    assert time.perf_counter() - start < 10


def test_the_group_name_limit_is_the_stores() -> None:
    from auditor.data import MAX_GROUP_TEXT
    from auditor.store.models import Metric

    assert Metric.__table__.c.group.type.length == MAX_GROUP_TEXT
    assert Metric.__table__.c.reference.type.length == MAX_GROUP_TEXT


def _parquet_with(tmp_path: Path, column: str, values: Any) -> Path:
    """A Parquet file of the base frame with ``column`` replaced by an Arrow array; the
    pandas metadata still describes the old column, as after an edit by another tool."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(_frame(), preserve_index=False)
    index = table.schema.get_field_index(column)
    pq.write_table(table.set_column(index, column, values), tmp_path / "data.parquet")
    return _write(tmp_path, _with("data.path", "data.parquet"), None)


@pytest.mark.parametrize("engine", [{}, {"chunk_rows": 7}], ids=["in memory", "streamed"])
def test_a_list_column_in_parquet_is_refused(
    engine: dict[str, Any], tmp_path: Path, db_url: str
) -> None:
    import pyarrow as pa

    path = _parquet_with(tmp_path, "sex", pa.array([[v] for v in _frame()["sex"]]))
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump({**spec, "engine": engine}), encoding="utf-8")
    _assert_refused(_audit(path, db_url), db_url, "data.parquet", "cannot read")


@pytest.mark.parametrize("engine", [{}, {"chunk_rows": 7}], ids=["in memory", "streamed"])
def test_a_repeated_parquet_column_is_named(
    engine: dict[str, Any], tmp_path: Path, db_url: str
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(_frame(), preserve_index=False)
    table = table.append_column("sex", pa.array(["M"] * ROWS))
    path = _write(tmp_path, {**_with("data.path", "data.parquet"), "engine": engine}, None)
    pq.write_table(table, tmp_path / "data.parquet")
    _assert_refused(_audit(path, db_url), db_url, "data.parquet", "'sex'", "2 times")


@pytest.mark.parametrize(
    ("name", "content"),
    [("data.csv", None), ("data.parquet", b"PAR1 not really parquet")],
    ids=["missing file", "corrupt parquet"],
)
def test_unreadable_data_is_refused(
    name: str, content: bytes | None, tmp_path: Path, db_url: str
) -> None:
    path = _write(tmp_path, _with("data.path", name), None)
    (tmp_path / "data.csv").unlink()
    if content is not None:
        (tmp_path / name).write_bytes(content)
    _assert_refused(_audit(path, db_url), db_url, name)


def test_inf_in_a_streamed_chunk_is_named_by_its_row_in_the_file() -> None:
    """The streaming engine checks features chunk by chunk: rows are the file's, not the
    chunk's (the check runs before the model, so no model is needed here)."""
    from types import SimpleNamespace

    from auditor.engine.kernel import run_chunk
    from auditor.errors import DataValidationError

    chunk = pd.DataFrame({"x1": [0.5, np.inf, 1.0]})  # a reader's chunk, indexed from 0
    plan: Any = SimpleNamespace(source="big.csv")
    with pytest.raises(DataValidationError, match=r"(?s)big\.csv.*'x1'.*infinite.*row\(s\) 502"):
        run_chunk(plan, None, chunk, pd.DataFrame(index=range(3)), np.arange(500, 503))


def test_a_bad_decision_at_row_999_990_of_a_million_is_named_by_row() -> None:
    from auditor.data import decisions_from_frame
    from auditor.errors import DataValidationError
    from auditor.spec import load_spec

    n = 1_000_000
    frame = pd.DataFrame(
        {
            "applicant_id": np.arange(n).astype(str),
            "approved": np.arange(n) % 2,
            "sex": np.where(np.arange(n) % 3 == 0, "F", "M"),
        }
    )
    frame.loc[999_989, "approved"] = 7
    spec = load_spec(
        {
            "name": "million",
            "domain": "credit",
            "data": {"path": "x.csv"},
            "columns": {"id": "applicant_id", "decision": "approved"},
            "protected": ["sex"],
        }
    )
    with pytest.raises(DataValidationError) as exc:
        decisions_from_frame(spec, frame, Path("x.csv"))
    assert "'7' at row(s) 999990" in str(exc.value)


# --- policy packs --------------------------------------------------------------------------


def _pack(root: Path, rule: dict[str, Any], fixture: dict[str, Any] | None) -> Path:
    folder = root / "acme"
    (folder / "rules").mkdir(parents=True)
    (folder / "pack.yaml").write_text(
        yaml.safe_dump(
            {
                "id": "acme",
                "title": "ACME internal",
                "version": "1",
                "instrument": "ACME policy",
                "jurisdiction": "ACME",
                "description": "Internal screens.",
            }
        )
    )
    (folder / "rules" / f"{rule['id']}.yaml").write_text(yaml.safe_dump(rule, sort_keys=False))
    if fixture is not None:
        (folder / "fixtures").mkdir()
        (folder / "fixtures" / f"{rule['id']}.yaml").write_text(yaml.safe_dump(fixture))
    return root


def _pattern_rule(pattern: Any, rule_id: str = "ACME-TEXT") -> dict[str, Any]:
    return {
        "id": rule_id,
        "title": "The review names the method",
        "instrument": "ACME policy",
        "citation": "ACME §1",
        "jurisdiction": "ACME",
        "domain": "both",
        "status": "binding",
        "kind": "process",
        "basis": "guidance",
        "severity": "low",
        "check": {
            "type": "condition",
            "scope": "audit",
            "outcomes": [
                {
                    "status": "pass",
                    "when": {"fact": "evidence.review", "op": "contains", "value": pattern},
                }
            ],
            "otherwise": "fail",
        },
        "message": {"pass": "ok", "fail": "missing"},
        "sources": ["ACME policy"],
    }


def _fixture(rule_id: str, review: str, status: str, **evidence: Any) -> dict[str, Any]:
    return {
        "rule": rule_id,
        "cases": [
            {
                "name": "a review text",
                "facts": {"domain": "hiring", "evidence": {"review": review, **evidence}},
                "expect": [{"scope": "audit", "status": status}],
            }
        ],
    }


PACK_CASES: dict[str, tuple[Any, tuple[str, ...]]] = {
    "backreference": (r"(a)\1", ("ACME-TEXT", "invalid regular expression")),
    "lookahead": (r"method(?=s)", ("ACME-TEXT", "invalid regular expression")),
    "lookbehind": (r"(?<=a)b", ("ACME-TEXT", "invalid regular expression")),
    "unbalanced": (r"(method", ("ACME-TEXT", "invalid regular expression")),
    "over-long": ("a" * 2000, ("ACME-TEXT", "longer than")),
}


@pytest.mark.parametrize("case", sorted(PACK_CASES))
def test_backtracking_patterns_are_refused_at_load(case: str, tmp_path: Path, db_url: str) -> None:
    pattern, culprit = PACK_CASES[case]
    root = _pack(tmp_path / "org", _pattern_rule(pattern), _fixture("ACME-TEXT", "x", "fail"))
    spec = {**BASE, "policies": ["acme"], "policy_paths": [str(root)]}
    _assert_refused(_audit(_write(tmp_path, spec, None), db_url), db_url, *culprit)
    validate = runner.invoke(app, ["policies", "validate", str(root / "acme")])
    assert validate.exit_code == 2
    assert "ACME-TEXT" in validate.output


def test_catastrophic_pattern_returns_at_once(tmp_path: Path) -> None:
    """``^(a+)+$`` on 40 a's and a '!' never returns under backtracking; RE2 is linear."""
    rule = _pattern_rule("^(a+)+$")
    root = _pack(tmp_path / "org", rule, _fixture("ACME-TEXT", "a" * 40 + "!", "fail"))
    start = time.perf_counter()
    res = runner.invoke(app, ["policies", "validate", str(root / "acme")])
    assert res.exit_code == 0, res.output
    assert time.perf_counter() - start < 5


def test_an_invalid_pattern_from_a_fact_names_the_rule(tmp_path: Path, db_url: str) -> None:
    rule = _pattern_rule({"fact": "evidence.pattern"})
    fixture = _fixture("ACME-TEXT", "method A", "pass", pattern="method")
    root = _pack(tmp_path / "org", rule, fixture)
    spec = {
        **BASE,
        "policies": ["acme"],
        "policy_paths": [str(root)],
        "evidence": {"review": "method", "pattern": "(unclosed"},
    }
    res = _audit(_write(tmp_path, spec, None), db_url)
    _assert_refused(res, db_url, "rule ACME-TEXT", "invalid regular expression", "(unclosed")


def _valid_pack(root: Path) -> Path:
    return _pack(root, _pattern_rule("m"), _fixture("ACME-TEXT", "m", "pass"))


def _no_fixtures(root: Path) -> None:
    _pack(root, _pattern_rule("method"), None)


def _failing_fixture(root: Path) -> None:
    _pack(root, _pattern_rule("method"), _fixture("ACME-TEXT", "x", "pass"))


def _bomb_rule(root: Path) -> None:
    (_valid_pack(root) / "acme" / "rules" / "ACME-TEXT.yaml").write_text(_BOMB)


def _deep_fixture(root: Path) -> None:
    deep = "rule: " + "[" * 20000 + "]" * 20000
    (_valid_pack(root) / "acme" / "fixtures" / "ACME-TEXT.yaml").write_text(deep)


def _python_tag_meta(root: Path) -> None:
    (_valid_pack(root) / "acme" / "pack.yaml").write_text("id: !!python/name:os.system\n")


def _renamed_meta(root: Path) -> None:
    meta = _valid_pack(root) / "acme" / "pack.yaml"
    meta.write_text(meta.read_text().replace("id: acme", "id: other"))


def _twice_in_a_rule(root: Path) -> None:
    rule = _valid_pack(root) / "acme" / "rules" / "ACME-TEXT.yaml"
    rule.write_text(rule.read_text() + "severity: high\n")


def _long_rule_id(root: Path) -> None:
    rule_id = "ACME-" + "X" * 200  # findings.rule_id keeps 200 characters
    _pack(root, _pattern_rule("m", rule_id), _fixture(rule_id, "m", "pass"))


def _exec_check(root: Path) -> None:
    rule = {**_pattern_rule("m"), "check": {"type": "exec", "code": "import os"}}
    _pack(root, rule, _fixture("ACME-TEXT", "m", "pass"))


def _pipe_rule(root: Path) -> None:
    # opening a named pipe blocks until a writer comes: the load must not wait for one
    os.mkfifo(_valid_pack(root) / "acme" / "rules" / "pipe.yaml")


def _bool_threshold(root: Path) -> None:
    rule = {
        **_pattern_rule("m", "ACME-RATIO"),
        "kind": "metric",
        "check": {"type": "ratio_threshold", "metric": "impact_ratio", "min": True},
    }
    _pack(root, rule, _fixture("ACME-RATIO", "m", "pass"))


PACK_FILE_CASES: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "rule without fixtures": (_no_fixtures, ("without fixtures", "ACME-TEXT")),
    "failing fixture": (_failing_fixture, ("fixtures fail", "ACME-TEXT")),
    "alias bomb in a rule": (_bomb_rule, ("ACME-TEXT.yaml", "aliases")),
    "deep nesting in a fixture": (_deep_fixture, ("ACME-TEXT.yaml", "nesting")),
    "python tag in pack.yaml": (_python_tag_meta, ("pack.yaml", "malformed yaml")),
    "pack id differs from folder": (_renamed_meta, ("pack.yaml", "differs from folder")),
    "unknown check type": (_exec_check, ("ACME-TEXT", "check")),
    "a rule id too long to store": (_long_rule_id, ("ACME-XXXX", "at most 200 characters")),
    "a key given twice in a rule": (
        _twice_in_a_rule,
        ("ACME-TEXT.yaml", "duplicate key 'severity'"),
    ),
    "a named pipe among the rules": (_pipe_rule, ("pipe.yaml", "only a regular file")),
    "a boolean as a threshold": (_bool_threshold, ("ACME-RATIO", "boolean true")),
}


@pytest.mark.parametrize("case", sorted(PACK_FILE_CASES))
def test_hostile_pack_files_are_refused(case: str, tmp_path: Path, db_url: str) -> None:
    build, culprit = PACK_FILE_CASES[case]
    root = tmp_path / "org"
    build(root)
    spec = {**BASE, "policies": ["acme"], "policy_paths": [str(root)]}
    _assert_refused(_audit(_write(tmp_path, spec, None), db_url), db_url, *culprit)


def test_a_pack_id_too_long_to_store_is_refused(tmp_path: Path, db_url: str) -> None:
    """findings.pack keeps 100 characters: a longer pack id audited, then PostgreSQL
    refused to store the findings ('value too long'), naming neither pack nor key."""
    long_id = "acme_" + "x" * 100
    root = _valid_pack(tmp_path / "org")
    (root / "acme").rename(root / long_id)
    meta = root / long_id / "pack.yaml"
    meta.write_text(meta.read_text().replace("id: acme", f"id: {long_id}"))
    spec = {**BASE, "policies": [long_id], "policy_paths": [str(root)], "evidence": {"review": "m"}}
    res = _audit(_write(tmp_path, spec, None), db_url)
    _assert_refused(res, db_url, "pack.yaml", "at most 100 characters")


def test_a_rule_past_its_time_budget_is_stopped_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from auditor.policy import load_pack
    from auditor.policy.fixtures import run_fixtures

    monkeypatch.setattr("auditor.policy.engine.RULE_BUDGET_S", -1.0)  # already past
    pack = load_pack(REPO / "policies" / "eeoc_ugesp")
    with pytest.raises(PolicyLoadError, match=r"rule [A-Z0-9-]+: evaluation took longer"):
        run_fixtures(pack)


# --- evidence through the Python API --------------------------------------------------------


def test_numpy_scalars_in_evidence_are_converted() -> None:
    import json

    from auditor.spec import load_spec

    spec = load_spec(
        {
            **BASE,
            "evidence": {"n": np.int64(3), "share": np.float32(0.5), "ok": np.bool_(True)},
        }
    )
    assert spec.evidence == {"n": 3, "share": 0.5, "ok": True}
    json.dumps(spec.as_dict())  # the result's spec serialises


@pytest.mark.parametrize(
    "value",
    [np.array([1, 2]), object(), {1, 2}, b"bytes", np.float64("inf"), pd.NaT, 1j],
    ids=["array", "object", "set", "bytes", "numpy inf", "NaT", "complex"],
)
def test_non_plain_evidence_is_the_tools_own_error(value: Any) -> None:
    from auditor.spec import load_spec

    with pytest.raises(SpecError, match=r"evidence\.x"):
        load_spec({**BASE, "evidence": {"x": value}})


def test_a_python_alias_bomb_in_evidence_is_refused_quickly() -> None:
    """Shared lists in a Python object graph expand like a YAML alias bomb (9**9 values)."""
    from auditor.spec import load_spec

    node: Any = ["lol"] * 9
    for _ in range(8):
        node = [node] * 9
    start = time.perf_counter()
    with pytest.raises(SpecError, match=r"evidence\.bomb.*more than 50,000 values"):
        load_spec({**BASE, "evidence": {"bomb": node}})
    assert time.perf_counter() - start < 5


# --- recipients ------------------------------------------------------------------------------

RECIPIENT_CASES = {
    "no header": ("", "empty"),
    "missing columns": ("decision_id,name\nA001,Ann\n", "address_1"),
    "repeated decision": (
        "decision_id,name,address_1\nA1,Ann,1 Road\nA1,Bob,2 Road\n",
        "line 3",
    ),
    "control characters": ("decision_id,name,address_1\nA1,Ann\x1b[31m,1 Road\n", "line 2"),
    "no address": ("decision_id,name,address_1\nA1,Ann,\n", "line 2"),
    "over-long value": (f"decision_id,name,address_1\nA1,{'x' * 600},1 Road\n", "line 2"),
    "huge field": (f"decision_id,name,address_1\nA1,\"{'x' * 200_000}\",r\n", "line"),
}


@pytest.mark.parametrize("case", sorted(RECIPIENT_CASES))
def test_hostile_recipients_files_name_the_line(case: str, tmp_path: Path) -> None:
    from auditor.letters.recipients import RecipientError, read_recipients

    text, culprit = RECIPIENT_CASES[case]
    path = tmp_path / "recipients.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RecipientError) as exc:
        read_recipients(path)
    assert str(path) in str(exc.value)
    assert culprit in str(exc.value)


# --- report strings and output files ---------------------------------------------------------


def test_the_base_inputs_audit_cleanly_and_hostile_names_render_as_text(tmp_path: Path) -> None:
    """The cases above are refused for what each changes, not for the base inputs; and
    group names that are markup reach the report as text (the socket guard sees to it
    that nothing is fetched)."""
    from auditor.report import render_html
    from auditor.result import AuditResult

    frame = _frame()
    img, script = '<img src="http://evil.example/x">', "</td><script>alert(1)</script>"
    frame["sex"] = np.where(np.arange(ROWS) % 2 == 0, img, script)
    spec = _write(tmp_path, BASE, frame)
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["audit", str(spec), "--no-store", "-q", "--json", str(out)])
    assert res.exit_code == 0, res.output
    result = AuditResult.from_json(out.read_text(encoding="utf-8"))
    assert {g.group for g in result.dataset.groups if g.attribute == "sex"} == {img, script}
    html = render_html(result)
    assert img not in html
    assert script not in html
    assert "&lt;img src=" in html


def test_a_full_file_system_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    import auditor.service as service

    real_fdopen = os.fdopen

    class Full:
        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(service.os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    out = tmp_path / "out"
    res = _audit(_write(tmp_path, BASE, None), db_url, "--json", str(out / "r.json"))
    _assert_refused(res, db_url, "r.json", "no space left")
    assert list(out.iterdir()) == []


def test_an_output_that_is_a_folder_is_refused_before_the_audit(
    tmp_path: Path, db_url: str
) -> None:
    (tmp_path / "r.pdf").mkdir()
    res = _audit(_write(tmp_path, BASE, None), db_url, "--pdf", str(tmp_path / "r.pdf"))
    _assert_refused(res, db_url, "r.pdf", "folder")
    assert list((tmp_path / "r.pdf").iterdir()) == []


@pytest.mark.parametrize("how", ["a pipe", "a link to a pipe"])
def test_an_output_that_is_a_stream_is_written_into_not_replaced(
    how: str, tmp_path: Path
) -> None:
    """Outputs are staged and renamed over the target: for a device or a pipe that
    replaced the node itself ('--json /dev/stdout' or '--pdf /dev/null' run as root made
    /dev/stdout or /dev/null a regular file for the whole machine). A stream is written
    into when the outputs are committed (``--json /dev/stdout | jq`` works) and stays
    what it was. A FIFO here stands in for the device."""
    import json
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    target = fifo
    if how == "a link to a pipe":
        target = tmp_path / "stdout"
        target.symlink_to(fifo)
    received: list[bytes] = []

    def read() -> None:
        with fifo.open("rb") as fh:
            received.append(fh.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # an audit of its own database: this one is stored (the module's must stay empty)
    own_db = f"sqlite:///{tmp_path / 'own.db'}"
    res = _audit(_write(tmp_path / "in", BASE, None), own_db, "--json", str(target))
    if not received and reader.is_alive():
        with fifo.open("wb"):  # the audit never opened the pipe: let the reader end
            pass
    reader.join(30)
    assert res.exit_code == 0, res.output
    assert json.loads(received[0])["schema_version"] >= 1
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert target.is_symlink() == (how == "a link to a pipe")
    assert not list(Path(tempfile.gettempdir()).glob(".auditor-output.*"))


def test_an_output_through_a_link_replaces_the_file_and_keeps_the_link(tmp_path: Path) -> None:
    """``--json /dev/stdout`` with stdout redirected to a file: /dev/stdout is a link (to
    /proc/self/fd/1, itself a link to the file). The result replaces the file the link
    points at; the link stays a link."""
    import json

    real = tmp_path / "out" / "result.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "stdout"
    link.symlink_to(real)
    own_db = f"sqlite:///{tmp_path / 'own.db'}"
    res = _audit(_write(tmp_path / "in", BASE, None), own_db, "--json", str(link))
    assert res.exit_code == 0, res.output
    assert link.is_symlink()
    assert link.resolve() == real.resolve()
    assert json.loads(real.read_text())["schema_version"] >= 1
    assert sorted(p.name for p in real.parent.iterdir()) == ["result.json"]


def test_an_output_that_is_a_socket_is_refused(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        res = _audit(_write(tmp_path / "in", BASE, None), db_url, "--json", str(path))
    _assert_refused(res, db_url, str(path), "not a regular file")


@pytest.mark.parametrize("which", ["the spec", "the data", "--pdf"])
def test_an_output_that_is_an_input_is_refused_before_the_audit(
    which: str, tmp_path: Path, db_url: str
) -> None:
    """'--json audit.yaml' replaced the spec it audited with the result."""
    spec = _write(tmp_path, BASE, None)
    target = {"the spec": spec, "the data": tmp_path / "data.csv", "--pdf": tmp_path / "r"}
    before = {p: p.read_bytes() for p in (spec, tmp_path / "data.csv")}
    res = _audit(spec, db_url, "--json", str(target[which]), "--pdf", str(tmp_path / "r"))
    _assert_refused(res, db_url, str(target[which]), "name another file")
    assert {p: p.read_bytes() for p in before} == before
    assert not (tmp_path / "r").exists()


# --- files that are not files --------------------------------------------------------------


def test_a_spec_folder_is_named_as_a_folder(tmp_path: Path, db_url: str) -> None:
    (tmp_path / "specs").mkdir()
    res = _audit(tmp_path / "specs", db_url)
    _assert_refused(res, db_url, "specs is a folder", "name the audit spec file")


def test_a_spec_pipe_nobody_writes_to_is_refused_at_once(tmp_path: Path, db_url: str) -> None:
    pipe = tmp_path / "audit.yaml"
    os.mkfifo(pipe)
    start = time.perf_counter()
    res = _audit(pipe, db_url)
    _assert_refused(res, db_url, "audit.yaml", "pipe nobody wrote to")
    assert time.perf_counter() - start < 10


def test_evidence_from_a_pipe_is_read_and_a_silent_pipe_is_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shell process substitution (``--evidence <(make-evidence)``) hands a pipe: it is
    read; a pipe whose writer never writes is given up after the idle limit."""
    from auditor.reevaluate import read_evidence_file

    read_end, write_end = os.pipe()
    os.write(write_end, b"retention_months: 25\n")
    os.close(write_end)
    try:
        assert read_evidence_file(Path(f"/proc/self/fd/{read_end}")) == {"retention_months": 25}
    finally:
        os.close(read_end)

    monkeypatch.setattr("auditor.input_files.PIPE_IDLE_SECONDS", 0.2)
    read_end, write_end = os.pipe()  # the writer stays open and says nothing
    try:
        start = time.perf_counter()
        with pytest.raises(SpecError, match=r"sent nothing for 0\.2 s"):
            read_evidence_file(Path(f"/proc/self/fd/{read_end}"))
        assert time.perf_counter() - start < 5
    finally:
        os.close(read_end)
        os.close(write_end)
