"""A TCP proxy a test controls, to take a service (PostgreSQL) away from evcsms and give it
back without touching the real server, which other tests share.

    proxy = TcpProxy("127.0.0.1", 5432)
    port = await proxy.start()            # evcsms connects to 127.0.0.1:port
    await proxy.cut("refuse")             # existing links reset, new connects refused
    await proxy.cut("blackhole")          # existing links reset, new connects hang (no reply)
    await proxy.restore()                 # forwarding again
    proxy.drop_connections()              # every link reset, new ones work (a restart)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Literal

Mode = Literal["up", "refuse", "blackhole"]


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = 0
        self.mode: Mode = "up"
        self.accepted = 0  # connections forwarded
        self.held = 0  # connections swallowed by the blackhole
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._silent: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def links(self) -> int:
        """Forwarded connections open now (each is a client and a server socket)."""
        return len(self._links) // 2

    async def start(self) -> int:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        sock.listen(128)
        self._server = await asyncio.start_server(self._accept, sock=sock)
        return self.port

    async def cut(self, mode: Literal["refuse", "blackhole"] = "refuse") -> None:
        """Reset every link; refuse (stop listening) or swallow new connections."""
        self.mode = mode
        self.drop_connections()
        if mode == "refuse":
            await self._stop_listening()

    async def restore(self) -> None:
        """Forward again; connections held by a blackhole are reset."""
        self.mode = "up"
        for writer in list(self._silent):
            _abort(writer)
        self._silent.clear()
        if self._server is None:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
            self._server = await asyncio.start_server(self._accept, sock=sock)

    def drop_connections(self) -> None:
        """Reset every forwarded link at once (as a database restart does)."""
        for writer in list(self._links):
            _abort(writer)
        self._links.clear()

    async def close(self) -> None:
        self.drop_connections()
        for writer in list(self._silent):
            _abort(writer)
        await self._stop_listening()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode != "up":  # blackhole (a refusing proxy does not listen)
            self.held += 1
            self._silent.add(writer)
            with contextlib.suppress(Exception):
                while await reader.read(65536):
                    pass  # swallowed: no answer, ever
            self._silent.discard(writer)
            _abort(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _abort(writer)
            return
        self.accepted += 1
        self._links.update((writer, up_writer))
        pumps = [asyncio.create_task(self._pump(reader, up_writer, writer)),
                 asyncio.create_task(self._pump(up_reader, writer, up_writer))]
        self._tasks.update(pumps)
        try:
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            self._tasks.difference_update(pumps)
            for end in (writer, up_writer):
                self._links.discard(end)
                _abort(end)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    other: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            _abort(writer)
            _abort(other)


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close at once with a reset (no orderly FIN), as a dead server or link does."""
    transport = writer.transport
    if not transport.is_closing():
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
