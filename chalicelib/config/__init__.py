"""Connector files and settings: pydantic models, loading, validation, secrets."""
