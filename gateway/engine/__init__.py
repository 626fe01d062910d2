"""The delivery engine, one `smsgw run` instance, in the order of a message's path:

runner.py (task supervision, ingest, the deferred set, the pump) -> pipeline.py (a tick:
plan, admit, submit, commit) with plan.py (pure: the decision about one message) and
admission.py (the tick's one admit call) -> outcomes.py (pure: answers judged) ->
dispatcher.py (the per-message path for everything but the common case). Around them:
deliveries.py (receipts and MO from the binds), receipt_timeout.py, signals.py, and the
wiring of compliance and routing (compliance_wiring.py, routing_table.py).
"""
