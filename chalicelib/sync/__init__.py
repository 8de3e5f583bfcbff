"""CRM sync: coalesce, batch, upsert, remember what was written, dead-letter what fails."""
