"""One WebSocket connection: its encoding, its user, and non-blocking writes.

Writes never await. The transport's write buffer is the connection's outbox;
when a client stops reading and the buffer passes ``max_outbox_bytes`` the
connection is closed with 1013 instead of slowing anyone else down.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Callable

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.protocol import State as WsState

from protocol.codec import Encoding, encode

if TYPE_CHECKING:
    from server.state import User

log = logging.getLogger("qunguan.session")

CLOSE_POLICY = 1008
CLOSE_TRY_AGAIN = 1013


class Session:
    __slots__ = ("ws", "encoding", "user", "ip", "closing", "_timer", "_max_outbox", "__weakref__")

    def __init__(self, ws: ServerConnection, encoding: Encoding, ip: str, max_outbox: int) -> None:
        self.ws = ws
        self.encoding = encoding
        self.user: User | None = None
        self.ip = ip
        self.closing = False
        self._timer: asyncio.TimerHandle | None = None
        self._max_outbox = max_outbox

    def send(self, obj: dict[str, Any], encoding: Encoding | None = None) -> None:
        self.write(encode(obj, encoding or self.encoding))

    def write(self, data: bytes | str) -> None:
        ws = self.ws
        if self.closing or ws.protocol.state is not WsState.OPEN:
            return
        broadcast((ws,), data)
        transport = ws.transport
        if transport is not None and transport.get_write_buffer_size() > self._max_outbox:
            log.info("closing a connection that stopped reading (outbox over %d bytes)", self._max_outbox)
            self.close(CLOSE_TRY_AGAIN, "outbox overflow: reconnect and resume with history")

    def close(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        self.cancel_timer()
        asyncio.get_running_loop().create_task(self.ws.close(code, reason))

    def arm_timer(self, seconds: float, on_expiry: Callable[[], None]) -> None:
        self.cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(seconds, on_expiry)

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
