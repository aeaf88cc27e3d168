"""Which of the previous home's last messages a new home sends a gateway's connection as it
re-attaches it (docs/scale-out.md, "The previous home's last messages"): those after the group's
last seq the gateway relayed (wire.SEEN), after the member's join point, and sent once the
connection was logged in; in seq order, before a new message of the group; each once.

A real home (the ``app`` fixture, SQLite) and a gateway built in this process, joined by hand
instead of NATS (see test_cluster_reused_rid.py): the gateway had last heard a home of epoch 1,
and hears this one, of epoch 2."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from nats.aio.msg import Msg

from client_demo.client import Client as WsClient
from protocol.codec import Encoding
from server.app import App
from server.cluster import wire
from server.cluster.home import Tail
from server.security import token_hash
from tests.server.test_cluster_reused_rid import Client, joined, settle


class Listener(Client):
    """A gateway's connection that keeps the ``message`` events written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def push(self, ev: Any) -> int:
        self.events.append(json.loads(ev.get(Encoding.JSON)))
        return 1

    def seqs(self) -> list[int]:
        return [e["seq"] for e in self.events if e.get("ev") == "message"]


async def _user(app: App, tmp_path, n: int) -> WsClient:  # type: ignore[no-untyped-def]
    c = await WsClient.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    phone = f"139123450{n:02d}"
    await c.request("request_code", phone=phone)
    sent = [json.loads(line) for line in (tmp_path / "sms.jsonl").read_text().splitlines()]
    code = [s["code"] for s in sent if s["phone"] == phone][-1]
    await c.request("register", username=f"user{n}", password="password123", phone=phone, code=code)
    await c.login(f"user{n}", "password123")
    return c


async def _send(owner: WsClient, gid: str, text: str) -> dict[str, Any]:
    await asyncio.sleep(0.005)  # (each its own millisecond)
    return await owner.send(gid, text)


def _logged_in_after_a_takeover(gw: Any, client: WsClient) -> Listener:
    """The gateway last heard the home of epoch 2, and holds one connection, logged in as ``client``
    from the start; the next heartbeat (epoch 3) has it re-register with the new home."""
    gw.home_epoch = 2
    gw.conns.clear()
    gw.by_session.clear()
    listener = Listener()
    gw.opened(listener)
    conn = gw.by_session[listener]
    conn.user_id, conn.token_hash, conn.since = client.user_id, token_hash(client.token or ""), 0
    return listener


async def test_a_reattached_connection_gets_what_the_previous_home_owed_it_in_order(app: App, tmp_path) -> None:
    owner, a, b, late = [await _user(app, tmp_path, n) for n in range(4)]
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    for c in (a, b):
        await c.request("join_group", group_id=gid)
    sent = [await _send(owner, gid, "m1"), await _send(owner, gid, "m2")]
    await late.request("join_group", group_id=gid)  # joins after m2
    sent += [await _send(owner, gid, "m3"), await _send(owner, gid, "m4")]
    seqs = [s["seq"] for s in sent]

    home, gw, first = await joined(app, tmp_path)
    home.epoch = 3
    home.start_catch_up(Tail(app, await app.store.recent_messages(0, 200), time.monotonic() + 30))
    gw.home_epoch = 2  # it last heard the previous home (epoch 2): this one is newer
    gw.conns.clear()
    gw.by_session.clear()
    gw.relayed[gid] = (seqs[0], time.monotonic())  # the previous home's m1 reached the gateway
    listeners = {}
    since = {"a": 0, "b": sent[3]["ts"], "late": 0}  # b logged in just before m4
    for name, client in (("a", a), ("b", b), ("late", late)):
        listener = Listener()
        gw.opened(listener)  # type: ignore[arg-type]
        conn = gw.by_session[listener]  # type: ignore[index]
        conn.user_id, conn.token_hash, conn.since = client.user_id, token_hash(client.token or ""), since[name]
        listeners[name] = listener
    gw.on_heartbeat("n1", 3)
    await settle()
    assert listeners["a"].seqs() == seqs[1:]  # after what the gateway relayed
    assert listeners["b"].seqs() == seqs[3:]  # sent once it was logged in
    assert listeners["late"].seqs() == seqs[2:]  # after its join point
    assert [e["text"] for e in listeners["a"].events if e.get("ev") == "message"] == ["m2", "m3", "m4"]
    # A catch-up went to some of the node's connections only: it does not say the node has m4
    # (a later home's catch-up sends it again rather than leave a connection without it).
    assert gw.relayed[gid][0] == seqs[0]

    # A new message comes after them, once; re-registering with the same home again resends nothing.
    new = await _send(owner, gid, "m5")
    await settle()
    gw.reconnected()
    await settle()
    for listener in listeners.values():
        assert listener.seqs()[-1:] == [new["seq"]] and listener.seqs().count(new["seq"]) == 1
    assert listeners["a"].seqs() == [*seqs[1:], new["seq"]]
    assert gw.relayed[gid][0] == new["seq"]
    await home.close()
    for c in (owner, a, b, late):
        await c.close()


