"""Grafana resources of the twin: publishing the repository's grafana/ to a Grafana server."""
