"""A connection re-registered with a new home (``REATTACH``) against a ``logout`` of the same
token that commits while the home's token lookup is out: the connection must not be bound to the
revoked token (the same race ``auth`` guards against, tests/server/test_auth_logout_race.py).

The home's side of the cluster (server/cluster/home.py) runs here on a real server in this
process; the re-registration arrives as the message a gateway would publish."""

from __future__ import annotations

import asyncio
import json

from nats.aio.msg import Msg

from server.app import App
from server.cluster import wire
from server.cluster.home import Home
from server.security import token_hash
from tests.server.lookups import hold_token_lookups
from tests.server.test_group_ids import registered


def _head(epoch: int) -> bytes:
    """What starts a gateway's message: its header, then the epoch of the home it knows."""
    return wire.pack(["n2", "i2"]) + wire.pack([wire.STAMP, epoch])


async def test_a_reattach_whose_lookup_a_logout_overtook_is_not_bound(app: App, tmp_path, monkeypatch) -> None:
    owner = await registered(app, tmp_path)
    assert owner.token is not None and owner.user_id is not None
    published: list[bytes] = []
    home = Home(app, lambda _subject, data: published.append(data), wire.Subjects("t"), 2, 1 << 20)
    answered, gate = hold_token_lookups(app, monkeypatch)
    hashed = token_hash(owner.token)
    reattach = _head(2) + wire.pack([wire.REATTACH, 7, "10.0.0.9", wire.ENC_JSON, owner.user_id,
                                                    hashed, 40000])
    await home.on_message(Msg(None, subject="t.home.in", data=reattach))  # type: ignore[arg-type]
    await asyncio.wait_for(answered.wait(), 5)
    assert (await owner.call("logout"))["ok"]
    gate.set()
    for _ in range(20):
        await asyncio.sleep(0.01)
    rs = home.links["i2"].sessions[7]
    assert rs.user is None, "the re-registered connection is bound to a token revoked meanwhile"
    assert rs.closing
    items = [it for m in published for it in list(wire.unpack_stream(m))[2:]]  # (past header and NUMBER)
    assert [wire.CLOSE, 7, 1008, "log in again"] in items, items
    await home.close()
    await owner.close()


async def test_a_frame_sent_to_the_previous_home_is_not_run_without_its_login(app: App, tmp_path) -> None:
    """A gateway that has not heard the new home yet still forwards (to the same subject): the new
    home knows none of its connections then, and would answer a logged-in client's request
    `unauthenticated`. It leaves such frames to the gateway, which answers them `internal` when it
    hears the new home, then re-registers its connections (logged in) and forwards again."""
    published: list[bytes] = []
    home = Home(app, lambda _subject, data: published.append(data), wire.Subjects("t"), 2, 1 << 20)
    before = _head(1) + wire.pack([wire.REQ, 7, '{"op": "my_groups", "rid": 5}'])
    await home.on_message(Msg(None, subject="t.home.in", data=before))  # type: ignore[arg-type]
    for _ in range(20):
        await asyncio.sleep(0.01)
    items = [it for m in published for it in list(wire.unpack_stream(m))[2:]]
    assert items == [], f"the new home answered a frame meant for the previous one: {items}"
    assert 7 not in home.links["i2"].sessions

    # Once the gateway stamps the new epoch, its frames run as usual.
    after = _head(2) + wire.pack([wire.OPEN, 8, "10.0.0.9", wire.ENC_JSON, False, 40001]) \
        + wire.pack([wire.REQ, 8, '{"op": "my_groups", "rid": 6}'])
    await home.on_message(Msg(None, subject="t.home.in", data=after))  # type: ignore[arg-type]
    for _ in range(20):
        await asyncio.sleep(0.01)
    replies = [it for m in published for it in list(wire.unpack_stream(m))[2:] if it[0] == wire.REPLY]
    assert [(r[2], r[3]) for r in replies] == [(8, 6)] and '"unauthenticated"' in replies[0][1], replies
    await home.close()


async def test_a_frame_of_a_connection_the_home_closed_gets_the_close_again(app: App, tmp_path) -> None:
    """The gateway did not get the close (lost on NATS): the connection's next frame is not run,
    and the close is sent again."""
    published: list[bytes] = []
    home = Home(app, lambda _subject, data: published.append(data), wire.Subjects("t"), 2, 1 << 20)
    opened = _head(2) + wire.pack([wire.OPEN, 9, "10.0.0.9", wire.ENC_JSON, False, 40002])
    await home.on_message(Msg(None, subject="t.home.in", data=opened))  # type: ignore[arg-type]
    home.links["i2"].sessions[9].close(1008, "account closed")
    await asyncio.sleep(0.01)
    published.clear()  # the close is lost on the way
    frame = _head(2) + wire.pack([wire.REQ, 9, '{"op": "my_groups", "rid": 1}'])
    await home.on_message(Msg(None, subject="t.home.in", data=frame))  # type: ignore[arg-type]
    for _ in range(20):
        await asyncio.sleep(0.01)
    items = [it for m in published for it in list(wire.unpack_stream(m))[2:]]
    assert items == [[wire.CLOSE, 9, 1008, "account closed"]], items
    await home.close()


