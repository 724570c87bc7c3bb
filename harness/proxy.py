"""A TCP proxy that can stall: a database that takes bytes and never answers."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from harness.process import free_port


class StallingProxy:
    """A TCP proxy from a free port of 127.0.0.1 to ``target_port``, on its own thread.

    :meth:`stall` blackholes it: it keeps accepting connections and reading their bytes but
    forwards nothing either way and answers nothing, as a database behind a dead link
    would; :meth:`heal` lets everything held and everything new through again.
    """

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self._target = target_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._flowing = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> StallingProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def stall(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def heal(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.set)

    async def _start(self) -> None:
        self._flowing.set()
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._flowing.set()  # connections end by being closed, not cancelled
        for writer in self._writers:
            writer.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        await asyncio.gather(*(writer.wait_closed() for writer in self._writers),
                             return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _connect(self, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._flowing.wait()
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self._target)
        except OSError:
            writer.close()
            return
        self._writers.add(upstream_writer)
        await asyncio.gather(self._pipe(reader, upstream_writer),
                             self._pipe(upstream_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                writer.close()
