"""The twin engine: fleet physics as arrays, telemetry encoding, the bus and the CLI."""

__version__ = "0.1.0"
