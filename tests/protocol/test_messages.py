"""The typed request decoder: every op, every kind of bad argument, surrogates, rid, and no other exception."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from typing import Any

import msgpack
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import messages as rq
from protocol.enums import CommentAction, CommentsMode, JoinPolicy, NewRole, ReportTarget, SubjectType
from protocol.errors import ContractError, FrameError
from protocol.messages import OP_TYPES, REQUEST_TYPES, UNAUTHENTICATED_OPS, decode_request
from protocol.requests import BYTES, OPS, parse_request, read_rid
from protocol.requests import UNAUTHENTICATED_OPS as OLD_UNAUTHENTICATED_OPS

MAX = 1 << 20
# A valid value for an argument, by op table kind; closed sets by argument name.
SAMPLE = {"str": "x", "text": "hello", "int": 5, "bool": True, "gid": "123456789", "strs": ["u1", "u2"],
          "bytes": b"\x00\xffchunk", "aid": "987654321", "entry": "42"}
CLOSED = {"join_policy": "approval", "target_type": "user", "role": "admin", "subject_type": "organization",
          "comments": "review", "action": "hide"}
ENUMS = {"join_policy": JoinPolicy, "target_type": ReportTarget, "role": NewRole, "subject_type": SubjectType,
         "comments": CommentsMode, "action": CommentAction}


def sample(name: str, kind: str) -> Any:
    return CLOSED.get(name, SAMPLE[kind])


def valid_frame(op: str, *, optional: bool = False) -> dict[str, Any]:
    frame: dict[str, Any] = {"op": op, "rid": 1}
    for arg in OPS[op]:
        if arg.required or optional:
            frame[arg.name] = sample(arg.name, arg.kind)
    return frame


def _base64(value: Any) -> str:
    if isinstance(value, bytes):  # bytes travel as base64 text on the JSON subprotocol
        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON: {value!r}")


def as_json(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, default=_base64)


def both(frame: dict[str, Any]) -> list[bytes | str]:
    return [msgpack.packb(frame), as_json(frame)]


def refusal(data: bytes | str) -> FrameError:
    with pytest.raises(FrameError) as info:
        decode_request(data, MAX)
    err = info.value
    assert isinstance(err, ContractError)
    # The one extra field a frame's refusal may carry: [ext] field, the argument the reason names.
    assert not err.extra or (set(err.extra) == {"field"} and f"'{err.extra['field']}'" in err.reason)
    return err


# -- the structs match the op table -----------------------------------------------------------
def test_one_struct_per_op_with_the_op_tables_arguments():
    assert set(OP_TYPES) == set(OPS)
    assert len(REQUEST_TYPES) == len(OPS)
    for op, cls in OP_TYPES.items():
        config = cls.__struct_config__
        assert cls.op == op == config.tag and config.tag_field == "op"
        assert config.frozen and not config.forbid_unknown_fields
        with pytest.raises(TypeError, match="positional"):
            cls(1)  # kw_only
        assert cls.__name__ == "".join(part.title() for part in op.split("_"))
        info = msgspec.inspect.type_info(cls)
        assert isinstance(info, msgspec.inspect.StructType)
        fields = {f.name: f for f in info.fields}
        assert fields.pop("rid").required
        assert {name: f.required for name, f in fields.items()} == {a.name: a.required for a in OPS[op]}, op
        for f in fields.values():
            if not f.required:
                assert f.default is None


def test_required_and_optional_arguments_match_the_op_table():
    for op in OP_TYPES:
        for arg in OPS[op]:
            frame = valid_frame(op)
            if arg.required:
                frame.pop(arg.name)
                assert "missing argument" in refusal(msgpack.packb(frame)).reason
            else:
                assert getattr(decode_request(msgpack.packb(frame), MAX), arg.name) is None


def test_unauthenticated_ops_are_the_contracts():
    # (the contract's four, and [ext] reset_password: a forgotten password, before any login; [ext] ping:
    # whether the connection is alive, asked whether or not it signed in)
    assert UNAUTHENTICATED_OPS == OLD_UNAUTHENTICATED_OPS == {"request_code", "register", "login", "auth",
                                                              "reset_password", "ping"}


# -- every op decodes ---------------------------------------------------------------------------
@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("optional", [False, True])
def test_every_op_decodes_in_both_encodings(op, optional):
    frame = valid_frame(op, optional=optional)
    for data in both(frame):
        req = decode_request(data, MAX)
        assert type(req) is OP_TYPES[op] and req.op == op and req.rid == 1
        for arg in OPS[op]:
            value = getattr(req, arg.name)
            assert value == frame.get(arg.name)
            if arg.name in ENUMS and value is not None:
                assert isinstance(value, ENUMS[arg.name])
        assert req.args == {k: v for k, v in frame.items() if k not in ("op", "rid")}
        assert req.args == parse_request(frame).args


def test_struct_fields_read_naturally():
    frame = {"op": "send", "rid": -(2**63), "group_id": "123456789012", "text": "你好"}
    req = decode_request(msgpack.packb(frame), MAX)
    assert isinstance(req, rq.Send)
    assert (req.rid, req.group_id, req.text, req.client_msg_id) == (-(2**63), "123456789012", "你好", None)
    with pytest.raises(AttributeError):
        req.text = "changed"  # type: ignore[misc]


def test_unknown_arguments_are_ignored_and_null_optionals_are_absent():
    req = decode_request(msgpack.packb({"op": "history", "rid": 1, "group_id": "123456789", "limit": None,
                                        "future_flag": {"nested": [1, 2.5, b"x"]}}), MAX)
    assert isinstance(req, rq.History) and req.limit is None and req.args == {"group_id": "123456789"}
    req = decode_request('{"op":"me","rid":2,"x":[null,{"y":1e300}],"z":"\\ud83d\\ude00"}', MAX)
    assert isinstance(req, rq.Me) and req.rid == 2


def test_the_last_of_duplicate_keys_wins_as_before():
    data = '{"op":"me","rid":1,"rid":2}'
    assert decode_request(data, MAX).rid == 2 == parse_request(json.loads(data)).rid


# -- every kind of bad argument ------------------------------------------------------------------
BAD_ARGUMENTS = [
    # (op, argument, value, reason)
    ("send", "text", None, "send: missing argument 'text'"),
    ("send", "text", 5, "send: 'text' must be a string"),
    ("send", "text", b"bytes", "send: 'text' must be a string"),
    ("send", "group_id", 123456789, "send: 'group_id' must be a group id (9 to 12 digits)"),
    ("send", "group_id", "01234567", "send: 'group_id' must be a group id (9 to 12 digits)"),
    ("send", "group_id", "12345678", "send: 'group_id' must be a group id (9 to 12 digits)"),
    ("send", "group_id", "1234567890123", "send: 'group_id' must be a group id (9 to 12 digits)"),
    ("send", "group_id", "12345678a", "send: 'group_id' must be a group id (9 to 12 digits)"),
    ("send", "group_id", "123456789\n", "send: 'group_id' must be a group id (9 to 12 digits)"),
    ("send", "group_id", " 123456789", "send: 'group_id' must be a group id (9 to 12 digits)"),
    ("send", "group_id", "１２３４５６７８９", "send: 'group_id' must be a group id (9 to 12 digits)"),
    ("send", "group_id", "١٢٣٤٥٦٧٨٩", "send: 'group_id' must be a group id (9 to 12 digits)"),
    ("send", "group_id", "¹²³⁴⁵⁶⁷⁸⁹", "send: 'group_id' must be a group id (9 to 12 digits)"),
    ("send", "client_msg_id", "x" * 257, "send: 'client_msg_id' is longer than 256"),
    ("send", "client_msg_id", 7, "send: 'client_msg_id' must be a string"),
    ("request_code", "phone", "x" * 300, "request_code: 'phone' is longer than 256"),
    ("request_code", "phone", "号" * 257, "request_code: 'phone' is longer than 256"),
    ("mute", "seconds", True, "mute: 'seconds' must be a 64-bit integer"),
    ("mute", "seconds", "5", "mute: 'seconds' must be a 64-bit integer"),
    ("mute", "seconds", 5.0, "mute: 'seconds' must be a 64-bit integer"),
    ("mute", "seconds", 2**63, "mute: 'seconds' must be a 64-bit integer"),
    ("mute", "seconds", 2**64 - 1, "mute: 'seconds' must be a 64-bit integer"),
    ("mute", "seconds", -(2**63) - 1, "mute: 'seconds' must be a 64-bit integer"),
    ("history", "limit", [1], "history: 'limit' must be a 64-bit integer"),
    ("mute_all", "on", 1, "mute_all: 'on' must be a boolean"),
    ("mute_all", "on", "yes", "mute_all: 'on' must be a boolean"),
    ("set_role", "role", "owner", "set_role: 'role' must be 'admin' or 'member'"),
    ("set_role", "role", 1, "set_role: 'role' must be 'admin' or 'member'"),
    ("create_group", "join_policy", "closed", "create_group: 'join_policy' must be 'open', 'approval' or 'invite'"),
    ("update_group", "join_policy", "OPEN", "update_group: 'join_policy' must be 'open', 'approval' or 'invite'"),
    ("report", "target_type", "message!",
     "report: 'target_type' must be 'message', 'user', 'group', 'account', 'post' or 'comment'"),
    ("report", "group_id", "1", "report: 'group_id' must be a group id (9 to 12 digits)"),
    ("report", "group_id", "01234567890123", "report: 'group_id' must be a group id (9 to 12 digits)"),
    ("report", "detail", {"a": 1}, "report: 'detail' must be a string"),
]


@pytest.mark.parametrize("op,name,value,reason", BAD_ARGUMENTS)
def test_bad_argument_is_bad_request_naming_op_and_argument(op, name, value, reason):
    frame = {**valid_frame(op), "rid": 77, name: value}
    datas = _encodings(frame)  # both, but bytes are not JSON and -2**63-1 is not MessagePack
    assert datas
    for data in datas:
        err = refusal(data)
        assert (err.code, err.reason, err.rid) == ("bad_request", reason, 77), data


@pytest.mark.parametrize("op,arg", [(op, a) for op in sorted(OPS) for a in OPS[op] if a.required])
def test_missing_required_argument(op, arg):
    frame = valid_frame(op)
    del frame[arg.name]
    for data in both(frame):
        err = refusal(data)
        assert (err.code, err.reason, err.rid) == ("bad_request", f"{op}: missing argument '{arg.name}'", 1)


@pytest.mark.parametrize("op,arg", [(op, a) for op in sorted(OPS) for a in OPS[op] if a.required])
def test_null_required_argument_is_missing(op, arg):
    for data in both({**valid_frame(op), arg.name: None}):
        assert refusal(data).reason == f"{op}: missing argument '{arg.name}'"


WRONG = {"str": 5, "text": 5, "int": "5", "bool": 1, "gid": "12345", "strs": 5, "bytes": 5, "aid": "012345678x",
         "entry": "4x2"}


@pytest.mark.parametrize("op,arg", [(op, a) for op in sorted(OPS) for a in OPS[op]])
def test_ill_typed_argument_agrees_with_parse_request(op, arg):
    frame = {**valid_frame(op), arg.name: WRONG[arg.kind]}
    with pytest.raises(ContractError) as old:
        parse_request(frame)
    for data in both(frame):
        err = refusal(data)
        assert err.code == old.value.code == "bad_request" and err.rid == 1
        assert err.reason.startswith(f"{op}: '{arg.name}' must be ")
        if arg.name not in ENUMS:
            assert err.reason == old.value.reason


# -- the envelope: rid and op -----------------------------------------------------------------------
ENVELOPE = [
    # (frame, code, rid, reason)
    ({"op": "me"}, "bad_request", None, "a request needs an integer 'rid'"),
    ({"op": "me", "rid": "1"}, "bad_request", None, "a request needs an integer 'rid'"),
    ({"op": "me", "rid": 1.0}, "bad_request", None, "a request needs an integer 'rid'"),
    ({"op": "me", "rid": True}, "bad_request", None, "a request needs an integer 'rid'"),
    ({"op": "me", "rid": None}, "bad_request", None, "a request needs an integer 'rid'"),
    ({"op": "me", "rid": 2**63}, "bad_request", None, "a request needs an integer 'rid'"),
    ({"op": "me", "rid": -(2**63) - 1}, "bad_request", None, "a request needs an integer 'rid'"),
    ({"op": "fly", "rid": "x"}, "bad_request", None, "a request needs an integer 'rid'"),
    ({"rid": 3}, "bad_request", 3, "a request needs a string 'op'"),
    ({"rid": 4, "op": 7}, "bad_request", 4, "a request needs a string 'op'"),
    ({"rid": 4, "op": None}, "bad_request", 4, "a request needs a string 'op'"),
    ({"rid": 4, "op": ["me"]}, "bad_request", 4, "a request needs a string 'op'"),
    ({"rid": 5, "op": "fly"}, "unknown_op", 5, "unknown op 'fly'"),
    ({"rid": 5, "op": "Send"}, "unknown_op", 5, "unknown op 'Send'"),
    ({"rid": 5, "op": "f" * 100}, "unknown_op", 5, f"unknown op '{'f' * 64}…'"),
    # quoted as every reason quotes a client's text: a line break or NUL as \uXXXX, never Python's \n
    ({"rid": 5, "op": "a\nb\x00"}, "unknown_op", 5, "unknown op 'a\\u000ab\\u0000'"),
    ({"rid": 6, "op": "send", "group_id": "01234567", "text": "x"}, "bad_request", 6,
     "send: 'group_id' must be a group id (9 to 12 digits)"),
    ({"rid": -(2**63), "op": "me", "x": 1}, None, None, None),
]


@pytest.mark.parametrize("frame,code,rid,reason", ENVELOPE)
def test_rid_and_op(frame, code, rid, reason):
    datas = _encodings(frame)
    assert datas
    for data in datas:
        if code is None:
            assert decode_request(data, MAX).rid == frame["rid"]
            continue
        err = refusal(data)
        assert (err.code, err.rid, err.reason) == (code, rid, reason)
        old = None
        try:
            parse_request(frame)
        except ContractError as e:
            old = e
        assert old is not None and old.code == code and old.reason == reason


NOT_REQUESTS = [
    b"",
    b"\xc1",
    msgpack.packb([1, 2, 3]),
    msgpack.packb("a string"),
    msgpack.packb(None),
    msgpack.packb({1: "int key", "op": "me", "rid": 1}),
    msgpack.packb({b"op": "me", "rid": 1}),
    b"\xdb\xff\xff\xff\xff",
    b"\xdd\x3b\x9a\xca\x00",
    b"\xdf\xff\xff\xff\xff",
    b"\xc6\xff\xff\xff\xff",
    b"\xc9\x00\x00\x00\x05\x01abcde",
    msgpack.packb({"op": "me", "rid": 1}) + b"trailing",
    "",
    "not json",
    "[1, 2]",
    '"str"',
    "null",
    '{"op": "me", "rid": 1} trailing',
    '{"op": "me", "rid": 1,}',
    '{"op": "me", "rid": NaN}',
    "[" * 100_000,
    '{"op": "me", "rid": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
    '{"a": ' + "1" * 5000 + "}",
]


@pytest.mark.parametrize("data", NOT_REQUESTS)
def test_frames_that_are_not_requests(data):
    err = refusal(data)
    assert err.code == "bad_request" and err.reason


def test_deep_nesting_is_bad_request():
    shallow = b"\x83\xa2op\xa2me\xa3rid\x09\xa1x" + b"\x91" * 100 + b"\x01"
    assert decode_request(shallow, MAX).rid == 9
    deep = b"\x83\xa2op\xa2me\xa3rid\x09\xa1x" + b"\x91" * 100_000 + b"\x01"
    err = refusal(deep)
    assert err.code == "bad_request" and "deeply" in err.reason
    assert err.rid == 9  # read before the deep argument: the reply names the request


@pytest.mark.parametrize(("frame", "rid"), [
    ('{"op": "me", "rid": 4, "x": ' + "[" * 100_000 + "]" * 100_000 + "}", 4),
    ('{"op": "me", "x": {"y": [1, "a,\\"rid\\": 5"]}, "rid": 6, "z": ' + "[" * 100_000 + "]" * 100_000 + "}", 6),
    ('{"x": ' + "[" * 100_000 + "]" * 100_000 + ', "rid": 7, "op": "me"}', None),  # after it: unread
    (b"\x83\xa1x" + b"\x91" * 100_000 + b"\x01\xa3rid\x09\xa2op\xa2me", None),
])
def test_a_frame_too_deep_answers_with_the_rid_read_before_the_depth(frame, rid):
    err = refusal(frame)
    assert (err.code, err.rid) == ("bad_request", rid) and "deeply" in err.reason


def test_frame_over_max_bytes():
    data = msgpack.packb({"op": "send", "rid": 1, "group_id": "123456789", "text": "x" * 100})
    assert decode_request(data, len(data)).rid == 1
    err = refusal_with(data, len(data) - 1)
    assert err.code == "bad_request" and "at most" in err.reason


def refusal_with(data: bytes | str, max_bytes: int) -> FrameError:
    with pytest.raises(FrameError) as info:
        decode_request(data, max_bytes)
    return info.value


def test_oversized_headers_cost_nothing():
    start = time.perf_counter()
    in_an_ignored_value = b"\x83\xa2op\xa2me\xa3rid\x01\xa1x\xdd\x3b\x9a\xca\x00"
    for data in (b"\xdd\x3b\x9a\xca\x00", b"\xdf\xff\xff\xff\xff", in_an_ignored_value):
        for _ in range(1000):
            with pytest.raises(FrameError):
                decode_request(data, MAX)
    assert time.perf_counter() - start < 1.0


# -- strings that cannot be stored as UTF-8 ---------------------------------------------------------
SURROGATE_ESCAPES = [
    r"\ud800",
    r"\udfff",
    r"\uDC00",
    r"x\ud83d",  # an emoji's first half, cut off
    r"\ude00x",  # its second half alone
    r"\ud800\u0041",
    r"\ud800\ud800",
    r"\udc00\ud800",  # the halves in the wrong order
]


@pytest.mark.parametrize("escape", SURROGATE_ESCAPES)
@pytest.mark.parametrize("where", ["text", "group_id", "client_msg_id", "ignored", "key"])
def test_json_lone_surrogate_escape_is_bad_request_with_the_rid(escape, where):
    text = "hello" if where != "text" else escape
    fields = {"op": "send", "rid": 41, "group_id": "123456789", "text": "@TEXT@"}
    if where == "group_id":
        fields["group_id"] = "@GID@"
    elif where == "client_msg_id":
        fields["client_msg_id"] = "@CMID@"
    elif where == "ignored":
        fields["future"] = "@FUT@"
    data = json.dumps(fields)
    data = data.replace("@TEXT@", text).replace("@GID@", escape).replace("@CMID@", escape).replace("@FUT@", escape)
    if where == "key":
        data = data[:-1] + f', "{escape}": 1}}'
    err = refusal(data)
    assert (err.code, err.rid) == ("bad_request", 41)
    assert "surrogate" in err.reason and "Unicode" in err.reason


def test_json_surrogate_pairs_are_fine():
    pairs = r"\ud83d\ude00 \uD800\uDC00 \udbff\udfff"
    req = decode_request('{"op":"send","rid":1,"group_id":"123456789","text":"' + pairs + '"}', MAX)
    assert isinstance(req, rq.Send) and req.text == "😀 𐀀 \U0010ffff"
    req.text.encode("utf-8")  # storable


@pytest.mark.parametrize("frame", [
    r'{"rid":1,"op":"me","path":"C:\\ud800" x}',  # an escaped backslash, then the letters "ud800"
    r'{"rid":1,"op":"send","group_id":"123456789","text":"\\udc00" ]',
])
def test_an_escaped_backslash_before_u_is_no_surrogate(frame):
    # The frame is broken JSON for another reason, and the reason says that one.
    err = refusal(frame)
    assert err.code == "bad_request" and "surrogate" not in err.reason and "not a JSON object" in err.reason


def test_an_escaped_backslash_then_a_lone_escape_is_still_found():
    err = refusal(r'{"rid":7,"op":"send","group_id":"123456789","text":"\\\ud800"}')
    assert (err.code, err.rid) == ("bad_request", 7) and "surrogate" in err.reason


def test_raw_surrogate_in_a_str_frame_is_bad_request_with_the_rid():
    # A WebSocket text frame is valid UTF-8, so this cannot arrive from the network; still refused.
    err = refusal('{"op":"send","rid":42,"group_id":"123456789","text":"a\ud800b"}')
    assert (err.code, err.rid) == ("bad_request", 42) and "surrogate" in err.reason


SURROGATE_UTF8 = ["\ud800".encode("utf-8", "surrogatepass"), "\udfff".encode("utf-8", "surrogatepass"),
                  b"\xed\xa0\xbd\xed\xb8\x80"]  # the two halves of U+1F600, each encoded alone (CESU-8)
OTHER_BAD_UTF8 = [b"\xff", b"\xc0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe4\xbd"]


@pytest.mark.parametrize("bad", SURROGATE_UTF8 + OTHER_BAD_UTF8)
@pytest.mark.parametrize("field", ["text", "group_id", "client_msg_id"])
def test_msgpack_string_that_is_not_utf8_is_bad_request_with_the_rid(bad, field):
    frame = {"op": "send", "rid": 43, "group_id": "123456789", "text": "hi", field: "@@@@@@@@@"}
    data = msgpack.packb(frame).replace(b"@@@@@@@@@", bad.ljust(9, b"0"))
    err = refusal(data)
    assert (err.code, err.rid) == ("bad_request", 43)
    assert "UTF-8" in err.reason


def test_msgpack_invalid_utf8_in_op_or_rid_key():
    data = msgpack.packb({"op": "@@", "rid": 44}).replace(b"@@", b"\xed\xa0")
    assert (refusal(data).code, refusal(data).rid) == ("bad_request", 44)  # the rid is read on its own


@pytest.mark.parametrize("bad", SURROGATE_UTF8 + OTHER_BAD_UTF8)
def test_msgpack_invalid_utf8_under_a_key_the_op_does_not_know_is_skipped_unread(bad):
    """protocol.md: a MessagePack string under an unknown key is skipped like the rest of its
    value, so it is not refused; the op's own strings are still checked (above)."""
    frame = {"op": "send", "rid": 45, "group_id": "123456789", "text": "hi", "x-extra": ["@@@@@@@@@"]}
    data = msgpack.packb(frame).replace(b"@@@@@@@@@", bad.ljust(9, b"0"))
    req = decode_request(data, MAX)
    assert type(req).__name__ == "Send" and req.text == "hi"


