"""What a refused frame tells beyond its reason: **[ext]** ``field`` for the arguments whose
refusals name it (the identity data, and a few names), whether decoding or the rule refused it."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import ContractError, FrameError
from protocol.messages import argument_field, decode_request
from protocol.requests import OPS, parse_request
from tests.protocol.test_messages import MAX, WRONG, both, valid_frame

IDENTITY = ("phone", "username", "password", "display_name", "legal_name", "id_number")
NAMED = {"create_group": {"name"}, "update_group": {"name"}, "create_account": {"name", "org_name", "org_code"},
         "update_account": {"name"}}


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


@pytest.mark.parametrize("op,arg", ARGS, ids=[f"{op}-{a.name}" for op, a in ARGS])
@pytest.mark.parametrize("how", ["wrong type", "too long", "null", "missing"])
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
        else:
            return  # a text argument (a name of a public account, a title): its op checks the length
    elif not arg.required:
        return  # null or missing: an optional argument is simply not given
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
            want = {"field": named[0]} if named and named[0] in IDENTITY else {}
            assert err.extra == want, (err.reason, err.extra)
