"""The JSON envelope every topic message shares: a versioned schema id and known fields."""

from __future__ import annotations

import orjson

from twin.core.errors import printable, shown


def open_envelope(
    payload: bytes | None,
    schema_id: str,
    version: int,
    what: str,
    fields: set[str],
    error: type[ValueError],
) -> dict:
    """Parse ``payload`` strictly and check its schema, version and field names.

    Raises ``error`` with the reason: empty, not JSON (NaN, Infinity and overflowing numbers
    included), not an object, another schema or version, or fields outside ``fields``.
    """
    if not payload:
        raise error("empty message")
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise error(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise error(f"{what} is not a JSON object")
    if (
        body.get("schema") != schema_id
        or type(body.get("version")) is not int
        or (body["version"] != version)
    ):
        raise error(
            f"unsupported schema {shown(body.get('schema'))} version {shown(body.get('version'))}; "
            f"expected {schema_id!r} version {version}"
        )
    unknown = sorted(set(body) - fields)
    if unknown:
        raise error(f"unknown fields: {', '.join(printable(k, 80) for k in unknown[:10])}")
    return body
