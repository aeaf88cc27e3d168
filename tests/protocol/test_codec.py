"""The frame codec: round trips, limits, and no exception but the contract's for any input."""

from __future__ import annotations

import json

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.codec import EncodedOnce, Encoding, decode, encode
from protocol.errors import ContractError


@pytest.mark.parametrize("enc", list(Encoding))
def test_round_trip(enc):
    frame = {"op": "send", "rid": 7, "group_id": "123456789", "text": "你好 👋", "n": [1, 2.5, None, True]}
    assert decode(encode(frame, enc)) == frame


def test_msgpack_is_binary_json_is_text():
    assert isinstance(encode({"a": 1}, Encoding.MSGPACK), bytes)
    assert isinstance(encode({"a": 1}, Encoding.JSON), str)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",  # never-used msgpack byte
        msgpack.packb([1, 2, 3]),
        msgpack.packb("a string"),
        msgpack.packb({1: "int key"}),
        b"\xdb\xff\xff\xff\xff",  # str32 claiming 4 GiB
        b"\xdd\x3b\x9a\xca\x00",  # array32 claiming a billion elements
        b"\xdf\xff\xff\xff\xff",  # map32 claiming 4 billion pairs
        b"\xc6\xff\xff\xff\xff",  # bin32 claiming 4 GiB
        b"\xc9\x00\x00\x00\x05\x01abcde",  # ext
        msgpack.packb({"a": 1}) + b"trailing",
        "not json",
        "[1, 2]",
        '"str"',
        "[" * 100_000,
        '{"a": ' + "1" * 5000 + "}",
    ],
)
def test_bad_frames_raise_bad_request(data):
    with pytest.raises(ContractError) as info:
        decode(data)
    assert info.value.code == "bad_request"


def test_oversized_header_costs_nothing():
    import time

    start = time.perf_counter()
    for _ in range(1000):
        with pytest.raises(ContractError):
            decode(b"\xdd\x3b\x9a\xca\x00")
    assert time.perf_counter() - start < 1.0


def test_encoded_once_reuses_bytes():
    ev = EncodedOnce({"ev": "message", "text": "x"})
    assert ev.get(Encoding.MSGPACK) is ev.get(Encoding.MSGPACK)
    assert ev.get(Encoding.JSON) is ev.get(Encoding.JSON)
    assert json.loads(ev.get(Encoding.JSON)) == {"ev": "message", "text": "x"}


@settings(max_examples=500)
@given(st.binary(max_size=512))
def test_any_bytes_decode_or_bad_request(data):
    try:
        assert isinstance(decode(data), dict)
    except ContractError as err:
        assert err.code == "bad_request"


@settings(max_examples=300)
@given(st.text(max_size=512))
def test_any_text_decode_or_bad_request(data):
    try:
        assert isinstance(decode(data), dict)
    except ContractError as err:
        assert err.code == "bad_request"


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text() | st.binary(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text() | st.integers(-(2**63), 2**63 - 1), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300)
@given(_values)
def test_any_msgpack_value_decodes_or_bad_request(value):
    data = msgpack.packb(value, strict_types=False)
    try:
        assert isinstance(decode(data), dict)
    except ContractError as err:
        assert err.code == "bad_request"


@settings(max_examples=200)
@given(st.binary(max_size=64), st.integers(0, 60))
def test_truncated_and_corrupted_frames(tail, cut):
    good = msgpack.packb({"op": "send", "rid": 1, "group_id": "123456789", "text": "hello"})
    for data in (good[:cut], good[:cut] + tail):
        try:
            decode(data)
        except ContractError as err:
            assert err.code == "bad_request"


def test_framed_bytes_are_a_valid_server_frame_shared_by_all():
    from websockets.frames import Frame
    from websockets.streams import StreamReader

    ev = EncodedOnce({"ev": "message", "text": "x" * 300})
    for enc, opcode in ((Encoding.MSGPACK, 2), (Encoding.JSON, 1)):
        framed = ev.framed(enc)
        assert framed is ev.framed(enc)
        reader = StreamReader()
        reader.feed_data(framed)
        gen = Frame.parse(reader.read_exact, mask=False)
        try:
            next(gen)
        except StopIteration as done:
            frame = done.value
        assert frame.opcode.value == opcode and frame.fin
        payload = ev.get(enc)
        assert frame.data == (payload.encode() if isinstance(payload, str) else payload)


@pytest.mark.parametrize("encoding", [Encoding.MSGPACK, Encoding.JSON])
def test_a_reply_listing_more_than_ten_thousand_members_decodes_in_both_encodings(encoding):
    members = [{"user_id": f"u{i:015d}", "display_name": "x", "role": "member"} for i in range(20_000)]
    frame = encode({"re": 1, "ok": True, "members": members}, encoding)
    assert len(decode(frame, max_bytes=1 << 30)["members"]) == 20_000


def test_a_msgpack_header_claiming_more_items_than_the_frame_holds_is_refused():
    for header in (b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff"):  # array 32, map 32
        with pytest.raises(ContractError) as refused:
            decode(b"\x81\xa1a" + header)
        assert refused.value.code == "bad_request"
