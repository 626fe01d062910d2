"""The delivery engine: one `smsgw run` instance (runner.py: task supervision, ingest, the
deferred set) and the decisions it takes about each message without I/O (plan.py)."""
