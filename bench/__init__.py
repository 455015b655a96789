"""Benchmarks: `python -m bench` (or `python -m bench --quick`), run from the repository root.

Every figure is measured with its baseline in the same run and printed with the ratio and
the target it is held to; bench/results/latest.json keeps the last run. Nothing here is a
test and nothing asserts a time: a missed target is reported, not raised.
"""
