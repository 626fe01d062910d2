"""The `smsgw` command line: run, send, status, inspect, demo, and the helpers they share."""
