"""Storage: a thin interface (base.Store) with a DynamoDB implementation."""

from .base import DeadLetter, Store, SyncState, VersionConflict

__all__ = ["DeadLetter", "Store", "SyncState", "VersionConflict"]
