"""Wiring: real clients into the pipeline (AWS or the local embedded hub)."""
