"""Reproducible benchmarks; each prints its figures as one JSON object."""
