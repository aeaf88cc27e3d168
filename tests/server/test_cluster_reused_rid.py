"""A request a gateway answered `internal` (no answer in time), then a new request of the same
client with the same ``rid``: the home's late answer to the first must not be written as the
answer to the second (docs/scale-out.md, "Failover, step by step", 3). The home names the
forward number of the request each answer belongs to (wire.REQ, wire.REPLY).

A real home (the ``app`` fixture, SQLite) and a gateway built in this process, joined by hand
instead of NATS."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from nats.aio.msg import Msg

from protocol.codec import Encoding
from server.app import App
from server.cluster import wire
from server.cluster.gateway import Gateway
from server.cluster.home import Home
from server.config import parse_config
from tests.server.lookups import hold_token_lookups
from tests.server.test_group_ids import registered


class Client:
    """A gateway's connection: what it is written (the home's answers) and sent (the gateway's own)."""

    def __init__(self) -> None:
        self.ip, self.encoding, self.closing, self.last_user_id = "10.0.0.9", Encoding.JSON, False, None
        self.answers: list[dict[str, Any]] = []
        self.signed_out_since: float | None = None  # (see Session: the time without a login is bounded)

    def remote_port(self) -> int | None:
        return 40000

    def send(self, obj: Any, encoding: Encoding | None = None) -> None:
        self.answers.append(obj)

    def write(self, payload: bytes | str) -> None:
        self.answers.append(json.loads(payload))

    def push(self, ev: Any) -> int:
        return 1

    def close(self, code: int, reason: str) -> None:
        self.closing = True

    def arm_timer(self, seconds: float, on_expiry: Any) -> None:
        pass

    def signed_in(self, max_frame: int) -> None:
        self.signed_out_since = None

    def limit_frames(self, max_bytes: int) -> None:
        pass

    def cancel_timer(self) -> None:
        pass


async def joined(app: App, tmp_path) -> tuple[Home, Gateway, Client]:  # type: ignore[no-untyped-def]
    gw_app = App(parse_config({
        "server": {"port": 0},
        "identity": {"sms_provider": "file", "argon2_time_cost": 1, "argon2_memory_kib": 1024},
        "storage": {"url": "postgresql://postgres@127.0.0.1:5432/unused"},
        # (the home's one heartbeat is given by hand below: a loaded machine's 257 sends took longer than
        # the default 3 s lease, and the gateway took the home for gone: a CI failure at 2f7e948e)
        "cluster": {"broker_url": "nats://127.0.0.1:4222", "node_id": "n2", "name": "t", "lease_seconds": 60},
    }, tmp_path / "gw"))
    tasks: set[asyncio.Task[None]] = set()

    def deliver(to: Any, data: bytes) -> None:
        task = asyncio.get_running_loop().create_task(to(Msg(None, subject="t", data=data)))  # type: ignore[arg-type]
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    home = Home(app, lambda _s, data: deliver(gw.on_message, data), wire.Subjects("t"), 2, 1 << 20)
    gw = Gateway(gw_app, "n2", "i2", wire.Subjects("t"), lambda _s, data: deliver(home.on_message, data), 1 << 20)
    gw.on_heartbeat("n1", 2)
    client = Client()
    gw.opened(client)  # type: ignore[arg-type]
    await settle()
    return home, gw, client


async def settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0.01)


async def timed_out(gw: Gateway) -> None:
    """The gateway's deadline for what it forwarded so far passes: answered `internal` here. (Its
    last check is made recent first: a check long after the one before is taken for a stall of the
    gateway's own loop and judges nothing, which a loaded CI machine's slow setup looked like.)"""
    for conn in gw.conns.values():
        for rid, waiting in conn.pending.items():
            conn.pending[rid] = [(0.0, *w[1:]) for w in waiting]  # type: ignore[misc]
    gw._checked_at = time.monotonic()
    gw.check()


async def test_a_late_answer_is_not_the_answer_to_a_new_request_with_its_id(app: App, tmp_path, monkeypatch) -> None:
    owner = await registered(app, tmp_path)
    home, gw, client = await joined(app, tmp_path)
    answered, gate = hold_token_lookups(app, monkeypatch)
    await gw.forward(client, json.dumps({"op": "auth", "rid": 5, "token": owner.token}))  # type: ignore[arg-type]
    await asyncio.wait_for(answered.wait(), 5)  # the home runs it, slowly
    await timed_out(gw)
    assert [a["code"] for a in client.answers] == ["internal"]
    await gw.forward(client, json.dumps({"op": "my_groups", "rid": 5}))  # type: ignore[arg-type]  # the client retries
    gate.set()  # the home answers the auth (late), then the my_groups
    await settle()
    assert len(client.answers) == 2, client.answers
    assert client.answers[1]["re"] == 5 and "groups" in client.answers[1], \
        f"the answer to my_groups is the late answer to the auth before it: {client.answers[1]}"
    await home.close()
    await owner.close()


