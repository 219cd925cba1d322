"""Grouped statistics over flat arrays, for estimates per satellite or per family without a
loop over the groups."""

from __future__ import annotations

import numpy as np


def group_median(x: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Each row's group median of ``x`` (n,), groups given by ``group`` (n,) int (rows of
    group −1 get NaN; the other rows' values must not be NaN)."""
    order = np.lexsort((x, group))
    sorted_group = group[order]
    first = np.r_[0, np.nonzero(np.diff(sorted_group))[0] + 1]
    count = np.diff(np.r_[first, order.shape[0]])
    xs = x[order]
    median = 0.5 * (xs[first + (count - 1) // 2] + xs[first + count // 2])
    out = np.empty(x.shape[0])
    out[order] = np.repeat(median, count)
    return np.where(group >= 0, out, np.nan)


def median_per_group(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """The median of ``values`` (k,) per group (``group`` (k,) in 0..n_groups-1), as
    (n_groups,); NaN for a group with no value."""
    out = np.full(n_groups, np.nan)
    if values.shape[0]:
        out[group] = group_median(values, group)
    return out
