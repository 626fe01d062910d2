"""Carrier I/O: binds (one asyncio.Protocol each, the only socket owner), their windows,
reconnect backoff, the carrier pool with its shared rate, and the carriers' receipt formats."""