# -- nothing but FrameError, whatever arrives --------------------------------------------------------
def check_only_frame_errors(data: bytes | str) -> None:
    try:
        req = decode_request(data, MAX)
    except FrameError as err:
        assert err.code in ("bad_request", "unknown_op")
        assert err.rid is None or (type(err.rid) is int and -(2**63) <= err.rid < 2**63)
        assert isinstance(err.reason, str) and err.reason
    else:
        assert type(req) in REQUEST_TYPES
        for value in msgspec.structs.asdict(req).values():
            if isinstance(value, str):
                value.encode("utf-8")  # everything decoded can be stored


@settings(max_examples=500)
@given(st.binary(max_size=512))
def test_any_bytes(data):
    check_only_frame_errors(data)


@settings(max_examples=300)
@given(st.text(max_size=512))
def test_any_text(data):
    check_only_frame_errors(data)


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text() | st.binary(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text() | st.integers(-(2**63), 2**63 - 1), children, max_size=5),
    max_leaves=30,
)
_names = st.sampled_from(sorted({a.name for args in OPS.values() for a in args} | {"op", "rid", "x"}))
_frames = st.dictionaries(
    _names,
    st.sampled_from(sorted(OPS)) | _values | st.sampled_from(["123456789", "admin", "open", "user"]),
    max_size=8,
)


