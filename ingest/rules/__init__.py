"""Anomaly rules: their definitions (``rules.yaml``), streaming detection per satellite, fleet
rules over the rollups, and how their steps are stored."""
