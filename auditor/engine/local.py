"""The in-process engine: a local Parquet/CSV file streamed in chunks of rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditor.batch import DecisionBatch
from auditor.engine.kernel import ChunkPlan, run_chunk
from auditor.engine.sources import FileSource
from auditor.engine.sums import AttributionSums
from auditor.models.base import ModelAdapter
from auditor.spec import AuditSpec

DEFAULT_CHUNK_ROWS = 100_000


class LocalSource:
    """Decisions in a local file; the wide pass runs chunk by chunk in this process."""

    def __init__(self, spec: AuditSpec) -> None:
        path = spec.resolve(spec.data.path)
        self.file = FileSource(path, spec.data.format)
        self.label = str(path)
        self.names = self.file.names
        self.features = list(spec.columns.features)
        self.chunk_rows = spec.engine.chunk_rows or DEFAULT_CHUNK_ROWS

    def read(self, columns: list[str]) -> pd.DataFrame:
        """These columns for every row, in file order."""
        return self.file.read(columns)

    def take(self, positions: np.ndarray, columns: list[str]) -> pd.DataFrame:
        """A few rows by sorted position."""
        return self.file.take(positions, columns, self.chunk_rows)

    def wide_pass(
        self, plan: ChunkPlan, model: ModelAdapter, batch: DecisionBatch
    ) -> tuple[np.ndarray, AttributionSums]:
        """Score and attribute chunk by chunk; keep the scores and the merged sums."""
        scores = np.empty(len(batch), dtype=np.float64)
        total = AttributionSums(len(self.features))
        start = 0
        for chunk in self.file.chunks(self.features, self.chunk_rows):
            stop = start + len(chunk)
            positions = np.arange(start, stop)
            s, sums = run_chunk(plan, model, chunk, batch.protected.iloc[start:stop], positions)
            scores[start:stop] = s
            total.merge(sums)
            start = stop
        return scores, total
