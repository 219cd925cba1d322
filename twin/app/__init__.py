"""The application: the ``twin`` command, its configuration, the in-process pipeline, scoring
and the HTML report. The one layer that wires the twin and ingest together."""
