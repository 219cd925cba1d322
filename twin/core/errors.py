"""The project's errors, one tree, caught by type.

::

    TwinError
    ├── InputError            bad configuration or input a user can fix (CLI exit 2)
    │   └── ConfigError       names the field, the value and what is accepted
    ├── ContractError         a message that breaks its topic's contract (dead-lettered)
    └── ServiceUnavailable    Kafka or the database cannot be reached

``InputError`` and ``ContractError`` are also ``ValueError``s, as they were before this tree
existed; callers catch the tree's own types.
"""

from __future__ import annotations

import unicodedata


class TwinError(Exception):
    """Base of every error the project raises on purpose."""


class InputError(TwinError, ValueError):
    """Bad configuration or input a user can fix; the message says what and how."""


class ConfigError(InputError):
    """Bad configuration: names the field, the value and what is accepted."""

    def __init__(self, field: str, value: object, accepted: str) -> None:
        if value is None or value == "":
            super().__init__(f"{field}: not set; expected {accepted}")
        else:
            super().__init__(f"{field}: {value!r} is not accepted; expected {accepted}")
        self.field = field
        self.value = value
        self.accepted = accepted


class ContractError(TwinError, ValueError):
    """A message that breaks its topic's contract (``schemas/``); the message says how."""


class ServiceUnavailable(TwinError):
    """A service (Kafka, the database) that cannot be reached; the message names it."""


MAX_REASON_CHARS = 500


def printable(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """``text`` safe to store, log and put in a header: control characters (NUL included),
    unpaired surrogates and other unprintable code points escaped as ``\\xNN`` / ``\\uNNNN``,
    and at most ``limit`` characters (cut with an ellipsis)."""
    out = []
    size = 0
    for ch in text:
        if ch.isprintable() or ch == " ":
            piece = ch
        elif unicodedata.category(ch) == "Cs" or ord(ch) > 0xFFFF:
            piece = f"\\U{ord(ch):08x}" if ord(ch) > 0xFFFF else f"\\u{ord(ch):04x}"
        else:
            piece = f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"
        size += len(piece)
        if size > limit:
            out.append("…")
            break
        out.append(piece)
    return "".join(out)


def shown(value: object, limit: int = 80) -> str:
    """A bounded, safe rendering of a value quoted in an error message: scalars as ``repr``
    (strings cut to ``limit``), containers by type and size (never recursed into: a deeply
    nested value cannot exhaust the stack)."""
    if isinstance(value, str):
        text = repr(value[:limit]) + ("…" if len(value) > limit else "")
    elif value is None or isinstance(value, (bool, int, float)):
        text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "<huge int>"
    elif isinstance(value, (list, dict, tuple)):
        text = f"<{type(value).__name__} of {len(value)}>"
    else:
        text = f"<{type(value).__name__}>"
    return printable(text, limit + 10)
