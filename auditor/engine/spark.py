"""The Spark engine: attributions and their per-group sums computed where the decisions are.

Each partition runs the same kernel as the in-process engine
(:func:`auditor.engine.kernel.run_chunk`) through ``mapInArrow``: the model travels as its
file bytes (LightGBM text, a torch state dict) and is loaded once per Python worker; each
Arrow batch returns one row — its positions, its scores and its attribution sums as
JSON — never the attributions themselves, and nothing is shuffled. The driver reads the
narrow per-decision columns and, for slice search and proxy statistics, one feature
column at a time (see :mod:`auditor.engine.measure`), exactly as the local engine does.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditor.batch import DecisionBatch
from auditor.engine.kernel import ChunkPlan, run_chunk
from auditor.engine.sums import AttributionSums
from auditor.errors import AuditorError, DataValidationError
from auditor.models.base import ModelAdapter
from auditor.spec import AuditSpec

POS = "__auditor_pos"
_MODELS: dict[str, ModelAdapter] = {}  # per Python worker: model digest -> adapter


def spark_session(master: str | None) -> Any:
    """The active SparkSession (spark-submit, notebooks, tests), else a new one."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise AuditorError(
            "The Spark engine needs PySpark: pip install 'auditor[spark]' (and Java 17)."
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    # workers must run this interpreter (with auditor, lightgbm, torch), not the system one
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("auditor")
    return builder.master(master or "local[*]").getOrCreate()


class SparkSource:
    """Decisions in a Parquet dataset (or CSV) read by Spark; wide work per partition."""

    def __init__(self, spec: AuditSpec) -> None:
        if spec.data.protected_path:
            raise DataValidationError(
                "engine: spark reads one dataset; join the protected attributes "
                "(data.protected_path) into it first."
            )
        from pyspark.sql import functions as F

        self.spec = spec
        self.spark = spark_session(spec.engine.master)
        path = spec.resolve(spec.data.path)
        self.label = str(path)
        kind = spec.data.format or ("csv" if path.suffix.lower() == ".csv" else "parquet")
        reader = self.spark.read
        try:
            frame = (
                reader.parquet(str(path))
                if kind == "parquet"
                else reader.csv(str(path), header=True, inferSchema=True)
            )
        except Exception as exc:  # Spark raises its own analysis errors
            raise DataValidationError(f"{path}: Spark cannot read it: {exc}") from None
        self.frame = frame.withColumn(POS, F.monotonically_increasing_id())
        self.names = [c for c in self.frame.columns if c != POS]
        self.positions: np.ndarray | None = None  # POS id of each global row position
        if spec.engine.chunk_rows:
            self.spark.conf.set(
                "spark.sql.execution.arrow.maxRecordsPerBatch", str(spec.engine.chunk_rows)
            )

    def _collect(self, columns: list[str], where: Any = None) -> pd.DataFrame:
        frame = self.frame if where is None else self.frame.filter(where)
        table = frame.select(*columns, POS).toArrow()
        out: pd.DataFrame = table.to_pandas()
        return out.sort_values(POS, kind="stable").reset_index(drop=True)

    def read(self, columns: list[str]) -> pd.DataFrame:
        """These columns for every row, in file order (brought to the driver)."""
        out = self._collect(columns)
        if self.positions is None:
            self.positions = out[POS].to_numpy(dtype=np.int64)
        return out.drop(columns=[POS])

    def take(self, positions: np.ndarray, columns: list[str]) -> pd.DataFrame:
        """A few rows by global position."""
        from pyspark.sql import functions as F

        assert self.positions is not None  # read() runs first
        ids = self.positions[positions].tolist()
        return self._collect(columns, F.col(POS).isin(ids)).drop(columns=[POS])

    def wide_pass(
        self, plan: ChunkPlan, model: ModelAdapter, batch: DecisionBatch
    ) -> tuple[np.ndarray, AttributionSums]:
        """Run the kernel on every partition; gather positions, scores and sums."""
        assert self.positions is not None
        spec = self.spec
        assert spec.model is not None
        model_path = spec.resolve(spec.model.path)
        payload = _Payload(
            spec=spec,
            model_bytes=model_path.read_bytes(),
            model_name=model_path.name,
            plan=_plan_by_id(plan, self.positions),
            task_cpus=int(self.spark.conf.get("spark.task.cpus", "1") or 1),
        )
        features = list(spec.columns.features)
        protected = [a for a in spec.protected if a in self.names]
        schema = "pos binary, scores binary, sums string"
        with warnings.catch_warnings():
            # mapInArrow goes through pandas_udf's version check; our kernel gets Arrow
            # batches and does its own (pandas 3) conversion, which the tests cover
            warnings.filterwarnings(
                "ignore", "PySpark does not yet fully support pandas", FutureWarning
            )
            mapped = self.frame.select(*features, *protected, POS).mapInArrow(
                partial(_partition_kernel, payload=payload), schema
            )
        out = mapped.toArrow().to_pylist()
        ids = [np.frombuffer(r["pos"], dtype=np.int64) for r in out]
        vals = [np.frombuffer(r["scores"], dtype=np.float64) for r in out]
        scores = np.full(len(batch), np.nan)
        total = AttributionSums(len(features))
        order = sorted(range(len(out)), key=lambda i: int(ids[i][0]) if len(ids[i]) else -1)
        for i in order:
            where = np.searchsorted(self.positions, ids[i])
            scores[where] = vals[i]
            total.merge(AttributionSums.from_json(out[i]["sums"]))
        if np.isnan(scores).any():
            raise DataValidationError(f"{self.label}: Spark returned scores for too few rows")
        return scores, total


