"""Durable storage. SQLite (embedded default) lives in :mod:`server.storage.sqlite`."""
