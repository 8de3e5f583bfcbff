"""Storage: small protocols per aggregate (base.py), a DynamoDB store for AWS and a SQLite
store for the local hub."""

from .base import BadCursor, DeadLetter, Page, PersonItems, Store, SyncState, VersionConflict

__all__ = ["BadCursor", "DeadLetter", "Page", "PersonItems", "Store", "SyncState", "VersionConflict"]
