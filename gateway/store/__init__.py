"""The engine's Redis I/O: the stream consumer, the state scripts (lua/) and the ops that drive
them, where events are composed (records; receipts' and receipt timeouts' in their Lua), and
the key map."""
