"""The in-process engine: a local Parquet/CSV file streamed in chunks of rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditor.batch import DecisionBatch
from auditor.data import decisions_from_frame, named_columns
from auditor.engine.kernel import ChunkPlan, run_chunk
from auditor.engine.sources import FileSource
from auditor.engine.sums import AttributionSums
from auditor.errors import DataValidationError
from auditor.models.base import ModelAdapter
from auditor.spec import AuditSpec

DEFAULT_CHUNK_ROWS = 100_000


class LocalSource:
    """Decisions in a local file; the wide pass runs chunk by chunk in this process."""

    holds_rows = False  # features are read by chunks and column blocks, never all at once

    def __init__(self, spec: AuditSpec) -> None:
        path = spec.resolve(spec.data.path)
        self.file = FileSource(
            path, spec.data.format, text=[spec.columns.id], named=list(named_columns(spec))
        )
        self.label = str(path)
        self.names = self.file.names
        self.features = list(spec.columns.features)
        self.chunk_rows = spec.engine.chunk_rows or DEFAULT_CHUNK_ROWS

    def batch(self, spec: AuditSpec) -> DecisionBatch:
        """The narrow columns of every row (features are checked chunk by chunk)."""
        return narrow_batch(spec, self)

    def read(self, columns: list[str]) -> pd.DataFrame:
        """These columns for every row, in file order."""
        return self.file.read(columns)

    def take(self, positions: np.ndarray, columns: list[str]) -> pd.DataFrame:
        """A few rows by sorted position."""
        return self.file.take(positions, columns, self.chunk_rows)

    def encode_at(self, model: ModelAdapter, positions: np.ndarray) -> np.ndarray:
        """The model's encoded inputs of a few rows read back by position."""
        return model.encode(self.take(positions, self.features))

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


def narrow_batch(spec: AuditSpec, source: LocalSource) -> DecisionBatch:
    """Every row's per-decision columns: id, outcomes, protected attributes (and their
    probabilities), strata, and the columns of the extra analyses (controls, continuous
    ``columns.outcomes``, geography)."""
    cols = spec.columns
    missing = [f for f in cols.features if f not in source.names]
    if missing:
        raise DataValidationError(
            f"{source.label}: the data do not match the spec.",
            problems=[f"column '{f}' (named in columns.features) is missing" for f in missing],
        )
    probabilities = [c for g in spec.protected_probabilities.values() for c in g.values()]
    wanted = [
        cols.id,
        cols.decision,
        cols.score,
        cols.label,
        *spec.protected,
        *probabilities,
        *spec.strata,
        *spec.controls,
        *([spec.cdd_by] if spec.cdd_by else []),
        *cols.outcomes,
        *spec.geography,
    ]
    narrow = [c for c in dict.fromkeys(w for w in wanted if w) if c in source.names]
    frame = source.read(narrow)
    narrow_spec = spec.model_copy(update={"columns": cols.model_copy(update={"features": []})})
    return decisions_from_frame(narrow_spec, frame, spec.resolve(spec.data.path))
