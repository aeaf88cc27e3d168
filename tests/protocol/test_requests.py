"""Request validation against the op table: every op, missing and ill-typed arguments."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import ERROR_CODES, ContractError
from protocol.requests import OPS, error_reply, ok_reply, parse_request, read_rid

SAMPLE = {"str": "x", "text": "hello", "int": 5, "bool": True, "num": 1.5, "gid": "123456789", "strs": ["u1"],
          "bytes": b"chunk", "aid": "987654321", "entry": "42"}
WRONG = {"str": 5, "text": None, "int": "5", "bool": 1, "num": "1", "gid": "12345", "strs": "u1", "bytes": "x",
         "aid": "012345678x", "entry": "4x2"}


def valid_frame(op):
    frame = {"op": op, "rid": 1}
    for arg in OPS[op]:
        if arg.required:
            frame[arg.name] = SAMPLE[arg.kind]
    return frame


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_op_parses_with_required_args(op):
    req = parse_request(valid_frame(op))
    assert req.op == op and req.rid == 1


@pytest.mark.parametrize(
    "op,arg", [(op, a) for op in sorted(OPS) for a in OPS[op] if a.required]
)
def test_missing_required_argument(op, arg):
    frame = valid_frame(op)
    del frame[arg.name]
    with pytest.raises(ContractError) as info:
        parse_request(frame)
    assert info.value.code == "bad_request" and arg.name in info.value.reason


@pytest.mark.parametrize("op,arg", [(op, a) for op in sorted(OPS) for a in OPS[op] if a.kind != "text"])
def test_ill_typed_argument(op, arg):
    frame = valid_frame(op)
    frame[arg.name] = WRONG[arg.kind]
    with pytest.raises(ContractError) as info:
        parse_request(frame)
    assert info.value.code == "bad_request"


def test_bool_is_not_an_int_and_int_is_not_a_bool():
    with pytest.raises(ContractError):
        parse_request({"op": "mute", "rid": 1, "group_id": "123456789", "user_id": "u", "seconds": True})
    with pytest.raises(ContractError):
        parse_request({"rid": True, "op": "me"})


@pytest.mark.parametrize(
    "frame,code,rid",
    [
        ({"op": "me"}, "bad_request", None),
        ({"op": "me", "rid": "1"}, "bad_request", None),
        ({"op": "me", "rid": 2**63}, "bad_request", None),
        ({"rid": 3}, "bad_request", 3),
        ({"rid": 4, "op": 7}, "bad_request", 4),
        ({"rid": 5, "op": "fly"}, "unknown_op", 5),
        ({"rid": 6, "op": "send", "group_id": "01234567", "text": "x"}, "bad_request", 6),
        ({"rid": 7, "op": "request_code", "phone": "x" * 300}, "bad_request", 7),
    ],
)
def test_bad_requests(frame, code, rid):
    with pytest.raises(ContractError) as info:
        parse_request(frame)
    assert info.value.code == code
    assert read_rid(frame) == rid


def test_unknown_arguments_are_ignored():
    req = parse_request({"op": "me", "rid": 1, "future_flag": True})
    assert req.args == {}


def test_reply_shapes():
    assert ok_reply(3, {"seq": 1}) == {"re": 3, "ok": True, "seq": 1}
    err = ContractError("rate_limited", "slow down", retry_after_ms=10)
    assert error_reply(None, err) == {
        "re": None, "ok": False, "code": "rate_limited", "reason": "slow down", "retry_after_ms": 10
    }
    with pytest.raises(ValueError):
        ContractError("made_up", "x")
    assert "internal" in ERROR_CODES


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["op", "rid", "group_id", "text", "seq", "x"]),
                       st.none() | st.integers() | st.text(max_size=20) | st.booleans(), max_size=6))
def test_parse_request_only_raises_contract_errors(frame):
    try:
        parse_request(frame)
    except ContractError as err:
        assert err.code in ("bad_request", "unknown_op")
