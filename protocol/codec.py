"""Frame encoding and decoding for both subprotocols.

Decoding never raises anything but :class:`ContractError` (``bad_request``),
whatever bytes arrive: MessagePack is unpacked with explicit size limits so a
header that claims a 4 GiB string or a billion-element array is refused before
anything is allocated.
"""

from __future__ import annotations

import enum
import json
from typing import Any

import msgpack
from websockets.frames import Frame, Opcode

from protocol.errors import ContractError

SUBPROTOCOL_MSGPACK = "qunguan.v1+msgpack"
SUBPROTOCOL_JSON = "qunguan.v1+json"
SUBPROTOCOLS = (SUBPROTOCOL_MSGPACK, SUBPROTOCOL_JSON)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# No legitimate frame needs more than this many containers or items; a map
# with more keys than any op has arguments is already garbage.
MAX_ARRAY_LEN = 10_000
MAX_MAP_LEN = 256


class Encoding(enum.Enum):
    MSGPACK = "msgpack"
    JSON = "json"

    @classmethod
    def for_subprotocol(cls, subprotocol: str | None) -> "Encoding":
        return cls.JSON if subprotocol == SUBPROTOCOL_JSON else cls.MSGPACK


def decode(data: bytes | str, max_bytes: int = 1 << 20) -> dict[str, Any]:
    """Decode one frame into a map. Binary frames are MessagePack, text frames JSON."""
    if isinstance(data, str):
        obj = _decode_json(data)
    else:
        obj = _decode_msgpack(data, max_bytes)
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
            max_array_len=MAX_ARRAY_LEN,
            max_map_len=MAX_MAP_LEN,
            max_ext_len=0,
        )
    except Exception as exc:  # msgpack raises a zoo of types; all mean "bad frame"
        raise ContractError("bad_request", f"not a MessagePack map ({type(exc).__name__})") from None


def _decode_json(data: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ContractError("bad_request", f"not a JSON object ({type(exc).__name__})") from None


def encode(obj: dict[str, Any], encoding: Encoding) -> bytes | str:
    """Encode one frame; MessagePack gives bytes (binary frame), JSON gives str (text frame)."""
    if encoding is Encoding.MSGPACK:
        return msgpack.packb(obj)
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def ws_frame(payload: bytes | str) -> bytes:
    """A complete unmasked server-to-client WebSocket frame: binary for bytes, text for str."""
    if isinstance(payload, str):
        return Frame(Opcode.TEXT, payload.encode()).serialize(mask=False)
    return Frame(Opcode.BINARY, payload).serialize(mask=False)


class EncodedOnce:
    """One event, encoded (and framed) at most once per encoding, shared by every recipient."""

    __slots__ = ("obj", "_msgpack", "_json", "_framed_msgpack", "_framed_json")

    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj
        self._msgpack: bytes | None = None
        self._json: str | None = None
        self._framed_msgpack: bytes | None = None
        self._framed_json: bytes | None = None

    def framed(self, encoding: Encoding) -> bytes:
        if encoding is Encoding.MSGPACK:
            if self._framed_msgpack is None:
                self._framed_msgpack = ws_frame(self.get(encoding))
            return self._framed_msgpack
        if self._framed_json is None:
            self._framed_json = ws_frame(self.get(encoding))
        return self._framed_json

    def get(self, encoding: Encoding) -> bytes | str:
        if encoding is Encoding.MSGPACK:
            if self._msgpack is None:
                self._msgpack = msgpack.packb(self.obj)
            return self._msgpack
        if self._json is None:
            self._json = json.dumps(self.obj, ensure_ascii=False, separators=(",", ":"))
        return self._json
