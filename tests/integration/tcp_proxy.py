"""A loopback TCP proxy for adversity tests: delay, blackhole and cut connections.

Shaped after redis-py's `DelayProxy` and asyncpg's `_testbase/fuzzer.py`: it listens on
127.0.0.1 port 0, opens one upstream connection per accepted client and pumps bytes both ways.
The test flips switches while traffic flows:

    async with TcpProxy(sim.host, sim.port) as proxy:
        proxy.delay = 0.2          # every chunk waits 0.2 s, in both directions, order kept
        proxy.blackhole = True     # swallow server -> client bytes (the peer "goes silent")
        proxy.cut()                # abort every open connection, both sides, right now

`accepted` counts client connections, so a test can wait for a reconnect without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from types import TracebackType

_CHUNK = 65536
_CLOSE_TIMEOUT = 5.0


class _Pair:
    """One proxied connection: the client side and the upstream side."""

    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream = upstream

    def abort(self) -> None:
        self.client.transport.abort()
        self.upstream.transport.abort()


class TcpProxy:
    """Forward 127.0.0.1:<port> to `target_host:target_port`, with faults on demand."""

    def __init__(
        self, target_host: str, target_port: int, *, delay: float = 0.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:  # fmt: skip
        """`tls`: terminate TLS on the listening side (the target is plain TCP)."""
        self.target_host = target_host
        self.target_port = target_port
        self.delay = delay
        self.tls = tls
        self.blackhole = False
        self.accepted = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pairs: set[_Pair] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    async def start(self) -> None:
        """Listen on a free loopback port (returns once accepting)."""
        self._server = await asyncio.start_server(self._on_client, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> int:
        """Abort every open connection on both sides; returns how many were cut."""
        pairs = list(self._pairs)
        for pair in pairs:
            pair.abort()
        return len(pairs)

    async def close(self) -> None:
        """Stop listening, cut every connection and wait (bounded) for the pumps to finish."""
        if self._server is not None:
            self._server.close()
        self.cut()
        # Never cancel the start_server handler tasks: asyncio reports a cancelled one to the
        # loop's exception handler. Cut connections end their pumps by themselves.
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=_CLOSE_TIMEOUT)
            if pending:
                raise RuntimeError(f"{len(pending)} proxy connections did not finish")
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.accepted += 1
        try:
            await self._serve(reader, writer)
        finally:
            self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pair = _Pair(writer, up_writer)
        self._pairs.add(pair)
        loop = asyncio.get_running_loop()
        pumps = [
            loop.create_task(self._pump(reader, up_writer, downstream=False)),
            loop.create_task(self._pump(up_reader, writer, downstream=True)),
        ]
        try:
            # SMPP has no half-close: when either side is done, the whole pair is.
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            self._pairs.discard(pair)
            for side in (writer, up_writer):
                side.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await side.wait_closed()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, downstream: bool
    ) -> None:
        """Copy bytes until EOF or a connection error (the caller then closes both sides)."""
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(_CHUNK):
                if self.delay:
                    await asyncio.sleep(self.delay)
                if downstream and self.blackhole:
                    continue
                writer.write(data)
                await writer.drain()