async def test_a_home_that_is_not_newer_sends_nothing_again(app: App, tmp_path) -> None:
    """The gateway re-registers with the home it heard last (after a NATS cut): no SEEN, nothing sent."""
    owner, a = [await _user(app, tmp_path, n) for n in range(2)]
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    await a.request("join_group", group_id=gid)
    await _send(owner, gid, "m1")
    home, gw, first = await joined(app, tmp_path)
    home.start_catch_up(Tail(app, await app.store.recent_messages(0, 200), time.monotonic() + 30))
    listener = Listener()
    gw.opened(listener)  # type: ignore[arg-type]
    conn = gw.by_session[listener]  # type: ignore[index]
    conn.user_id, conn.token_hash, conn.since = a.user_id, token_hash(a.token or ""), 0
    gw.reconnected()
    await settle()
    assert listener.seqs() == []
    assert home.links["i2"].seen is None
    await home.close()
    for c in (owner, a):
        await c.close()


def test_a_seen_item_carries_the_group_seqs_and_login_times() -> None:
    """SEEN's maps travel as MessagePack: conn numbers, not strings, are not map keys (msgpack's
    reader refuses those), so the login times go as pairs."""
    item = [wire.SEEN, 2, {"100000001": 7}, [[3, 1700000000000]]]
    assert next(wire.unpack_stream(wire.pack(item))) == item


async def test_a_message_recalled_or_edited_after_the_takeover_is_not_caught_up_as_it_was(app: App, tmp_path) -> None:
    """The recall and the edit reach only the connections attached by then: one re-attached later
    must not get the message as the previous home left it (it sees the gap and reads history)."""
    owner, a = [await _user(app, tmp_path, n) for n in range(2)]
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    await a.request("join_group", group_id=gid)
    sent = [await _send(owner, gid, t) for t in ("m1", "m2", "m3")]
    home, gw, first = await joined(app, tmp_path)
    home.epoch = 3
    home.start_catch_up(Tail(app, await app.store.recent_messages(0, 200), time.monotonic() + 30))
    await owner.request("delete_message", group_id=gid, seq=sent[1]["seq"])  # on the new home, meanwhile
    await owner.request("edit_message", group_id=gid, seq=sent[2]["seq"], text="m3 again")
    listener = _logged_in_after_a_takeover(gw, a)
    gw.on_heartbeat("n1", 3)
    await settle()
    assert listener.seqs() == [sent[0]["seq"]]
    history = (await a.request("history", group_id=gid))["messages"]
    assert [(m["seq"], m.get("text"), m.get("deleted", False)) for m in history][-2:] == [
        (sent[1]["seq"], None, True), (sent[2]["seq"], "m3 again", False)]
    await home.close()
    for c in (owner, a):
        await c.close()


async def test_a_gateway_never_lowers_a_groups_relayed_seq_and_forgets_an_old_homes_logins(app: App, tmp_path) -> None:
    """What the gateway tells a later home (SEEN) must not say less than it relayed, and a home of the
    previous version, which says neither when a connection logged in nor which seq it relayed,
    leaves nothing owed to a connection it attached (a later home would send it again)."""
    home, gw, client = await joined(app, tmp_path)

    def heard(*items: list[Any]) -> None:
        data = wire.pack([2, "i2"]) + b"".join(wire.pack(it) for it in items)
        asyncio.get_running_loop().create_task(gw.on_message(Msg(None, subject="t", data=data)))  # type: ignore[arg-type]

    payload = json.dumps({"ev": "message", "group_id": "100000001", "seq": 5})
    heard([wire.EVENT, payload, [], "100000001", 5])
    await settle()
    heard([wire.EVENT, payload, [], "100000001", 3])  # (an older one, late)
    await settle()
    assert gw.relayed["100000001"][0] == 5
    conn = gw.by_session[client]  # type: ignore[index]
    heard([wire.ATTACHED, conn.number, "u1", "h", 1700000000000])
    await settle()
    assert conn.since == 1700000000000
    heard([wire.ATTACHED, conn.number, "u1", "h"])  # the same user, by a home that says no time
    await settle()
    assert conn.since is None
    await home.close()


async def test_a_reattach_whose_token_read_fails_closes_the_connection(app: App, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A new home reads each re-attached connection's token from the store; when that read fails (the
    database going away as the home changed), the connection is closed with 1013 so that its client
    logs in again, instead of a gateway taking it for logged in and a home that does not."""
    a = await _user(app, tmp_path, 0)
    home, gw, first = await joined(app, tmp_path)
    home.epoch = 3
    listener = _logged_in_after_a_takeover(gw, a)

    async def gone(*_args: Any) -> None:
        raise OSError("the database went away")

    monkeypatch.setattr(app.store, "token_owner", gone)
    gw.on_heartbeat("n1", 3)
    await settle()
    assert listener.closing
    await home.close()
    await a.close()


async def test_a_connection_whose_frames_pile_up_at_a_slow_home_is_closed(app: App, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The gateway answers requests past their deadline itself and forwards more; a home slower than
    that would queue a connection's frames without end. Past MAX_INBOX waiting, it is closed (1013)."""
    from server.cluster.home import MAX_INBOX
    from server.cluster.remote import Frame

    home, gw, client = await joined(app, tmp_path)
    gate = asyncio.Event()

    async def stuck(*_args: Any) -> None:
        await gate.wait()

    monkeypatch.setattr(app, "on_frame", stuck)
    [link] = home.links.values()
    [rs] = link.sessions.values()
    for n in range(MAX_INBOX + 2):
        home._enqueue(rs, Frame(json.dumps({"op": "my_groups", "rid": n}), n + 1))
    assert rs.closing and len(rs.inbox) <= MAX_INBOX
    await settle()
    assert client.closing
    gate.set()
    await settle()
    await home.close()