class _Payload:
    """What each task receives: the spec, the model's file bytes, the plan."""

    def __init__(
        self,
        spec: AuditSpec,
        model_bytes: bytes,
        model_name: str,
        plan: ChunkPlan,
        task_cpus: int = 1,
    ) -> None:
        self.task_cpus = task_cpus
        self.spec = spec
        self.model_bytes = model_bytes
        self.model_name = model_name
        self.plan = plan


def _plan_by_id(plan: ChunkPlan, ids: np.ndarray) -> ChunkPlan:
    """The plan with rows to explain named by POS id (what a partition sees)."""
    if plan.explain_rows is None:
        return plan
    from dataclasses import replace

    return replace(plan, explain_rows=ids[plan.explain_rows])


def _worker_model(payload: _Payload) -> ModelAdapter:
    from auditor.models import load_model

    key = hashlib.sha256(payload.model_bytes).hexdigest()
    if key not in _MODELS:
        folder = Path(tempfile.mkdtemp(prefix="auditor-model-"))
        path = folder / payload.model_name
        path.write_bytes(payload.model_bytes)
        spec = payload.spec
        assert spec.model is not None
        local = spec.model_copy(update={"model": spec.model.model_copy(update={"path": str(path)})})
        model = load_model(local)
        assert model is not None
        _MODELS[key] = model
    return _MODELS[key]


def _partition_kernel(batches: Iterator[Any], payload: _Payload) -> Iterator[Any]:
    """mapInArrow function: one output row per input Arrow batch."""
    # Spark runs one task per core: one OpenMP thread per task (set before LightGBM or
    # torch start their thread pools in this worker), unless the cluster says otherwise
    os.environ.setdefault("OMP_NUM_THREADS", str(payload.task_cpus))
    import pyarrow as pa

    from auditor.data import _protected_frame

    model = _worker_model(payload)
    spec = payload.spec
    features = list(spec.columns.features)
    for rb in batches:
        frame = rb.to_pandas()
        ids = frame[POS].to_numpy(dtype=np.int64)
        protected, _ = _protected_frame(frame, spec)  # the driver reported any problem
        scores, sums = run_chunk(payload.plan, model, frame[features], protected, ids)
        yield pa.RecordBatch.from_pydict(
            {
                "pos": [ids.tobytes()],
                "scores": [np.asarray(scores, dtype=np.float64).tobytes()],
                "sums": [sums.to_json()],
            }
        )
