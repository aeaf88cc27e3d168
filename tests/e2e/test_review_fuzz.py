"""Bad input, every op (a review driving a real server with malformed requests): each gets a contract
error code and a reason, on both encodings, and the connection carries on; a reason that quotes the
client's text writes its invisible characters in the contract's ``\\uXXXX`` form and shows an empty
value as one."""

from __future__ import annotations

import base64
import json

import msgpack
from websockets.asyncio.client import connect

from protocol.errors import ERROR_CODES
from protocol.requests import OPS
from tests.e2e.harness import close_all, open_group

# One wrongly typed value per kind of argument (what no argument of that kind accepts), and a
# wrong type for everything: a list, a map, a float, a boolean where none is one.
WRONG_FOR = {"str": 257 * "x", "text": 7, "int": 2**63 - 1 + 1, "bool": 1, "gid": "12345678x", "aid": "0x1",
             "strs": ["x"] * 101, "bytes": "not bytes", "entry": "-1"}
ALWAYS_WRONG = ([1], {"a": {"b": [None]}}, 1.5)
SIGNED_IN = {"delete_account", "logout", "change_password", "auth", "login"}  # would end the test's own login


class Raw:
    def __init__(self, ws, enc: str) -> None:
        self.ws, self.enc, self.rid = ws, enc, 0

    @classmethod
    async def open(cls, url: str, enc: str) -> Raw:
        return cls(await connect(url, subprotocols=[f"qunguan.v1+{enc}"], max_size=None), enc)

    async def call(self, frame: dict) -> dict:
        self.rid += 1
        frame = {**frame, "rid": self.rid}
        if self.enc == "json":
            frame = {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in frame.items()}
            await self.ws.send(json.dumps(frame))
        else:
            await self.ws.send(msgpack.packb(frame, use_bin_type=True))
        while True:
            data = await self.ws.recv()
            reply = json.loads(data) if isinstance(data, str) else msgpack.unpackb(data, raw=False)
            if "ev" not in reply and reply.get("re") in (self.rid, None):
                return reply


async def test_every_op_refuses_a_wrongly_typed_argument_with_bad_request_naming_it_and_carries_on(server):
    owner = await server.user()
    gid = await open_group(owner)
    for enc in ("msgpack", "json"):
        c = await Raw.open(server.url, enc)
        assert (await c.call({"op": "auth", "token": owner.token}))["ok"]
        for op, spec in OPS.items():
            if op in SIGNED_IN:
                continue
            for arg in spec:
                for value in (WRONG_FOR[arg.kind], *ALWAYS_WRONG):
                    if enc == "msgpack" and type(value) is int and value > 2**64 - 1:
                        continue
                    frame = {"op": op, "group_id": gid, arg.name: value}
                    r = await c.call(frame)
                    assert r["ok"] is False and r["code"] in ERROR_CODES - {"internal"}, (enc, op, arg.name, value, r)
                    if r["code"] == "bad_request" and r["re"] is not None:
                        assert r["reason"].strip(), (enc, op, arg.name, r)
            assert (await c.call({"op": "ping"}))["ok"], (enc, op)
        assert (await c.call({"op": "send", "group_id": gid, "text": "still here"}))["ok"]
        await c.ws.close()
    assert not await server.logged("Traceback", timeout=0.5)
    await close_all(owner)


async def test_a_reason_writes_a_format_character_beyond_the_bmp_in_the_uxxxx_form(server):
    """protocol.md, Envelope: a reason quoting what the client sent "writes control and format
    characters (NUL, a line break, a bidi override) as ``\\uXXXX``". A tag character (U+E0041,
    format, the kind used to smuggle invisible text) came out as ``\\ue0041``: five digits, which a
    reader of ``\\uXXXX`` takes for U+E000 followed by "41". JSON's form is the UTF-16 pair."""
    owner = await server.user()
    gid = await open_group(owner)
    r = await owner.call("kick", group_id=gid, user_id="u\U000e0041")
    assert r["code"] == "not_found", r
    assert "u\\udb40\\udc41" in r["reason"] and "\\ue0041" not in r["reason"], r
    await close_all(owner)


async def test_a_reason_quoting_an_empty_id_shows_that_it_was_empty(server):
    """An empty ``user_id`` (or ``comment_id``) is quoted bare: "no user ", " is not a member of group
    123...", "no comment ": the reason does not say what is wrong (that the id was empty)."""
    owner, other = await server.user(verify_id=True), await server.user()
    gid = await open_group(owner)
    acc = (await owner.request("create_account", name="早报号", category="culture", intro="i",
                               subject_type="individual"))["account_id"]
    post = (await owner.request("publish", account_id=acc, title="t", body="b"))["post_id"]
    for op, args in [("kick", {"group_id": gid, "user_id": ""}), ("invite", {"group_id": gid, "user_id": ""}),
                     ("report", {"target_type": "user", "user_id": "", "reason": "spam"}),
                     ("comment", {"post_id": post, "text": "t", "reply_to": ""})]:
        r = await owner.call(op, **args)
        assert r["ok"] is False, (op, r)
        reason = r["reason"]
        assert "''" in reason or '""' in reason or "empty" in reason, (op, r)
    await close_all(owner, other)
