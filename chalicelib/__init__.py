"""Chorus runtime code (everything Chalice packages besides app.py)."""
