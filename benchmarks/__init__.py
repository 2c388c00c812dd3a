"""Benchmarks: one runner (``python -m benchmarks``), suites ``suite_*.py``, a shared harness."""
