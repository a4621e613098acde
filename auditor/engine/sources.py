"""Reading decisions piece by piece: Parquet row groups / record batches, CSV in chunks.

Parquet is columnar, so reading the narrow columns (id, outcomes, protected attributes)
or one feature column for all rows costs only that column's bytes; CSV is re-parsed with
``usecols`` each time (slower, same memory bound).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from auditor.errors import DataValidationError


class FileSource:
    """A Parquet or CSV file of decisions, read by columns or by chunks of rows."""

    def __init__(self, path: Path, fmt: str | None = None) -> None:
        if not path.is_file():
            raise DataValidationError(f"Data file not found: {path}")
        self.path = path
        self.kind = fmt or ("parquet" if path.suffix.lower() in {".parquet", ".pq"} else "csv")
        try:
            if self.kind == "parquet":
                import pyarrow.parquet as pq

                self._pq = pq.ParquetFile(path)
                self.names = list(self._pq.schema_arrow.names)
            else:
                self.names = list(pd.read_csv(path, nrows=0).columns)
        except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise self._error(exc) from None

    def _error(self, exc: Exception) -> DataValidationError:
        return DataValidationError(f"{self.path}: cannot read as {self.kind.upper()}: {exc}")

    def read(self, columns: list[str]) -> pd.DataFrame:
        """These columns, every row, in file order."""
        try:
            if self.kind == "parquet":
                frame: pd.DataFrame = self._pq.read(columns=columns).to_pandas()
                return frame
            return pd.read_csv(self.path, usecols=columns, low_memory=False)[columns]
        except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise self._error(exc) from None

    def chunks(self, columns: list[str], rows: int) -> Iterator[pd.DataFrame]:
        """These columns in consecutive chunks of at most ``rows`` rows."""
        try:
            if self.kind == "parquet":
                for batch in self._pq.iter_batches(batch_size=rows, columns=columns):
                    yield batch.to_pandas()
                return
            with pd.read_csv(
                self.path, usecols=columns, chunksize=rows, low_memory=False
            ) as reader:
                for chunk in reader:
                    yield chunk[columns].reset_index(drop=True)
        except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
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
