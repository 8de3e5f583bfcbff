"""Chorus benchmarks: `make bench` (= python -m bench). Figures, not timed tests.

Each benchmark prints a table and writes bench/results/<name>.json (git-ignored).
"""