# Mostly valid frames with a few keys changed: most are accepted or fail on one argument.
_near_valid = st.builds(
    lambda op, optional, changes, drops: {
        k: v for k, v in {**valid_frame(op, optional=optional), **changes}.items() if k not in drops
    },
    st.sampled_from(sorted(OPS)),
    st.booleans(),
    st.dictionaries(_names, _values | st.sampled_from(["123456789", "admin", "open", "user", 7, True]), max_size=2),
    st.sets(_names, max_size=1),
)


@settings(max_examples=300)
@given(_values)
def test_any_msgpack_value(value):
    try:
        data = msgpack.packb(value)
    except (UnicodeEncodeError, ValueError):  # msgpack cannot pack a str with surrogates
        return
    check_only_frame_errors(data)


@settings(max_examples=500)
@given(_frames)
def test_any_map_of_known_names(frame):
    for data in _encodings(frame):
        check_only_frame_errors(data)


@settings(max_examples=200)
@given(st.binary(max_size=64), st.integers(0, 60))
def test_truncated_and_corrupted_frames(tail, cut):
    good = msgpack.packb({"op": "send", "rid": 1, "group_id": "123456789", "text": "hello"})
    for data in (good[:cut], good[:cut] + tail, good[:cut] + tail + good[cut:]):
        check_only_frame_errors(data)
    text = as_json({"op": "send", "rid": 1, "group_id": "123456789", "text": "hello"})
    check_only_frame_errors(text[:cut] + tail.decode("latin-1") + text[cut:])


