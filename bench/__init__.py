"""Reproducible benchmarks that print tables (and write JSON reports to bench/results/)."""