async def test_a_late_deferred_answer_is_not_the_answer_to_a_new_request_with_its_id(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same with answers the home gives once a commit is done (``send``), after the handler."""
    owner = await registered(app, tmp_path)
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    home, gw, client = await joined(app, tmp_path)
    await gw.forward(client, json.dumps({"op": "auth", "rid": 1, "token": owner.token}))  # type: ignore[arg-type]
    await settle()
    held: list[Any] = []
    real = app.store.append_message
    monkeypatch.setattr(app.store, "append_message", lambda row, done: real(row, lambda exc: held.append((done, exc))))
    await gw.forward(client, json.dumps({"op": "send", "rid": 7, "group_id": gid, "text": "first"}))  # type: ignore[arg-type]
    await settle()
    await timed_out(gw)
    await gw.forward(client, json.dumps({"op": "send", "rid": 7, "group_id": gid, "text": "second"}))  # type: ignore[arg-type]
    await settle()
    await stored(held, 2, client)
    for done, exc in held:  # the commits settle, in order: the first message's answer comes first
        done(exc)
        await settle()
    history = (await owner.request("history", group_id=gid, limit=10))["messages"]
    second = next(m["seq"] for m in history if m.get("text") == "second")
    answers = [a for a in client.answers if a.get("re") == 7]
    assert [a.get("code") for a in answers] == ["internal", None], answers
    assert answers[1]["seq"] == second, f"the second send was answered with the first one's seq: {answers[1]}"
    await home.close()
    await owner.close()


async def test_nodes_of_the_previous_version_are_still_understood(app: App, tmp_path) -> None:
    """A rolling restart (docs/scale-out.md, "What travels over NATS"): a gateway of the previous
    version sends no forward number, so the home's answer names none; an answer naming none
    settles the oldest request with its id; a node of the previous version reads the first four
    elements of a REQ or REPLY and no further."""
    published: list[bytes] = []
    home = Home(app, lambda _s, data: published.append(data), wire.Subjects("t"), 2, 1 << 20)
    old_gateway = wire.pack(["n3", "i3"]) + wire.pack([wire.STAMP, 2]) \
        + wire.pack([wire.OPEN, 1, "10.0.0.9", wire.ENC_JSON, False, 40000]) \
        + wire.pack([wire.REQ, 1, json.dumps({"op": "my_groups", "rid": 3})])
    await home.on_message(Msg(None, subject="t.home.in", data=old_gateway))  # type: ignore[arg-type]
    await settle()
    replies = [it for m in published for it in list(wire.unpack_stream(m))[2:] if it[0] == wire.REPLY]
    assert [r[2:] for r in replies] == [[1, 3]], replies
    await home.close()

    home2, gw, client = await joined(app, tmp_path)
    await home2.close()
    gw._out._publish = lambda data: None  # (what it forwards now goes nowhere: the old home answers below)
    conn = next(iter(gw.conns.values()))
    await gw.forward(client, json.dumps({"op": "my_groups", "rid": 4}))  # type: ignore[arg-type]
    await gw.forward(client, json.dumps({"op": "my_groups", "rid": 4}))  # type: ignore[arg-type]
    old_home = wire.pack([2, "i2"]) + wire.pack([wire.REPLY, json.dumps({"re": 4, "ok": True, "n": 1}), conn.number, 4])
    await gw.on_message(Msg(None, subject="t", data=old_home))  # type: ignore[arg-type]
    assert [w[2] for w in conn.pending[4]] == [conn.forwarded], "an answer naming no request settled no request"
    assert client.answers[-1] == {"re": 4, "ok": True, "n": 1}


async def test_requests_the_gateway_answers_itself_are_answered_in_the_order_they_were_sent(
        app: App, tmp_path, monkeypatch) -> None:
    """A client reusing request ids: rid 1, rid 2, rid 1 again, none answered by their deadline. The
    gateway's own `internal` answers come in the order the requests were sent (1, 2, 1), not grouped
    by id (1, 1, 2)."""
    owner = await registered(app, tmp_path)
    home, gw, client = await joined(app, tmp_path)
    answered, gate = hold_token_lookups(app, monkeypatch)
    for rid in (1, 2, 1):  # (each an auth: the home's first one waits on the token lookup)
        await gw.forward(client, json.dumps({"op": "auth", "rid": rid, "token": owner.token}))  # type: ignore[arg-type]
    await asyncio.wait_for(answered.wait(), 5)
    await timed_out(gw)
    assert [(a["re"], a["code"]) for a in client.answers] == [(1, "internal"), (2, "internal"), (1, "internal")]
    gate.set()
    await settle()
    await home.close()
    await owner.close()


async def stored(held: list[Any], n: int, client: Any) -> None:
    """Until ``n`` messages reached the store; a send that never does (refused, or lost on the way)
    fails the test with the client's last answers instead of holding the whole run up."""
    deadline = time.monotonic() + 30
    while len(held) < n:
        assert time.monotonic() < deadline, f"{n - len(held)} send(s) never reached the store: {client.answers[-3:]}"
        await asyncio.sleep(0.001)


async def held_commits(app: App, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Each message is stored as usual, but its send's answer (the commit callback) waits for the test."""
    held: list[Any] = []
    real = app.store.append_message
    monkeypatch.setattr(app.store, "append_message", lambda row, done: real(row, lambda exc: held.append((done, exc))))
    return held


async def test_a_late_answer_owed_past_any_bound_never_answers_a_newer_request_with_its_id(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long stall of the store: the first send (rid 7) gets no answer in time (`internal` at the
    gateway), nor do the 256 sends after it, and the client then sends again with rid 7. When the
    commits come through, the first send's answer must not be taken for the new one's: the home
    once kept the forward numbers of 256 deferred answers at most, by request id, and dropped the
    oldest past that, so the first send's late answer took the new request's number."""
    from governance.ratelimit import TokenBucket
    from server.handlers import messages

    owner = await registered(app, tmp_path)
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    home, gw, client = await joined(app, tmp_path)
    await gw.forward(client, json.dumps({"op": "auth", "rid": 1, "token": owner.token}))  # type: ignore[arg-type]
    await settle()
    bucket = TokenBucket(1e9, 1e9)
    monkeypatch.setattr(messages, "message_bucket", lambda ctx, user: bucket)
    held = await held_commits(app, monkeypatch)
    conn = next(iter(gw.conns.values()))

    async def send(rid: int, text: str) -> None:
        nonlocal sent
        if conn.waiting >= 60:  # (the gateway's own answers free room for more, as its deadline does)
            await timed_out(gw)
        await gw.forward(client, json.dumps({"op": "send", "rid": rid, "group_id": gid, "text": text}))  # type: ignore[arg-type]
        await stored(held, sent + 1, client)  # (each is run at the home before the next is sent: no queue there)
        sent += 1

    sent = 0
    await send(7, "first")
    for i in range(256):
        await send(1000 + i, f"filler {i}")
    await settle()
    await timed_out(gw)
    await send(7, "second")
    for done, exc in held:  # the commits settle, in order
        done(exc)
    await settle()
    history = (await owner.request("history", group_id=gid, limit=10))["messages"]
    second = next(m["seq"] for m in history if m.get("text") == "second")
    answers = [a for a in client.answers if a.get("re") == 7]
    assert [a.get("code") for a in answers] == ["internal", None], answers
    assert answers[1]["seq"] == second, f"the second send was answered with the first one's seq: {answers[1]}"
    await home.close()
    await owner.close()


async def test_a_retry_waiting_on_its_first_copy_gets_its_own_answer_whatever_id_it_reuses(
        app: App, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deferred answers of one request id come back in another order than their requests: send Y
    (rid 2) and send X (rid 1), both answered `internal` by the gateway; the client retries Y with
    rid 1, which waits on Y's commit. Y commits first and answers the retry; X's answer, after it,
    is for a request the gateway answered already. Matched by request id, oldest first, the retry
    got X's answer (the seq of another message)."""
    owner = await registered(app, tmp_path)
    gid = (await owner.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
    home, gw, client = await joined(app, tmp_path)
    await gw.forward(client, json.dumps({"op": "auth", "rid": 9, "token": owner.token}))  # type: ignore[arg-type]
    await settle()
    held = await held_commits(app, monkeypatch)

    def send(rid: int, text: str, cmid: str) -> str:
        return json.dumps({"op": "send", "rid": rid, "group_id": gid, "text": text, "client_msg_id": cmid})

    await gw.forward(client, send(2, "y", "cm-y"))  # type: ignore[arg-type]
    await gw.forward(client, send(1, "x", "cm-x"))  # type: ignore[arg-type]
    await stored(held, 2, client)
    await timed_out(gw)
    await gw.forward(client, send(1, "y", "cm-y"))  # type: ignore[arg-type]  # the retry of Y, with X's old id
    await settle()
    for done, exc in held:  # Y's commit, then X's
        done(exc)
        await settle()
    history = (await owner.request("history", group_id=gid, limit=10))["messages"]
    y = next(m["seq"] for m in history if m.get("text") == "y")
    answers = [a for a in client.answers if a.get("re") == 1]
    assert [a.get("code") for a in answers] == ["internal", None], answers
    assert answers[1]["seq"] == y, f"the retry of Y was answered with another message's seq: {answers[1]} (Y is {y})"
    await home.close()
    await owner.close()
