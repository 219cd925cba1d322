"""PostgreSQL binary COPY payloads built from numpy arrays, without a Python loop over rows.

Format: PostgreSQL documentation, "COPY — Binary Format": a signature, flags and header
extension, then per row a 16-bit field count and per field a 32-bit length and the value in
network byte order, then a 16-bit -1 trailer. Fixed-width types only; a NULL is a field of
length -1 with no value bytes, cut out of the fixed-width rows with one boolean mask.
"""

from __future__ import annotations

import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + np.array([0, 0], dtype=">i4").tobytes()
TRAILER = np.array([-1], dtype=">i2").tobytes()

# PostgreSQL type name -> big-endian numpy dtype of its binary representation.
# bool is one byte, 0 or 1; timestamptz is int8 microseconds since 2000-01-01 UTC.
BINARY_DTYPES = {
    "bool": "?",
    "timestamptz": ">i8",
    "int2": ">i2",
    "int4": ">i4",
    "int8": ">i8",
    "float4": ">f4",
    "float8": ">f8",
}


def binary_copy_payload(
    columns: list[tuple[np.ndarray, str]], nulls: dict[int, np.ndarray] | None = None
) -> bytes:
    """Encode equally long 1-D arrays as one binary COPY stream.

    Parameters
    ----------
    columns : (values, pg_type) pairs; ``values`` shaped (n_rows,), ``pg_type`` a key of
        ``BINARY_DTYPES``.
    nulls : column index -> (n_rows,) bool, True where that column is NULL.
    """
    if not columns:
        raise ValueError("columns: at least one column is needed")
    n_rows = columns[0][0].shape[0]
    fields: list[tuple[str, str]] = [("n_fields", ">i2")]
    for i, (values, pg_type) in enumerate(columns):
        if values.shape != (n_rows,):
            raise ValueError(f"columns[{i}]: shape {values.shape} differs from ({n_rows},)")
        if pg_type not in BINARY_DTYPES:
            raise ValueError(f"columns[{i}]: type {pg_type!r} not one of {sorted(BINARY_DTYPES)}")
        fields += [(f"len{i}", ">i4"), (f"val{i}", BINARY_DTYPES[pg_type])]
    rows = np.empty(n_rows, dtype=np.dtype(fields))
    rows["n_fields"] = len(columns)
    for i, (values, pg_type) in enumerate(columns):
        rows[f"len{i}"] = np.dtype(BINARY_DTYPES[pg_type]).itemsize
        rows[f"val{i}"] = values
    nulls = {i: mask for i, mask in (nulls or {}).items() if mask.any()}
    if not nulls:
        return HEADER + rows.tobytes() + TRAILER
    keep = np.ones((n_rows, rows.dtype.itemsize), dtype=bool)
    for i, mask in nulls.items():
        rows[f"len{i}"][mask] = -1
        offset = rows.dtype.fields[f"val{i}"][1]
        keep[mask, offset : offset + rows.dtype[f"val{i}"].itemsize] = False
    return HEADER + rows.view(np.uint8).reshape(n_rows, -1)[keep].tobytes() + TRAILER


PG_EPOCH_UNIX_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in Unix microseconds
