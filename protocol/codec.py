"""Frame encoding and decoding for both subprotocols.

Encoding takes maps (dicts) or msgspec structs (the typed events of
:mod:`protocol.events`), or maps holding structs, and goes through one reused
msgspec encoder per encoding: MessagePack gives ``bytes`` (a binary frame), JSON
gives ``str`` (a text frame; non-ASCII is written as is, not escaped).

Requests are decoded by :func:`protocol.messages.decode_request`; :func:`decode`
here turns any frame into a plain map (the client SDK reads server frames with
it). Decoding never raises anything but :class:`ContractError` (``bad_request``),
whatever bytes arrive: MessagePack is unpacked with explicit size limits so a
header that claims a 4 GiB string or a billion-element array is refused before
anything is allocated.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any, Final, TypeAlias

import msgpack
import msgspec
from websockets.frames import Frame, Opcode

from protocol.errors import ContractError

SUBPROTOCOL_MSGPACK = "qunguan.v1+msgpack"
SUBPROTOCOL_JSON = "qunguan.v1+json"
SUBPROTOCOLS = (SUBPROTOCOL_MSGPACK, SUBPROTOCOL_JSON)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1



# What encode() takes: a map (possibly holding structs) or a struct.
Encodable: TypeAlias = Mapping[str, Any] | msgspec.Struct

_MSGPACK_ENCODER: Final = msgspec.msgpack.Encoder()
_JSON_ENCODER: Final = msgspec.json.Encoder()


class Encoding(enum.Enum):
    MSGPACK = "msgpack"
    JSON = "json"

    @classmethod
    def for_subprotocol(cls, subprotocol: str | None) -> Encoding:
        return cls.JSON if subprotocol == SUBPROTOCOL_JSON else cls.MSGPACK


def decode(data: bytes | str, max_bytes: int = 1 << 20) -> dict[str, Any]:
    """Decode one frame into a map. Binary frames are MessagePack, text frames JSON."""
    obj = _decode_json(data) if isinstance(data, str) else _decode_msgpack(data, max_bytes)
    if not isinstance(obj, dict):
        raise ContractError("bad_request", "a frame must be a map")
    return obj


def _decode_msgpack(data: bytes, max_bytes: int) -> Any:
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            max_str_len=max_bytes,
            max_bin_len=max_bytes,
            # Bounded by the frame itself (an item takes a byte at least, a map entry two): a header
            # claiming more is refused before anything is built, and a reply may list as many
            # members or groups as the server holds (a members list of 10,000 and more was refused).
            max_array_len=len(data),
            max_map_len=len(data) // 2,
            max_ext_len=0,
        )
    except Exception as exc:  # msgpack raises a zoo of types; all mean "bad frame"
        raise ContractError("bad_request", f"not a MessagePack map ({type(exc).__name__})") from None


def _decode_json(data: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ContractError("bad_request", f"not a JSON object ({type(exc).__name__})") from None


def encode(obj: Encodable, encoding: Encoding) -> bytes | str:
    """Encode one frame; MessagePack gives bytes (binary frame), JSON gives str (text frame)."""
    if encoding is Encoding.MSGPACK:
        return _MSGPACK_ENCODER.encode(obj)
    return _JSON_ENCODER.encode(obj).decode()


def ws_frame(payload: bytes | str) -> bytes:
    """A complete unmasked server-to-client WebSocket frame: binary for bytes, text for str."""
    if isinstance(payload, str):
        return Frame(Opcode.TEXT, payload.encode()).serialize(mask=False)
    return Frame(Opcode.BINARY, payload).serialize(mask=False)


class EncodedOnce:
    """One event, encoded (and framed) at most once per encoding, shared by every recipient.

    ``obj`` is a map or a struct, as for :func:`encode`. The JSON text frame is built
    from the encoder's UTF-8 bytes directly; the ``str`` of :meth:`get` is made only
    when asked for.
    """

    __slots__ = ("_framed_json", "_framed_msgpack", "_json", "_json_utf8", "_msgpack", "obj")

    def __init__(self, obj: Encodable) -> None:
        self.obj = obj
        self._msgpack: bytes | None = None
        self._json: str | None = None
        self._json_utf8: bytes | None = None
        self._framed_msgpack: bytes | None = None
        self._framed_json: bytes | None = None

    @classmethod
    def from_payload(cls, payload: bytes | str) -> EncodedOnce:
        """An event already encoded elsewhere (a cluster's home node): MessagePack bytes or JSON
        text, served as it is to sessions of that encoding and framed once for all of them."""
        ev = cls(None)  # type: ignore[arg-type]  # the object stays unknown: only its encoding is
        if isinstance(payload, str):
            ev._json = payload
            ev._json_utf8 = payload.encode()
        else:
            ev._msgpack = payload
        return ev

    def framed(self, encoding: Encoding) -> bytes:
        if encoding is Encoding.MSGPACK:
            if self._framed_msgpack is None:
                self._framed_msgpack = ws_frame(self._packed())
            return self._framed_msgpack
        if self._framed_json is None:
            self._framed_json = Frame(Opcode.TEXT, self._utf8()).serialize(mask=False)
        return self._framed_json

    def get(self, encoding: Encoding) -> bytes | str:
        if encoding is Encoding.MSGPACK:
            return self._packed()
        if self._json is None:
            self._json = self._utf8().decode()
        return self._json

    def _packed(self) -> bytes:
        if self._msgpack is None:
            self._msgpack = _MSGPACK_ENCODER.encode(self.obj)
        return self._msgpack

    def _utf8(self) -> bytes:
        if self._json_utf8 is None:
            self._json_utf8 = _JSON_ENCODER.encode(self.obj)
        return self._json_utf8
