"""How the ``twin`` command speaks: status and summary lines (``say``) and log records, as
text or, under ``--log-format json``, as one JSON object per line (time in UTC with its zone,
level, logger, message) for a log collector. Data a command exists to print (SQL, tables, a
dictionary) is printed as it is."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

_json_lines = False


def use_json(enabled: bool) -> None:
    """Write status lines as JSON objects from now on (``--log-format json``)."""
    global _json_lines
    _json_lines = enabled


def _entry(created_s: float, level: str, logger: str, message: str) -> dict:
    time = datetime.fromtimestamp(created_s, UTC).isoformat(timespec="milliseconds")
    return {"time": time.replace("+00:00", "Z"), "level": level, "logger": logger,
            "message": message}  # fmt: skip


def say(text: str, stream: TextIO | None = None) -> None:
    """Write a status or summary line (several for a text with newlines) to ``stream``
    (default: standard output)."""
    stream = stream or sys.stdout
    if not _json_lines:
        stream.write(text + "\n")
        return
    now = datetime.now(UTC).timestamp()
    for line in text.splitlines():
        stream.write(json.dumps(_entry(now, "INFO", "twin", line)) + "\n")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, for log collectors (``--log-format json``)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = _entry(record.created, record.levelname, record.name, record.getMessage())
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)
