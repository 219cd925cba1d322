"""SIGTERM and SIGINT as a request to stop cleanly.

A long-running command (``twin run``, ``twin ingest``) calls ``install()``. The first
SIGTERM or SIGINT is noted, not raised: the twin finishes its block of ticks, ingest its
batch, the local pipeline drains what was sent, the command prints its summary, an embedded
server is stopped, and the command exits with ``exit_code()``: 143 after SIGTERM, 130 after
SIGINT (128 + the signal, the shell's convention). A second signal stops at once
(``KeyboardInterrupt``; the embedded server is still stopped on the way out).
"""

from __future__ import annotations

import signal

_received: list[int] = []


def install() -> None:
    """Route SIGTERM and SIGINT to ``requested()`` (main thread only)."""
    _received.clear()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _note)


def _note(signum: int, frame) -> None:
    if _received:
        raise KeyboardInterrupt
    _received.append(signum)


def requested() -> bool:
    """True once a stop has been asked for."""
    return bool(_received)


def exit_code(default: int = 0) -> int:
    """128 + the first signal received (143 for SIGTERM, 130 for SIGINT), else ``default``."""
    return 128 + _received[0] if _received else default
