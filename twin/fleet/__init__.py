"""Fleets: element sets and Walker patterns, imported element files, formation clusters and
the satellites' hardware as per-satellite arrays."""
