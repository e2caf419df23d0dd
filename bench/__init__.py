"""Benchmarks: ``make bench`` (``python -m bench.registry_bench``)."""
