"""Routing: carrier and route selection, failover, retry classification and throttling."""
