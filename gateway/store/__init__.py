"""The engine's Redis I/O: the stream consumer, the state scripts (lua/) and the ops that drive
them, the one place events are composed (records), and the key map."""