def _encodings(frame: dict[str, Any]) -> list[bytes | str]:
    out: list[bytes | str] = []
    with contextlib.suppress(UnicodeEncodeError, ValueError, OverflowError):  # surrogates, out of range
        out.append(msgpack.packb(frame))
    # Lone surrogates become \ud800 escapes; NaN is not JSON (the standard library would take it).
    with contextlib.suppress(TypeError, ValueError):  # bytes, NaN
        out.append(json.dumps(frame, ensure_ascii=True, allow_nan=False))
    return out


# -- the same answers as decode() + parse_request() ---------------------------------------------------
def _old(frame: dict[str, Any]) -> tuple[str | None, Any]:
    try:
        req = parse_request(frame)
    except ContractError as err:
        return err.code, err.reason
    return None, req.args


def _as_json_reads(frame: dict[str, Any]) -> dict[str, Any]:
    """``frame`` as its JSON encoding means it: a bytes argument's text that is valid base64
    is those bytes (the dict-based parser sees only a str)."""
    op = frame.get("op")
    args = OPS.get(op, ()) if isinstance(op, str) else ()
    out = dict(frame)
    for arg in args:
        value = frame.get(arg.name)
        if arg.kind == BYTES and isinstance(value, str):
            with contextlib.suppress(ValueError):
                out[arg.name] = base64.b64decode(value, validate=True)
    return out


