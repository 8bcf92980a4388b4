"""Async client for a media worker's control socket (the core side of ``protocol``)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path

from callvault.telephony.port import TelephonyError
from callvault.telephony.sip.protocol import Message, decode, encode


class WorkerCommandFailed(TelephonyError):
    """The worker answered a command with ``ok: false``."""


class WorkerConnectionLost(TelephonyError):
    """The control connection closed (the worker exited or crashed)."""


class WorkerControl:
    """One connection to one worker: commands with replies, and the worker's event stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._events: asyncio.Queue[Message | None] = asyncio.Queue()
        self._task = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(cls, path: Path) -> WorkerControl:
        """Connect to the worker listening on ``path``."""
        reader, writer = await asyncio.open_unix_connection(str(path))
        return cls(reader, writer)

    async def command(self, cmd: str, **fields: object) -> Message:
        """Send a command and return its reply; raises ``WorkerCommandFailed`` if the worker refused it."""
        command_id = next(self._ids)
        reply: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = reply
        self._writer.write(encode({"id": command_id, "cmd": cmd, **fields}))
        await self._writer.drain()
        result = await reply
        if not result.get("ok"):
            raise WorkerCommandFailed(f"{cmd}: {result.get('error')}")
        return result

    async def next_event(self) -> Message:
        """The worker's next event, in the order the worker sent it."""
        event = await self._events.get()
        if event is None:
            self._events.put_nowait(None)  # keep reporting the loss to later callers
            raise WorkerConnectionLost("worker control connection closed")
        return event

    async def close(self) -> None:
        """Close the connection."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()

    async def _read(self) -> None:
        try:
            while line := await self._reader.readline():
                message = decode(line)
                reply = self._pending.pop(message["id"], None) if "id" in message else None
                if reply is not None:
                    if not reply.done():  # the caller may have given up waiting (cancelled)
                        reply.set_result(message)
                elif "event" in message:
                    self._events.put_nowait(message)
        finally:
            self._events.put_nowait(None)
            for pending in self._pending.values():
                if not pending.done():
                    pending.set_exception(WorkerConnectionLost("worker control connection closed"))
