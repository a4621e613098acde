"""The Spark engine's scored rows, packed: a few MiB of a batch per row, a blob per column.

The scored rows stay persisted on the executors for the passes after the explain pass
(order statistics, cells and tables, ranks, controls, BIRDiE). Kept as Spark rows, each
of those passes has the JVM convert its column cache back into Arrow row by row, value by
value, for the Python function: on 1M rows × 30 features, 4 to 5 s of JVM CPU in each of
the three passes that read the features (order statistics, cells and tables, ranks).

Packed, the persisted frame has the same column names, but each row holds a slice of an
Arrow batch (:data:`PACK_BYTES`) and each column of it one Arrow IPC stream of that
slice's values of the column: Spark moves a few large byte strings (a copy, no work per
value), column pruning still reads only the columns a pass selects, and the Python
function gets back the very Arrow arrays the explain pass had (same types, same values),
so every pass sees the frame it saw before.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

# bytes of rows per packed row: the JVM holds a packed row whole (in its row buffer and in
# the Arrow batch it writes to Python, both grown by doubling), so a row of a whole large
# batch took the 1 GB heap of a local session past its limit at 1M rows; a few MiB keep
# those buffers small and the rows still few (a few hundred per million rows)
PACK_BYTES = 4 << 20


def pack_column(column: pa.Array, field: pa.Field) -> pa.Buffer:
    """One column of a batch as an Arrow IPC stream (its own schema, one batch)."""
    sink = pa.BufferOutputStream()
    schema = pa.schema([field])
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(pa.RecordBatch.from_arrays([column], schema=schema))
    return sink.getvalue()


def packed_rows(batch: pa.RecordBatch) -> Iterator[list[pa.Array]]:
    """The batch as packed rows of about :data:`PACK_BYTES` each (at least one row of the
    batch per packed row): per column, a one-value binary array of its stream."""
    per_row = max(1, batch.nbytes // max(1, batch.num_rows))
    step = max(1, PACK_BYTES // per_row)
    for start in range(0, batch.num_rows, step):
        part = batch.slice(start, step)
        yield [
            binary_of(pack_column(part.column(i), part.schema.field(i)))
            for i in range(part.num_columns)
        ]


def binary_of(data: pa.Buffer | bytes) -> pa.Array:
    """A binary array holding one value, ``data``, without copying it."""
    buf = data if isinstance(data, pa.Buffer) else pa.py_buffer(data)
    offsets = pa.py_buffer(np.array([0, buf.size], dtype=np.int32))
    return pa.Array.from_buffers(pa.binary(), 1, [None, offsets, buf])


def unpacked(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The original batches (the columns selected) from batches of packed rows."""
    for packed in batches:
        names = packed.schema.names
        columns = [packed.column(i) for i in range(packed.num_columns)]
        for row in range(packed.num_rows):
            arrays, fields = [], []
            for col in columns:
                stream = pa.ipc.open_stream(col[row].as_buffer())
                part = stream.read_next_batch()
                arrays.append(part.column(0))
                fields.append(part.schema.field(0))
            # the fields keep the explain pass's types; the names are the selected ones
            schema = pa.schema([f.with_name(n) for f, n in zip(fields, names, strict=True)])
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)
