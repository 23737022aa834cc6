"""The unified inbox: one message shape, storage, ingest, outbox, live events, agent API."""
