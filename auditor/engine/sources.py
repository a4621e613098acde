"""Reading decisions whole (:class:`FrameSource`) or piece by piece (Parquet row groups
/ record batches, CSV in chunks).

Parquet is columnar, so reading the narrow columns (id, outcomes, protected attributes)
or one feature column for all rows costs only that column's bytes; CSV is re-parsed with
``usecols`` each time (slower, same memory bound).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from auditor.batch import DecisionBatch
from auditor.data import (
    data_format,
    decisions_from_frame,
    header_names,
    named_columns,
    not_a_data_file,
    read_errors,
    read_table,
    repeated_columns,
    text_dtypes,
)
from auditor.engine.kernel import ChunkPlan, run_chunk
from auditor.engine.sums import AttributionSums
from auditor.errors import DataValidationError
from auditor.models.base import ModelAdapter
from auditor.spec import AuditSpec


class FileSource:
    """A Parquet or CSV file of decisions, read by columns or by chunks of rows."""

    def __init__(
        self,
        path: Path,
        fmt: str | None = None,
        *,
        text: Sequence[str] = (),
        named: Sequence[str] = (),
    ) -> None:
        if not path.is_file():
            raise not_a_data_file(path)
        self.path = path
        self.kind = data_format(str(path), fmt)
        self._dtype = text_dtypes(text)  # ids read as written, as read_table reads them
        try:
            if self.kind == "parquet":
                import pyarrow.parquet as pq

                self._pq = pq.ParquetFile(path)
                self.names = list(self._pq.schema_arrow.names)
            else:
                self.names = list(pd.read_csv(path, nrows=0).columns)
            repeated = repeated_columns(header_names(path, self.kind), named)
        except read_errors() as exc:
            raise self._error(exc) from None
        if repeated:
            raise DataValidationError(f"{path}: the data do not match the spec.", problems=repeated)

    def _error(self, exc: Exception) -> DataValidationError:
        return DataValidationError(f"{self.path}: cannot read as {self.kind.upper()}: {exc}")

    def read(self, columns: list[str]) -> pd.DataFrame:
        """These columns, every row, in file order."""
        try:
            if self.kind == "parquet":
                frame: pd.DataFrame = self._pq.read(columns=columns).to_pandas()
                return frame
            dtype = {c: t for c, t in self._dtype.items() if c in columns}
            return pd.read_csv(self.path, usecols=columns, low_memory=False, dtype=dtype)[
                columns
            ]
        except read_errors() as exc:
            raise self._error(exc) from None

    def chunks(self, columns: list[str], rows: int) -> Iterator[pd.DataFrame]:
        """These columns in consecutive chunks of at most ``rows`` rows."""
        try:
            if self.kind == "parquet":
                for batch in self._pq.iter_batches(batch_size=rows, columns=columns):
                    yield batch.to_pandas()
                return
            dtype = {c: t for c, t in self._dtype.items() if c in columns}
            with pd.read_csv(
                self.path, usecols=columns, chunksize=rows, low_memory=False, dtype=dtype
            ) as reader:
                for chunk in reader:
                    yield chunk[columns].reset_index(drop=True)
        except read_errors() as exc:
            raise self._error(exc) from None

    def take(self, positions: np.ndarray, columns: list[str], rows: int) -> pd.DataFrame:
        """The rows at sorted ``positions`` (a few: the explainer's background)."""
        parts, start = [], 0
        for chunk in self.chunks(columns, rows):
            stop = start + len(chunk)
            lo, hi = np.searchsorted(positions, [start, stop])
            if hi > lo:
                parts.append(chunk.iloc[positions[lo:hi] - start])
            start = stop
        if not parts:
            return pd.DataFrame(columns=columns)
        return pd.concat(parts, ignore_index=True)


class FrameSource:
    """Decisions in memory (one partition): read once, validated as a whole.

    The in-memory engine: the driver runs the steps of the chunked engine with one chunk,
    so both give the same numbers by construction (issue 20). ``frame``: the decisions as
    already read (default: ``data.path`` read whole).
    """

    holds_rows = True

    def __init__(self, spec: AuditSpec, frame: pd.DataFrame | None = None) -> None:
        self.path = spec.resolve(spec.data.path)
        self.label = str(self.path)
        self._frame = frame
        self._batch: DecisionBatch | None = None
        self._encoded: np.ndarray | None = None
        self.names = list(frame.columns) if frame is not None else []

    def batch(self, spec: AuditSpec) -> DecisionBatch:
        """Every column of every row, validated (features, controls and geography too)."""
        if self._batch is None:
            frame = self._frame
            if frame is None:
                frame = read_table(
                    self.path,
                    spec.data.format,
                    text=[spec.columns.id],
                    named=list(named_columns(spec)),
                )
            self._batch = decisions_from_frame(spec, frame, self.path)
            self._frame = None  # the batch holds what the audit reads
            self.names = list(self._batch.features.columns)
        return self._batch

    def _features(self) -> pd.DataFrame:
        if self._batch is None:
            raise RuntimeError("FrameSource: batch() is read first")
        return self._batch.features

    def read(self, columns: list[str]) -> pd.DataFrame:
        """These feature columns, every row."""
        return self._features()[columns].reset_index(drop=True)

    def take(self, positions: np.ndarray, columns: list[str]) -> pd.DataFrame:
        """The rows at sorted ``positions``."""
        return self._features()[columns].iloc[positions].reset_index(drop=True)

    def _x(self, model: ModelAdapter) -> np.ndarray:
        # encoded once, every row at once: an adapter that learns text categories from
        # the data it first encodes (scikit-learn, callables) sees all of them
        if self._encoded is None:
            self._encoded = model.encode(self._features())
        return self._encoded

    def encode_at(self, model: ModelAdapter, positions: np.ndarray) -> np.ndarray:
        """The model's encoded inputs of the rows at sorted ``positions``."""
        return np.asarray(self._x(model)[positions])

    def wide_pass(
        self, plan: ChunkPlan, model: ModelAdapter, batch: DecisionBatch
    ) -> tuple[np.ndarray, AttributionSums]:
        """Score and attribute every row at once (one chunk)."""
        positions = np.arange(len(batch))
        x = self._x(model)
        return run_chunk(plan, model, self._features(), batch.protected, positions, x)
