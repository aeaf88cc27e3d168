"""Async client library over :mod:`protocol`: used by the tests, the benchmark and the terminal client.

    async with await Client.connect("ws://127.0.0.1:8765/ws") as c:
        await c.login("alice", "correct horse")
        gid = (await c.request("create_group", name="tea", category="friends",
                               join_policy="open"))["group_id"]
        await c.request("send", group_id=gid, text="hello")
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from protocol.codec import SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK, Encoding, decode, encode


class RequestError(Exception):
    """The server refused a request: ``code`` is the contract's error code."""

    def __init__(self, code: str, reason: str, reply: dict[str, Any]) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.reply = reply


class Client:
    def __init__(self, ws: ClientConnection, encoding: Encoding) -> None:
        self.ws = ws
        self.encoding = encoding
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.user_id: str | None = None
        self.token: str | None = None
        self._rids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.close_error: BaseException | None = None
        self.refused = False  # closed by its user after a refusal to sign in (nothing more to say of it)
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, encoding: str = "msgpack", **kwargs: Any) -> Client:
        enc = Encoding(encoding)
        proto = SUBPROTOCOL_JSON if enc is Encoding.JSON else SUBPROTOCOL_MSGPACK
        ws = await connect(url, subprotocols=[proto], max_size=None, compression=None, **kwargs)  # type: ignore[list-item]
        return cls(ws, enc)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()

    @property
    def closed(self) -> bool:
        return self._reader.done()

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                frame = decode(data, max_bytes=1 << 30)
                if "ev" in frame:
                    self.events.put_nowait(frame)
                    continue
                fut = self._pending.pop(frame.get("re"), None)  # type: ignore[arg-type]
                if fut is not None and not fut.done():
                    fut.set_result(frame)
                elif frame.get("re") is None:
                    self.events.put_nowait(frame)  # an error for a frame without rid
        except Exception as exc:
            self.close_error = exc
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("connection closed"))
                    # Marked as seen: a caller that gave up waiting (cancelled) leaves nobody to
                    # retrieve it, and asyncio would log "Future exception was never retrieved".
                    # One still awaiting gets the error all the same.
                    fut.exception()
            self._pending.clear()

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.ws.send(encode(frame, self.encoding))

    async def call(self, op: str, timeout: float = 10.0, **args: Any) -> dict[str, Any]:
        """Send one request and return its reply map, success or failure."""
        rid = next(self._rids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self.send_frame({"op": op, "rid": rid, **args})
        except BaseException:
            self._pending.pop(rid, None)  # never sent: nobody would collect its "connection closed"
            raise
        return await asyncio.wait_for(fut, timeout)

    async def request(self, op: str, timeout: float = 10.0, **args: Any) -> dict[str, Any]:
        """Like :meth:`call`, raising :class:`RequestError` on a failure reply."""
        reply = await self.call(op, timeout=timeout, **args)
        if not reply.get("ok"):
            raise RequestError(reply.get("code", "?"), reply.get("reason", ""), reply)
        return reply

    async def next_event(self, name: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """The next event (of the given name, skipping others) within ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            ev = await asyncio.wait_for(self.events.get(), max(0.0, deadline - loop.time()))
            if name is None or ev.get("ev") == name:
                return ev

    def drain_events(self) -> list[dict[str, Any]]:
        out = []
        while not self.events.empty():
            out.append(self.events.get_nowait())
        return out

    # -- conveniences ---------------------------------------------------------
    async def login(self, username: str, password: str, device: str | None = None) -> dict[str, Any]:
        """``device``: what to call this login in the account's ``my_logins`` (**[ext]**)."""
        extra = {} if device is None else {"device": device}
        reply = await self.request("login", username=username, password=password, **extra)
        self.user_id, self.token = reply["user_id"], reply["token"]
        return reply

    async def auth(self, token: str) -> dict[str, Any]:
        reply = await self.request("auth", token=token)
        self.user_id, self.token = reply["user_id"], token
        return reply

    async def send(self, group_id: str, text: str, **extra: Any) -> dict[str, Any]:
        return await self.request("send", group_id=group_id, text=text, **extra)
