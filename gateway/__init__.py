"""smsgw gateway: the engine, its Redis queue, carrier binds, config, metrics and CLI."""
