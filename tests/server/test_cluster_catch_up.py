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

    def push(self, ev: Any) -> None:
        self.events.append(json.loads(ev.get(Encoding.JSON)))

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
    home.tail = Tail(app, await app.store.recent_messages(0, 200), time.monotonic() + 30)
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
    assert [e["text"] for e in listeners["a"].events] == ["m2", "m3", "m4"]
    assert gw.relayed[gid][0] == seqs[3]

    # A new message comes after them, once; re-registering with the same home again resends nothing.
    new = await _send(owner, gid, "m5")
    await settle()
    gw.reconnected()
    await settle()
    for listener in listeners.values():
        assert listener.seqs()[-1:] == [new["seq"]] and listener.seqs().count(new["seq"]) == 1
    assert listeners["a"].seqs() == [*seqs[1:], new["seq"]]
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
    home.tail = Tail(app, await app.store.recent_messages(0, 200), time.monotonic() + 30)
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
