"""Packed batches (the Spark engine's persisted rows) unpack to the very batches packed."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from auditor.engine import packed
from auditor.engine.packed import packed_rows, unpacked


def _batch(n: int) -> pa.RecordBatch:
    rng = np.random.default_rng(n)
    ints = pa.array(rng.integers(0, 9, n), pa.int64(), mask=rng.uniform(size=n) < 0.1)
    words = rng.choice(["a", "bb", "ccc"], n).astype(object)
    words[rng.uniform(size=n) < 0.1] = None
    return pa.RecordBatch.from_arrays(
        [
            pa.array(rng.normal(size=n)),
            ints,
            pa.array(words, pa.large_string()),
            pa.array(rng.uniform(size=n) < 0.5),
            pa.array(np.arange(n, dtype=np.int64)),
        ],
        names=["x", "k", "s", "b", "__auditor_pos"],
    )


@pytest.mark.parametrize("pack_bytes", [1, 1000, 1 << 22])
def test_packed_rows_unpack_to_the_same_batches(
    pack_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packed, "PACK_BYTES", pack_bytes)
    batch = _batch(500)
    rows = list(packed_rows(batch))
    # PACK_BYTES of the batch per packed row (at least one row): one row of the batch per
    # packed row, several, or the whole batch in one
    if pack_bytes == 1:
        assert len(rows) == 500
    elif pack_bytes == 1000:
        assert 1 < len(rows) < 500
    else:
        assert len(rows) == 1
    names = batch.schema.names
    table = pa.Table.from_batches(
        [pa.RecordBatch.from_arrays([pa.concat_arrays(c) for c in zip(*rows, strict=True)], names)]
    )
    back = pa.Table.from_batches(list(unpacked(iter(table.to_batches()))))
    assert back.schema == batch.schema
    assert back.equals(pa.Table.from_batches([batch]))
    # column pruning: a pass that selects some columns gets those, with their types
    some = table.select(["s", "__auditor_pos"])
    pruned = pa.Table.from_batches(list(unpacked(iter(some.to_batches()))))
    assert pruned.equals(pa.Table.from_batches([batch]).select(["s", "__auditor_pos"]))
    assert pruned.to_pandas().equals(batch.to_pandas()[["s", "__auditor_pos"]])


def test_rows_kept_by_the_explain_pass_are_taken_without_a_pass() -> None:
    """The explanation-quality sample comes back with the explain pass (``_kept`` per
    batch); :meth:`SparkAudit.take` reads it from there, in position order, and goes to
    the data only for rows it does not hold."""
    import pandas as pd

    from auditor.engine.partials import PART_BITS, POS, Layout
    from auditor.engine.spark import SparkAudit, _kept

    layout = Layout({0: 0, 1: 100}, None)
    frames = []
    for part, rows in ((0, 100), (1, 80)):
        ids = (part << PART_BITS) + np.arange(rows, dtype=np.int64)
        start = layout.offsets[part] if layout.offsets else 0
        frames.append(
            pd.DataFrame(
                {"f": np.arange(rows) + start + 0.5, "g": list("xy" * (rows // 2)), POS: ids}
            )
        )
    keep = np.array([3, 50, 120, 179])
    keep_ids = layout.ids(keep)
    parts = [_kept(f, keep_ids, ["f", "g", POS]) for f in frames]
    assert [len(p) for p in parts if p is not None] == [2, 2]
    audit = object.__new__(SparkAudit)
    audit.job = type("J", (), {"layout": layout})()
    audit.kept = pd.concat(parts).sort_values(POS).reset_index(drop=True)
    audit.frame = None  # any pass over the data would fail
    got = audit.take(np.array([3, 120, 179]), ["f", "g"])
    want = pd.concat(frames).set_index(POS).loc[layout.ids(np.array([3, 120, 179]))]
    pd.testing.assert_frame_equal(got, want[["f", "g"]].reset_index(drop=True))
    with pytest.raises(AttributeError):  # a row not kept: read from the data
        audit.take(np.array([3, 4]), ["f"])
