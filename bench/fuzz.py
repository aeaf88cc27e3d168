"""Coverage-guided fuzzing of the request decoder with atheris (libFuzzer for Python).

    python -m bench.fuzz                      # 1,000,000 inputs (a few minutes on one core)
    python -m bench.fuzz -runs=5000           # a short run (the test suite's)
    python -m bench.fuzz -runs=0 -max_total_time=600   # as many as fit in 10 minutes

Each input becomes one WebSocket frame for :func:`protocol.messages.decode_request`,
the server's single entry point for client frames. The first byte picks how:

* ``0`` / ``1`` (mod 4): the rest *is* the frame, a binary frame (MessagePack)
  or a text frame (JSON). A text frame's bytes are decoded as UTF-8 with
  ``surrogateescape``, so raw lone surrogates reach the decoder too (the
  WebSocket layer would refuse them; the decoder must not care).
* ``2`` / ``3``: the rest drives a grammar (:class:`atheris.FuzzedDataProvider`)
  that builds a map: usually a real op with its arguments, each either well
  typed or any other value (nested lists and maps, huge and negative integers,
  floats, NaN, bytes, surrogates, very long strings), ``rid`` of any type, extra
  keys, duplicate keys (MessagePack); then encodes it. This reaches the
  argument checks that random bytes rarely get to, since the decoder itself is
  C code that gives the fuzzer no coverage feedback.

What counts as a finding (the run stops and prints the input):

* any exception other than :class:`protocol.errors.FrameError`;
* a refusal that is not ``bad_request`` / ``unknown_op``, whose ``rid`` is not a
  64-bit integer or None, whose reason is empty, over 512 characters or not
  encodable as UTF-8, or whose error reply cannot be encoded in the frame's
  encoding (the client would never see it);
* the reason ``malformed frame``: the decoder's last-resort fallback, which
  only appears when explaining a refusal itself raised (a hidden bug);
* a frame that decodes, but whose request does not survive encode → decode
  unchanged (the struct holds something the wire cannot carry).

The seeds are one valid frame per op in each encoding (and a few grammar-mode
inputs), written to a temporary folder and passed with ``-seed_inputs``, so no
corpus is kept between runs. A clean run ends with libFuzzer's ``Done N runs``
and exit status 0; a finding prints the exception and the input and exits 1.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import atheris

with atheris.instrument_imports(include=["protocol"]):
    import msgpack
    import msgspec

    from protocol.codec import Encoding, encode
    from protocol.errors import FrameError
    from protocol.messages import decode_request
    from protocol.requests import OPS, error_reply

MAX_BYTES = 1 << 20  # the server's default max_frame_bytes
INT64 = (-(1 << 63), (1 << 63) - 1)
SAMPLE = {"str": "x", "text": "hello 你好", "int": 5, "bool": True, "gid": "123456789", "aid": "987654321",
          "strs": ["u1", "u2"], "bytes": b"\x00\xffchunk", "entry": "42"}
CLOSED = {"join_policy": "approval", "target_type": "user", "role": "admin", "category": "work",
          "subject_type": "organization", "comments": "review", "action": "hide"}

class Finding(Exception):
    pass


OP_NAMES = sorted(OPS)


@atheris.instrument_func  # the grammar's choices are coverage too
def _value(fdp: atheris.FuzzedDataProvider, kind: str, depth: int) -> Any:
    """A value for an argument of ``kind``: a good one half of the time, else anything."""
    pick = fdp.ConsumeIntInRange(0, 15)
    if pick < 8:
        good = CLOSED.get(kind) or SAMPLE.get(kind, "x")
        if pick < 4:
            return good
        if kind in ("int", "entry"):
            return fdp.ConsumeIntInRange(-(1 << 64), 1 << 64)
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 40))
    if pick == 8:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 10))  # up to 80-bit integers
    if pick == 9:
        return fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else float("nan")
    if pick == 10:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 20))
    if pick == 11:
        return None if fdp.ConsumeBool() else fdp.ConsumeBool()
    if pick == 12 and depth < 40:
        return [_value(fdp, "any", depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    if pick == 13 and depth < 40:
        return {fdp.ConsumeUnicode(4): _value(fdp, "any", depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))}
    if pick == 14:
        return "9" * fdp.ConsumeIntInRange(0, 300) if fdp.ConsumeBool() else "\ud800" + fdp.ConsumeUnicode(3)
    return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 2000))


@atheris.instrument_func
def _structured(body: bytes, as_json: bool) -> bytes | str:
    fdp = atheris.FuzzedDataProvider(body)
    frame: dict[Any, Any] = {}
    if fdp.ConsumeIntInRange(0, 7):
        op = OP_NAMES[fdp.ConsumeIntInRange(0, len(OP_NAMES) - 1)]
        frame["op"] = op
        frame["rid"] = fdp.ConsumeIntInRange(0, 1 << 20) if fdp.ConsumeIntInRange(0, 3) else _value(fdp, "any", 0)
        for arg in OPS[op]:
            if fdp.ConsumeIntInRange(0, 5):
                frame[arg.name] = _value(fdp, arg.name if arg.name in CLOSED else arg.kind, 0)
    for _ in range(fdp.ConsumeIntInRange(0, 2)):
        key: Any = fdp.ConsumeUnicode(6) if as_json or fdp.ConsumeBool() else fdp.ConsumeInt(2)
        frame[key] = _value(fdp, "any", 0)
    try:
        if as_json:
            return json.dumps(frame, ensure_ascii=fdp.ConsumeBool())
        return msgpack.packb(frame, use_bin_type=fdp.ConsumeBool())
    except (TypeError, ValueError, OverflowError):  # not representable (a bytes key in JSON, ...)
        return "" if as_json else b""


def _as_frame(data: bytes) -> bytes | str:
    if not data:
        return b""
    mode, body = data[0] % 4, data[1:]
    if mode == 0:
        return body
    if mode == 1:
        return body.decode("utf-8", "surrogateescape")
    return _structured(body, as_json=mode == 3)


def check(data: bytes) -> None:
    """One input: decode it, then check the outcome (raises :class:`Finding` or anything unexpected)."""
    frame = _as_frame(data)
    enc = Encoding.JSON if isinstance(frame, str) else Encoding.MSGPACK
    try:
        req = decode_request(frame, MAX_BYTES)
    except FrameError as err:
        if err.code not in ("bad_request", "unknown_op"):
            raise Finding(f"refusal with code {err.code!r}") from None
        if err.rid is not None and not (type(err.rid) is int and INT64[0] <= err.rid <= INT64[1]):
            raise Finding(f"refusal with rid {err.rid!r}") from None
        reason = err.reason
        if not isinstance(reason, str) or not reason or len(reason) > 512:
            raise Finding(f"unreadable reason {reason!r}") from None
        if reason == "malformed frame":
            raise Finding("explaining the refusal raised (the last-resort reason)") from None
        reason.encode("utf-8")  # a UnicodeEncodeError here is a finding
        encode(error_reply(err.rid, err), enc)
        return
    again = decode_request(encode(req, enc), MAX_BYTES)
    if again != req:
        raise Finding(f"{req!r} re-decodes as {again!r}")


def seeds() -> list[bytes]:
    out = []
    for op, args in OPS.items():
        frame: dict[str, Any] = {"op": op, "rid": 1}
        for arg in args:
            frame[arg.name] = CLOSED.get(arg.name, SAMPLE[arg.kind])
        out.append(b"\x00" + msgspec.msgpack.encode(frame))
        out.append(b"\x01" + msgspec.json.encode(frame))  # bytes as base64, as the JSON subprotocol has them
    out += [bytes([2]) + bytes((i * 7 + k) % 256 for k in range(64)) for i in range(8)]  # grammar mode
    out += [bytes([3]) + bytes((i * 7 + k) % 256 for k in range(64)) for i in range(8)]
    return out


def main(argv: list[str]) -> None:
    args = list(argv)
    if not any(a.startswith("-runs=") for a in args[1:]):
        args.append("-runs=1000000")
    if not any(a.startswith("-max_len=") for a in args[1:]):
        args.append("-max_len=4096")
    if not any(not a.startswith("-") for a in args[1:]) and not any(a.startswith("-seed_inputs=") for a in args):
        # Seeds only (no corpus folder, so nothing is written): rewritten on every run.
        folder = Path(tempfile.gettempdir()) / f"qunguan-fuzz-seeds-{os.getuid()}"
        folder.mkdir(exist_ok=True)
        files = []
        for i, s in enumerate(seeds()):
            f = folder / f"seed-{i:03d}"
            f.write_bytes(s)
            files.append(str(f))
        args.append("-seed_inputs=" + ",".join(files))
    atheris.Setup(args, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
