"""Test helpers: a fresh vhost on the real broker, SQLite and PostgreSQL databases, tokens,
service containers and RPC clients. Loaded as the ``pioneer`` pytest plugin."""