async def test_a_connection_gone_while_its_auth_is_out_is_not_left_bound(app: App, tmp_path, monkeypatch) -> None:
    """The gateway's connection closes (GONE) while the home runs its `auth`: the home lets the
    session go at once, and the handler's bind that comes after must not keep it (the user's
    sessions and their groups' live sets would hold a dead connection for good)."""
    owner = await registered(app, tmp_path)
    assert owner.token is not None and owner.user_id is not None
    published: list[bytes] = []
    home = Home(app, lambda _subject, data: published.append(data), wire.Subjects("t"), 2, 1 << 20)
    answered, gate = hold_token_lookups(app, monkeypatch)
    head = _head(2)
    frames = head + wire.pack([wire.OPEN, 4, "10.0.0.9", wire.ENC_JSON, False, 40003]) \
        + wire.pack([wire.REQ, 4, json.dumps({"op": "auth", "rid": 1, "token": owner.token})])
    await home.on_message(Msg(None, subject="t.home.in", data=frames))  # type: ignore[arg-type]
    await asyncio.wait_for(answered.wait(), 5)
    rs = home.links["i2"].sessions[4]
    await home.on_message(Msg(None, subject="t.home.in", data=head + wire.pack([wire.GONE, 4])))  # type: ignore[arg-type]
    gate.set()
    for _ in range(20):
        await asyncio.sleep(0.01)
    user = app.state.users[owner.user_id]
    assert rs not in user.sessions and rs.user is None, "a connection that is gone stays bound to its user"
    await home.close()
    await owner.close()


async def test_a_home_replaced_by_a_newer_one_runs_nothing_a_gateway_sends_it(app: App, tmp_path) -> None:
    """An old home that is still subscribed (paused, then back) gets the frames a gateway sends the
    new home (stamped with the newer epoch): it must not run them beside the new home."""
    published: list[bytes] = []
    home = Home(app, lambda _subject, data: published.append(data), wire.Subjects("t"), 2, 1 << 20)
    frame = _head(3) + wire.pack([wire.OPEN, 3, "10.0.0.9", wire.ENC_JSON, False, 40004]) \
        + wire.pack([wire.REQ, 3, json.dumps({"op": "request_code", "rid": 1, "phone": "13912345670"})])
    await home.on_message(Msg(None, subject="t.home.in", data=frame))  # type: ignore[arg-type]
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert published == [] and home.links == {}
    sms = tmp_path / "sms.jsonl"
    assert not sms.exists() or "13912345670" not in sms.read_text(), "the replaced home sent an SMS code"
    await home.close()


async def test_a_reattach_past_the_accounts_connection_cap_is_closed(app: App, tmp_path, monkeypatch) -> None:
    """A connection cut off with its gateway is re-registered with the home; meanwhile the account's
    other connections may have taken every slot it may hold (rate_limits.connections_per_user). It was
    bound all the same, past the cap; now it is closed, to log in again (and be told why)."""
    import dataclasses

    owner = await registered(app, tmp_path)  # (logged in here: one connection held)
    assert owner.token is not None and owner.user_id is not None
    capped = dataclasses.replace(app.cfg.rate_limits, connections_per_user=1)
    monkeypatch.setattr(app, "cfg", dataclasses.replace(app.cfg, rate_limits=capped))
    published: list[bytes] = []
    home = Home(app, lambda _subject, data: published.append(data), wire.Subjects("t"), 2, 1 << 20)
    reattach = _head(2) + wire.pack([wire.REATTACH, 7, "10.0.0.9", wire.ENC_JSON, owner.user_id,
                                     token_hash(owner.token), 40000])
    await home.on_message(Msg(None, subject="t.home.in", data=reattach))  # type: ignore[arg-type]
    for _ in range(50):
        await asyncio.sleep(0.01)
    rs = home.links["i2"].sessions[7]
    assert rs.user is None and rs.closing
    items = [it for m in published for it in list(wire.unpack_stream(m))[2:]]
    assert [wire.CLOSE, 7, 1008, "log in again"] in items, items
    assert (await owner.request("me"))["user_id"] == owner.user_id  # (the one that held the slot keeps it)
    await home.close()
    await owner.close()
