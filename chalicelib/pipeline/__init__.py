"""Pipeline steps: ingest (HTTP), process (ingest queue), sync (sync queue)."""
