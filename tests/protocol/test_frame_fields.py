"""What a refused frame tells beyond its reason: **[ext]** ``field`` for the arguments whose
refusals name it (the identity data, and a few names), whether decoding or the rule refused it;
and the ``rid``, echoed when it can be read although a string the envelope reads is not UTF-8."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import ContractError, FrameError, shown, shown_id
from protocol.messages import argument_field, decode_request
from protocol.requests import OPS, parse_request
from tests.protocol.test_messages import MAX, WRONG, both, valid_frame

IDENTITY = ("phone", "username", "password", "display_name", "legal_name", "id_number")
NAMED = {"create_group": {"name"}, "update_group": {"name"}, "create_account": {"name", "org_name", "org_code"},
         "update_account": {"name"}, "change_password": {"new_password"},
         "reset_password": {"new_password"}, "login": {"device"}, "logout": {"login_id"}}


def _carries_field(op: str, name: str) -> bool:
    return name in IDENTITY or name in NAMED.get(op, set())


ARGS = [(op, a) for op in sorted(OPS) for a in OPS[op]]


def test_every_identity_argument_is_in_some_op() -> None:
    assert {a.name for _, a in ARGS} >= set(IDENTITY)


def _refused(frame: dict[str, Any]) -> list[ContractError]:
    """The decoder's refusal of ``frame`` in both encodings, and the dict-based parser's."""
    out: list[ContractError] = []
    for data in both(frame):
        with pytest.raises(FrameError) as err:
            decode_request(data, MAX)
        assert err.value.rid == 1
        out.append(err.value)
    with pytest.raises(ContractError) as old:
        parse_request(frame)
    out.append(old.value)
    return out


# The refusals the tester found without field, and every other way decoding refuses an argument.
REPORTED = [
    ("register", "username", "x" * 300),
    ("verify_identity", "legal_name", "x" * 300),
    ("set_profile", "display_name", "x" * 300),
    ("request_code", "phone", 12345),
]


@pytest.mark.parametrize("op,name,value", REPORTED)
def test_the_reported_refusals_name_their_argument(op: str, name: str, value: Any) -> None:
    for err in _refused({**valid_frame(op), name: value}):
        assert (err.code, err.extra) == ("bad_request", {"field": name}), err.reason


# The names and titles of public accounts: their length is the op's to check (its own limits), not decoding's.
CHECKED_BY_THE_OP = {("create_account", "name"), ("create_account", "org_name"), ("update_account", "name"),
                     ("publish", "title")}
# Null or missing is refused only for a required argument: an optional one is simply not given.
REFUSALS = [(op, a, how) for op, a in ARGS for how in ("wrong type", "too long", "null", "missing")
            if a.required or how in ("wrong type", "too long")]


@pytest.mark.parametrize("op,arg,how", REFUSALS, ids=[f"{op}-{a.name}-{how}" for op, a, how in REFUSALS])
def test_a_refused_argument_carries_field_exactly_where_the_contract_says(op: str, arg: Any, how: str) -> None:
    frame = valid_frame(op, optional=True)
    if how == "wrong type":
        frame[arg.name] = WRONG[arg.kind]
    elif how == "too long":
        frame[arg.name] = "x" * 257
        try:
            decode_request(msgpack.packb(frame), MAX)
        except FrameError:
            pass
        else:  # a free text (a message, a reason, an upload's name), or a name its op checks the length of
            assert arg.kind == "text" or (op, arg.name) in CHECKED_BY_THE_OP, "a value past 256 characters decoded"
            return
    elif how == "null":
        frame[arg.name] = None
    else:
        del frame[arg.name]
    want = {"field": arg.name} if _carries_field(op, arg.name) else {}
    assert argument_field(op, arg.name) == want.get("field")
    for err in _refused(frame):
        assert err.extra == want, (err.reason, err.extra)
        assert f"'{arg.name}'" in err.reason


_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=False), st.text(max_size=300),
    st.binary(max_size=8), st.lists(st.integers(0, 9), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(0, 9), max_size=2),
)
_IDENTITY_OPS = sorted(op for op in OPS if any(a.name in IDENTITY for a in OPS[op]))


@given(st.sampled_from(_IDENTITY_OPS), st.data())
def test_a_refused_identity_argument_is_named_in_both_encodings(op: str, data: st.DataObject) -> None:
    """Any values for an identity op's arguments: a refusal that names an identity argument
    carries it as field, and a refusal carries no other field."""
    frame: dict[str, Any] = {"op": op, "rid": 1}
    for arg in OPS[op]:
        frame[arg.name] = data.draw(_VALUES, label=arg.name)
    for encoded in both(frame):
        try:
            decode_request(encoded, MAX)
        except FrameError as err:
            named = [a.name for a in OPS[op] if f"'{a.name}'" in err.reason]
            want = {"field": named[0]} if named and _carries_field(op, named[0]) else {}
            assert err.extra == want, (err.reason, err.extra)


# -- the rid of a frame whose op (or a key) is not UTF-8 -----------------------------------------------
def _map(*entries: tuple[bytes, bytes]) -> bytes:
    return bytes([0x80 | len(entries)]) + b"".join(k + v for k, v in entries)


RID = (msgpack.packb("rid"), msgpack.packb(7))
BAD_OP = (msgpack.packb("op"), b"\xa2\xff\xfe")
SURROGATE_OP = (msgpack.packb("op"), b"\xa3\xed\xa0\x80")
BAD_KEY = (b"\xa2\xc0\x80", msgpack.packb("me"))


@pytest.mark.parametrize("data,rid", [
    (_map(BAD_OP, RID), 7),  # the tester's frame: op first, rid after
    (_map(RID, BAD_OP), 7),
    (_map(SURROGATE_OP, RID), 7),
    (_map(BAD_OP, (msgpack.packb("rid"), msgpack.packb(-(2**63)))), -(2**63)),
    (_map(BAD_OP, (msgpack.packb("rid"), msgpack.packb("7"))), None),  # a rid that is no integer
    (_map(BAD_OP, (msgpack.packb("rid"), msgpack.packb(2**64 - 1))), None),  # nor a 64-bit signed one
    (_map(BAD_OP), None),
    (_map(BAD_OP, (msgpack.packb("x"), b"\xa1\xff"), RID), 7),  # another bad string before the rid
])
def test_a_frame_whose_op_is_not_utf8_is_answered_with_its_rid(data: bytes, rid: int | None) -> None:
    with pytest.raises(FrameError) as err:
        decode_request(data, MAX)
    assert (err.value.code, err.value.rid) == ("bad_request", rid)
    assert err.value.reason == "strings must be valid UTF-8 (no surrogates or other invalid sequences)"
    assert not err.value.extra


def test_an_unknown_key_that_is_not_utf8_is_skipped() -> None:
    assert decode_request(_map(BAD_KEY, (msgpack.packb("op"), msgpack.packb("me")), RID), MAX).rid == 7


def test_an_argument_that_is_not_utf8_says_so_with_the_rid() -> None:
    data = _map(RID, (msgpack.packb("op"), msgpack.packb("set_profile")), (msgpack.packb("display_name"), b"\xa1\xff"))
    with pytest.raises(FrameError) as err:
        decode_request(data, MAX)
    assert (err.value.rid, err.value.reason) == (
        7, "set_profile: 'display_name': strings must be valid UTF-8 (no surrogates or other invalid sequences)")
    assert err.value.extra == {"field": "display_name"}


@pytest.mark.parametrize("op,name,field", [
    ("login", "username", "username"), ("register", "password", "password"), ("request_code", "phone", "phone"),
    ("verify_identity", "legal_name", "legal_name"), ("verify_identity", "id_number", "id_number"),
    ("send", "text", None),  # (an argument whose refusals carry no field: named in the reason only)
])
@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_a_string_that_is_not_unicode_names_its_argument(op: str, name: str, field: str | None, encoding: str) -> None:
    """A fuzzing reviewer's finding: an argument refused for its encoding was not named, and the
    arguments whose refusals carry **[ext]** ``field`` (a form's field) had none."""
    if encoding == "json":
        data: bytes | str = json.dumps({"op": op, "rid": 7, name: "a"})[:-2] + 'a\\ud800"}'
        why = "strings must be valid Unicode: a lone UTF-16 surrogate (\\ud800 to \\udfff) cannot be stored"
    else:
        data = _map(RID, (msgpack.packb("op"), msgpack.packb(op)), (msgpack.packb(name), b"\xa2\xff\xfe"))
        why = "strings must be valid UTF-8 (no surrogates or other invalid sequences)"
    with pytest.raises(FrameError) as err:
        decode_request(data, MAX)
    assert (err.value.code, err.value.rid, err.value.reason) == ("bad_request", 7, f"{op}: '{name}': {why}")
    assert err.value.extra == ({"field": field} if field else {})


@given(st.integers(-(2**63), 2**63 - 1), st.binary(min_size=1, max_size=20), st.booleans())
def test_any_op_that_is_not_utf8_keeps_the_rid(rid: int, op: bytes, rid_first: bool) -> None:
    try:
        op.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return
    entries = [(msgpack.packb("rid"), msgpack.packb(rid)), (msgpack.packb("op"), bytes([0xa0 | len(op)]) + op)]
    with pytest.raises(FrameError) as err:
        decode_request(_map(*(entries if rid_first else entries[::-1])), MAX)
    assert (err.value.code, err.value.rid) == ("bad_request", rid)


@pytest.mark.parametrize("value,out", [
    ("u0123", "u0123"),
    ("admin\u202e\u0000\nfake line", "admin\\u202e\\u0000\\u000afake line"),  # bidi override, NUL, line break
    ("名字\u200b", "名字\\u200b"),  # a zero-width space (format)
    ("x" * 70, "x" * 64 + "…"),
])
def test_a_clients_text_quoted_in_a_reason_spoofs_no_line_and_no_direction(value: str, out: str) -> None:
    assert shown(value) == out


def test_a_key_named_in_a_unicode_refusal_is_quoted_safely() -> None:
    """(A read of the diff: the key of a string that is not Unicode was echoed raw, of any length.)"""
    with pytest.raises(FrameError) as err:
        decode_request('{"op": "send", "rid": 1, "x\\u202e\\nFAKE' + "y" * 100 + '": "\\ud800"}', MAX)
    assert err.value.reason.startswith("send: 'x\\u202e\\u000aFAKE") and "\n" not in err.value.reason
    assert "y" * 70 not in err.value.reason and not err.value.extra


@pytest.mark.parametrize(("value", "said"), [("u123", "u123"), ("", "''"), ("  ", "'  '"), ("\n", "'\\u000a'"),
                                             ("\U000e0041", "'\\udb40\\udc41'"),
                                             ("\u3164", "'\u3164'"), ("u\u3164", "u\u3164")])
def test_an_id_a_reason_names_is_quoted_when_it_would_vanish(value: str, said: str) -> None:
    assert shown_id(value) == said
