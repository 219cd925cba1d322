"""``twin.forecasts``: what the latest state forecast predicts for each satellite, one
message per satellite on a compacted topic keyed by its id (a consumer keeps the newest).

Each message holds the forecast's id and, per orbit (a period of the satellite's mean
motion from the forecast's start), columns: its start and end, the lowest state of charge
and when, the hottest payload, the work delivered and the work available. An orbit where
nothing was flown (no position) has nulls in the state columns.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import orjson

FORECASTS_TOPIC = "twin.forecasts"
SCHEMA_ID = FORECASTS_TOPIC
SCHEMA_VERSION = 1
COLUMNS = (
    "starts_unix_ns",
    "ends_unix_ns",
    "min_soc",
    "min_soc_unix_ns",
    "max_temp_payload_c",
    "tera_ops",
    "available_tera_ops",
)


def encode_states(
    forecast_id: str, made_unix_ns: int, sat_id: np.ndarray, columns: dict[str, np.ndarray]
) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of each satellite's message. ``columns`` holds ``COLUMNS``, each
    (n_sat, n_orbit); an orbit with a NaN ``min_soc`` was not flown (its state columns go
    as nulls) and an orbit whose start is -1 did not begin before the end (left out)."""
    begun = columns["starts_unix_ns"] >= 0
    flown = ~np.isnan(columns["min_soc"])
    for row, sat in enumerate(sat_id.tolist()):  # one message per satellite: the encoding
        keep = begun[row]
        body: dict = {
            "schema": SCHEMA_ID,
            "version": SCHEMA_VERSION,
            "forecast_id": forecast_id,
            "made_unix_ns": made_unix_ns,
            "sat_id": sat,
        }
        for name in COLUMNS:
            values = columns[name][row][keep]
            if name in ("min_soc", "min_soc_unix_ns", "max_temp_payload_c"):
                body[name] = [
                    v if ok else None
                    for v, ok in zip(values.tolist(), flown[row][keep].tolist(), strict=True)
                ]
            else:
                body[name] = values.tolist()
        yield str(sat).encode(), orjson.dumps(body)
