"""Benchmarks of rollbot; run from the repository root (python -m bench.fleet)."""
