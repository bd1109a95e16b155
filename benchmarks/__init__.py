"""Benchmarks for objstore (run with ``python -m benchmarks ...``); see README "Benchmarks"."""
