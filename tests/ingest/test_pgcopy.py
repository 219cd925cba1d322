import struct

import numpy as np
import pytest

from ingest.store.pgcopy import SIGNATURE, binary_copy_payload


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