def _storable(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def _candidate_reasons(frame: dict[str, Any], op: str) -> set[str]:
    """What parse_request says of each argument of ``frame`` on its own (several may be wrong;
    the old parser names the first in table order, msgspec the first on the wire)."""
    reasons = set()
    for arg in OPS[op]:
        single = valid_frame(op)
        if frame.get(arg.name) is not None:
            single[arg.name] = frame[arg.name]
        else:
            single.pop(arg.name, None)
        code, reason = _old(single)
        if code is not None:
            reasons.add(reason)
    return reasons


@settings(max_examples=1500)
@given(_frames | _near_valid)
def test_agrees_with_parse_request(frame):
    """Same acceptance, code, rid and reason as the dict-based parser, except that closed
    sets are now checked at decode time and unstorable strings are refused."""
    old_code, old = _old(frame)
    rid = read_rid(frame)
    op = frame.get("op")
    spec = OPS.get(op) if isinstance(op, str) and rid is not None else None
    closed = spec is not None and any(
        a.name in ENUMS and frame.get(a.name) is not None and frame[a.name] not in [m.value for m in ENUMS[a.name]]
        for a in spec
    )
    for data in _encodings(frame):
        # The oracle for this encoding: JSON carries a bytes argument as base64 text (_as_json_reads).
        want_code, want = _old(_as_json_reads(frame)) if isinstance(data, str) else (old_code, old)
        try:
            req = decode_request(data, MAX)
        except FrameError as err:
            if not _storable(frame):
                assert err.code == "bad_request"
                continue
            assert err.rid == rid
            if closed and want_code is None:
                assert err.code == "bad_request" and "must be" in err.reason
                continue
            assert err.code == want_code, (frame, err.reason)
            if spec is None or err.reason == want:
                assert err.reason == want
            elif not closed:
                assert err.reason in _candidate_reasons(frame, op), (frame, err.reason, want)
        else:
            assert want_code is None, (frame, want)
            assert req.args == want
            assert req.rid == frame["rid"]


@pytest.mark.parametrize("before_id", ["12\n", "\n", "1\n\n", "12 ", " 12", "١٢"])
def test_group_log_before_id_is_digits_only(before_id):
    err = refusal(json.dumps({"op": "group_log", "rid": 3, "group_id": "123456789", "before_id": before_id}))
    assert (err.code, err.rid) == ("bad_request", 3) and "before_id" in err.reason


def test_group_log_before_id_as_text_or_integer():
    for value in ("12", 12):
        req = decode_request(json.dumps({"op": "group_log", "rid": 3, "group_id": "123456789",
                                         "before_id": value}), MAX)
        assert isinstance(req, rq.GroupLog) and rq.entry_id(req.before_id) == 12


ACCOUNT_OPS = sorted(op for op, args in OPS.items() if any(a.name == "account_id" and a.required for a in args))


@pytest.mark.parametrize("op", ACCOUNT_OPS)
@pytest.mark.parametrize("value", ["１２３４５６７８９", "١٢٣٤٥٦٧٨٩", "12345678a", "12345678"])
def test_every_account_op_takes_only_an_account_id_of_nine_to_twelve_ascii_digits(op, value):
    """As a group id: other scripts' digits pass ``str.isdigit`` and were answered ``not_found`` as an
    unknown account, where the contract says ``bad_request``."""
    frame = {**valid_frame(op), "rid": 9, "account_id": value}
    for data in _encodings(frame):
        err = refusal(data)
        assert (err.code, err.rid) == ("bad_request", 9) and "'account_id' must be an account id" in err.reason, data
