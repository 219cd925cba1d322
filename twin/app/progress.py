"""Progress of a run on the terminal: a bar when running as fast as possible, a status line
every few seconds when paced (or when the output is not a terminal, e.g. a service log)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from twin.app.output import say
from twin.core.clock import NS_PER_S, iso

BAR_WIDTH = 28
REDRAW_EVERY_S = 0.25


def _hms(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Reports ticks done out of ``n_ticks`` of ``step_ns`` for ``n_sat`` satellites.

    ``bar``: redraw one line in place (fast runs on a terminal); otherwise print a status
    line every ``every_s`` wall seconds.
    """

    def __init__(
        self,
        n_ticks: int,
        step_ns: int,
        start_ns: int,
        n_sat: int,
        bar: bool,
        every_s: float = 10.0,
        stream: TextIO = sys.stderr,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.n_ticks, self.step_ns, self.start_ns, self.n_sat = n_ticks, step_ns, start_ns, n_sat
        self.bar, self.every_s, self.stream, self.clock = bar, every_s, stream, clock
        self.started = clock()
        self._last = -float("inf")
        self._drawn = False

    @classmethod
    def for_terminal(cls, n_ticks, step_ns, start_ns, n_sat, fast: bool, every_s: float):
        """A bar when fast and stderr is a terminal, else status lines."""
        return cls(n_ticks, step_ns, start_ns, n_sat, fast and sys.stderr.isatty(), every_s)

    def line(self, ticks: int, anomalies_open: int | None, rows: int | None) -> str:
        """The text for ``ticks`` done."""
        wall = max(self.clock() - self.started, 1e-9)
        share = ticks / max(self.n_ticks, 1)
        simulated = ticks * self.step_ns / NS_PER_S
        parts = [
            f"sim {_hms(simulated)} / {_hms(self.n_ticks * self.step_ns / NS_PER_S)}",
            f"{ticks * self.n_sat / wall:,.0f} samples/s",
        ]
        if anomalies_open is not None:
            parts.append(f"anomalies open {anomalies_open}")
        if rows is not None:
            parts.append(f"rows {rows:,}")
        if self.bar:
            filled = int(share * BAR_WIDTH)
            head = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {share:4.0%}"
        else:
            now_ns = self.start_ns + ticks * self.step_ns
            head = f"twin: {iso(now_ns)} tick {ticks}/{self.n_ticks} ({share:.0%})"
        return "  ".join([head, *parts])

    def update(self, ticks: int, anomalies_open: int | None = None, rows: int | None = None):
        now = self.clock()
        due = REDRAW_EVERY_S if self.bar else self.every_s
        if now - self._last < due and ticks < self.n_ticks:
            return
        self._last = now
        if self.bar:
            self.stream.write("\r" + self.line(ticks, anomalies_open, rows) + "\x1b[K")
            self._drawn = True
        else:
            say(self.line(ticks, anomalies_open, rows), self.stream)
        self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
