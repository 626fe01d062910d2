"""smsgw gateway, by sub-package in the order a message meets them:

- cli/      the `smsgw` command (run, send, status, inspect, demo)
- store/    Redis I/O: the outbound stream consumer, the state scripts (lua/), events, keys
- engine/   one `smsgw run`: the pump and the batch pipeline, plan (pure), admission (one
            call per tick), outcomes (pure), the per-message path, deliveries, signals
- carrier/  binds, windows, backoff, the carrier pool and its rate, receipt formats
- smpp/     the sans-IO SMPP 3.4 core, shared with simulator/
- ops/      metrics, the ops endpoints, the final-status log line

and at the top: config.py (the schema), messages.py (the wire JSON), errors.py.
"""
