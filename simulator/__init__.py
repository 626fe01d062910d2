"""SMSC simulator: a real SMPP 3.4 server with receipts, throttling, faults and MO injection."""
