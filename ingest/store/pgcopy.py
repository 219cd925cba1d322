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

    Rows come out grouped by which of their fields are NULL (each group in the order given):
    every row once, not necessarily in the order of the arrays. A group is one fixed-width
    record array with no value bytes for its NULL fields, so a batch costs a few array copies
    whatever its NULLs (a stream where every row has its own pattern is still right, only
    slower: one group per pattern).

    Parameters
    ----------
    columns : (values, pg_type) pairs; ``values`` shaped (n_rows,), ``pg_type`` a key of
        ``BINARY_DTYPES``.
    nulls : column index -> (n_rows,) bool, True where that column is NULL.
    """
    if not columns:
        raise ValueError("columns: at least one column is needed")
    n_rows = columns[0][0].shape[0]
    for i, (values, pg_type) in enumerate(columns):
        if values.shape != (n_rows,):
            raise ValueError(f"columns[{i}]: shape {values.shape} differs from ({n_rows},)")
        if pg_type not in BINARY_DTYPES:
            raise ValueError(f"columns[{i}]: type {pg_type!r} not one of {sorted(BINARY_DTYPES)}")
    nulls = {i: mask for i, mask in (nulls or {}).items() if mask.any()}
    # Each row's NULL pattern: which of the columns that have NULLs are NULL in it.
    null_columns = sorted(nulls)
    matrix = np.stack([nulls[i] for i in null_columns], axis=1) if nulls else None
    if matrix is None:
        kinds, counts, order = np.zeros((1, 0), dtype=bool), np.array([n_rows]), None
    else:
        kinds, counts, order = _patterns(matrix)
        order = order if kinds.shape[0] > 1 else None
    groups = [
        (count, _record(columns, {null_columns[j] for j in np.flatnonzero(kind)}))
        for kind, count in zip(kinds, counts.tolist(), strict=True)
    ]
    # Every group written straight into the one buffer the stream is copied out of.
    size = len(HEADER) + sum(c * record.itemsize for c, record in groups) + len(TRAILER)
    stream = np.empty(size, dtype=np.uint8)
    stream[: len(HEADER)] = np.frombuffer(HEADER, dtype=np.uint8)
    stream[size - len(TRAILER) :] = np.frombuffer(TRAILER, dtype=np.uint8)
    at, first = len(HEADER), 0
    for count, record in groups:
        out = np.ndarray(count, dtype=record, buffer=stream, offset=at)
        rows = None if order is None else order[first : first + count]
        _fill(out, columns, rows)
        at, first = at + count * record.itemsize, first + count
    return stream.tobytes()


_BLOCK_ROWS = 4096


def _patterns(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct rows of ``matrix`` (n, k) bool, in one stable sort: (m, k) bool patterns,
    their counts (m,), and the row order (n,) that lists the rows of each pattern together,
    in the order given. A row is packed into the narrowest unsigned integer that holds k
    bits (numpy sorts 8- and 16-bit keys by radix); over 64 bits rows are compared whole."""
    n, k = matrix.shape
    width = (k + 7) // 8
    if width > 8:
        kinds, inverse, counts = np.unique(matrix, axis=0, return_inverse=True, return_counts=True)
        return kinds, counts, np.argsort(inverse.ravel(), kind="stable")
    width = next(w for w in (1, 2, 4, 8) if w >= width)
    packed = np.zeros((n, width), dtype=np.uint8)
    packed[:, : (k + 7) // 8] = np.packbits(matrix, axis=1)
    keys = packed.view(f"<u{width}").ravel()
    order = np.argsort(keys, kind="stable")
    in_order = keys[order]
    starts = np.flatnonzero(np.r_[True, in_order[1:] != in_order[:-1]])
    counts = np.diff(np.r_[starts, n])
    kinds = np.unpackbits(in_order[starts].view(np.uint8).reshape(-1, width), axis=1)[:, :k]
    return kinds.astype(bool), counts, order


def _record(columns: list[tuple[np.ndarray, str]], null: set[int]) -> np.dtype:
    """The packed record of one row whose fields ``null`` (column indices) are NULL: a length
    of -1 and no value bytes."""
    fields: list[tuple[str, str]] = [("n_fields", ">i2")]
    for i, (_, pg_type) in enumerate(columns):
        fields.append((f"len{i}", ">i4"))
        if i not in null:
            fields.append((f"val{i}", BINARY_DTYPES[pg_type]))
    return np.dtype(fields)


def _fill(out: np.ndarray, columns: list[tuple[np.ndarray, str]], rows: np.ndarray | None) -> None:
    """Fill records ``out`` from ``rows`` of the columns (indices; None: all, in order).

    A block of records at a time: one block stays in cache while each of its fields is
    written (about 3x faster than whole columns into a 300-byte stride)."""
    for start in range(0, out.shape[0], _BLOCK_ROWS):
        block = out[start : start + _BLOCK_ROWS]
        at = (
            slice(start, start + _BLOCK_ROWS) if rows is None else rows[start : start + _BLOCK_ROWS]
        )
        block["n_fields"] = len(columns)
        for i, (values, pg_type) in enumerate(columns):
            if f"val{i}" in out.dtype.fields:
                block[f"len{i}"] = np.dtype(BINARY_DTYPES[pg_type]).itemsize
                block[f"val{i}"] = values[at]
            else:
                block[f"len{i}"] = -1


PG_EPOCH_UNIX_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in Unix microseconds
