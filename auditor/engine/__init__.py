"""Where the work runs; every engine gives the same measurement (issue 20).

:func:`measure` is the one driver: ``measure(spec, model, source) -> Measurement`` over an
in-memory frame (:class:`~auditor.engine.sources.FrameSource`, one partition), a local
file read in chunks (:class:`~auditor.engine.local.LocalSource`, ``engine.chunk_rows``) or
Spark (:class:`~auditor.engine.driver.SparkSource`, ``engine.kind: spark``: partitions
return counts and sums only). The drift check
(``tests/conformance/test_engine_drift.py``) holds them
to the same findings, metrics and warnings.
"""

from __future__ import annotations

from pathlib import Path

from auditor.engine.driver import Measurement, SparkSource, default_source, measure
from auditor.spec import AuditSpec, EngineSpec, load_spec

__all__ = ["Measurement", "SparkSource", "default_source", "measure", "with_engine"]


def with_engine(
    spec: Path, kind: str | None, chunk_rows: int | None, master: str | None
) -> Path | AuditSpec:
    """The spec with the CLI's ``--engine``/``--chunk-rows``/``--master`` applied."""
    update = {
        k: v
        for k, v in (("kind", kind), ("chunk_rows", chunk_rows), ("master", master))
        if v is not None
    }
    if not update:
        return spec
    loaded = load_spec(spec)
    engine = EngineSpec.model_validate({**loaded.engine.model_dump(), **update})
    return loaded.model_copy(update={"engine": engine})
