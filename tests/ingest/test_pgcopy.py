import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.store.pgcopy import BINARY_DTYPES, SIGNATURE, binary_copy_payload


def test_layout_matches_the_copy_binary_format():
    payload = binary_copy_payload(
        [
            (np.array([1, 2], dtype=np.int64), "int8"),
            (np.array([7.5, -0.0]), "float8"),
        ]
    )
    assert payload.startswith(SIGNATURE)
    body = payload[len(SIGNATURE) + 8 : -2]
    row = struct.Struct(">h i q i d")
    rows = [row.unpack_from(body, i * row.size) for i in range(2)]
    assert rows == [(2, 8, 1, 8, 7.5), (2, 8, 2, 8, -0.0)]
    assert payload[-2:] == b"\xff\xff"


def test_rejects_mismatched_lengths_and_types():
    with pytest.raises(ValueError, match=r"columns\[1\]: shape"):
        binary_copy_payload([(np.zeros(3), "float8"), (np.zeros(2), "float8")])
    with pytest.raises(ValueError, match=r"columns\[0\]: type 'text'"):
        binary_copy_payload([(np.zeros(3), "text")])


_TYPES = {"int2": ">h", "int4": ">i", "int8": ">q", "float8": ">d", "bool": "?"}


def _parse(payload: bytes) -> list[tuple]:
    """An independent reader of the binary COPY stream (struct, not numpy)."""
    assert payload.startswith(SIGNATURE) and payload[-2:] == b"\xff\xff"
    body, at, rows = payload[len(SIGNATURE) + 8 : -2], 0, []
    while at < len(body):
        (n_fields,) = struct.unpack_from(">h", body, at)
        at += 2
        row = []
        for _ in range(n_fields):
            (length,) = struct.unpack_from(">i", body, at)
            at += 4
            row.append(None if length == -1 else body[at : at + length])
            at += max(length, 0)
        rows.append(tuple(row))
    return rows


@given(
    st.lists(st.sampled_from(sorted(_TYPES)), min_size=1, max_size=6),
    st.integers(0, 40),
    st.randoms(use_true_random=False),
)
@settings(max_examples=200, deadline=None)
def test_every_row_comes_out_once_with_its_nulls_whatever_their_pattern(types, n_rows, rnd):
    rng = np.random.default_rng(rnd.getrandbits(32))
    columns = [
        ((rng.random(n_rows) > 0.5) if t == "bool" else rng.integers(-99, 99, n_rows), t)
        for t in types
    ]
    columns = [(v.astype(np.dtype(BINARY_DTYPES[t]).newbyteorder("=")), t) for v, t in columns]
    nulls = {i: rng.random(n_rows) < rnd.choice([0.0, 0.1, 0.5, 1.0]) for i in range(len(types))}
    expected = sorted(
        (
            tuple(
                None if nulls[i][r] else struct.pack(_TYPES[t], v[r].item())
                for i, (v, t) in enumerate(columns)
            )
            for r in range(n_rows)
        ),
        key=repr,
    )
    assert sorted(_parse(binary_copy_payload(columns, nulls)), key=repr) == expected


@pytest.mark.parametrize("n_columns", [9, 20, 70])  # patterns of 2, 4 and over 8 bytes
def test_wide_null_patterns_keep_every_row_and_its_nulls(n_columns):
    rng = np.random.default_rng(n_columns)
    columns = [(rng.integers(-99, 99, 50).astype(np.int64), "int8") for _ in range(n_columns)]
    nulls = {i: rng.random(50) < 0.3 for i in range(n_columns)}
    expected = sorted(
        (
            tuple(None if nulls[i][r] else struct.pack(">q", v[r].item())
                  for i, (v, _) in enumerate(columns))
            for r in range(50)
        ),
        key=repr,
    )  # fmt: skip
    assert sorted(_parse(binary_copy_payload(columns, nulls)), key=repr) == expected
