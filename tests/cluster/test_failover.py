"""kill -9 of the home node in the middle of a burst: nothing acknowledged is lost, no seq is used
twice, nothing is falsely acknowledged, a new home serves within 5 s and clients carry on."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from client_demo.client import Client
from tests.cluster.harness import (
    Cluster,
    Sender,
    assert_in_seq_order,
    full_history,
    members_on,
    messages_events_so_far,
    wait_stopped,
)
from tests.e2e.harness import new_phone, open_group
from tests.e2e.store_hold import reads_held

FAILOVER_LIMIT = 5.0  # seconds from the home's death to the first acknowledged send through a gateway


async def test_kill9_of_the_home_during_a_burst(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster()
    old = c.home()
    gws = c.gateways()
    old_epoch = c.lease()[1]  # type: ignore[index]
    owner = await gws[0].user()
    gid = await open_group(owner)
    gw_clients = await members_on(gws, gid, per_node=2, encodings=("msgpack", "json"))
    [home_client] = await members_on([old], gid)
    receivers = await members_on(c.nodes, gid, per_node=1, encodings=("json",))  # receivers[0] is on the home
    idle = await members_on(gws, gid)  # logged in on each gateway, silent during the failover
    probes = [await gw.user() for gw in gws]
    for p in probes:
        await p.request("join_group", group_id=gid)

    senders = [Sender(cl, gid, f"g{i}") for i, cl in enumerate(gw_clients)] + [Sender(home_client, gid, "h")]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.run(stop)) for s in senders]
    await asyncio.sleep(1.0)
    assert all(s.acked for s in senders), "the burst did not get going"

    # Freeze the home first, so that the probes' sends are surely in flight when it dies.
    assert old.proc is not None
    old.proc.send_signal(signal.SIGSTOP)
    await asyncio.to_thread(wait_stopped, old.proc.pid)
    dead_at = time.monotonic()
    for s in senders:
        s.since = dead_at

    async def probe(i: int, p: Client) -> tuple[dict[str, Any], float]:
        r = await p.call("send", timeout=8.0, group_id=gid, text=f"probe{i}", client_msg_id=f"probe{i}")
        return r, time.monotonic() - dead_at

    probe_calls = [asyncio.create_task(probe(i, p)) for i, p in enumerate(probes)]
    await asyncio.sleep(0.1)
    await asyncio.to_thread(old.kill9)

    deadline = dead_at + 15
    gw_senders = senders[:-1]
    while not all(s.first_ok_after is not None for s in gw_senders) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*tasks)

    # A request in flight when the home died, and every request while there was no home: `internal`.
    for r, answered in await asyncio.gather(*probe_calls):
        assert not r["ok"] and r["code"] == "internal", r
        # A gateway gives up on a silent home after a lease's time, not at the request timeout (10 s).
        assert answered < c.lease_seconds + 1.5, f"a request in flight was answered only after {answered:.1f} s"
    for s in gw_senders:
        assert not s.silent, f"{s.name}: no answer at all to {s.silent}"
        assert not s.died, f"{s.name}: its gateway dropped it"
        assert {code for code, _, _ in s.errors} <= {"internal"}, s.errors
        assert s.first_ok_after is not None, f"{s.name}: no send got through after the failover"
    assert any(s.errors for s in gw_senders), "no send ever failed while the home was gone"
    assert senders[-1].died, "the client on the dead home was not disconnected"

    failover = min(s.first_ok_after for s in gw_senders if s.first_ok_after) - dead_at
    new = c.wait_home(not_=old)
    lease = c.lease()
    assert lease is not None and lease[0] == new.node_id and lease[1] > old_epoch
    print(f"failover: first acknowledged send through a gateway {failover:.2f} s after the home stopped; "
          f"new home {new.node_id} (epoch {lease[1]}); acked {sum(len(s.acked) for s in senders)} messages; "
          f"refused meanwhile: {sorted({reason for s in gw_senders for _, reason, _ in s.errors})}")
    assert failover <= FAILOVER_LIMIT, f"failover took {failover:.2f} s"
    # The killed home's process ended, so the gateway that took over loaded the state ahead while it
    # made sure (server/cluster/ahead.py); whether it used it or loaded again (a write committed after
    # its snapshot), the checks below hold: nothing acknowledged lost, no seq twice.
    ahead = "used" if "the state loaded ahead of the takeover is the database's: used" in new.log() else "not used"
    print(f"state loaded ahead: {ahead}")

    # The clients of the dead node come back on a surviving one with their token.
    resumed = []
    for gone in (home_client, receivers[0]):
        again = await gws[0].client()
        assert gone.token is not None
        await again.auth(gone.token)
        resumed.append(again)
    # A client logged in on a gateway stays logged in across the failover, no login needed: on the
    # node that took over (attached there) and on the one still a gateway (re-registered with the new home).
    for cl in idle:
        assert (await cl.request("me"))["user_id"] == cl.user_id

    acked: dict[str, int] = {}
    for s in senders:
        acked.update(s.acked)
    assert len(set(acked.values())) == len(acked), "a seq was acknowledged for two messages"
    history = await full_history(idle[0], gid)
    stored = {m["seq"]: m["text"] for m in history}
    lost = {cmid: seq for cmid, seq in acked.items() if stored.get(seq) != cmid}
    assert not lost, f"acknowledged but not in history: {lost}"
    seqs = [m["seq"] for m in history]
    assert seqs == sorted(set(seqs))
    texts = [m["text"] for m in history]
    assert len(texts) == len(set(texts)), "a message is stored twice"
    assert not [t for t in texts if t.startswith("probe")], "a send the dead home never ran was stored"
    rows = c.db_rows("SELECT seq, text FROM messages WHERE group_id = ? ORDER BY seq", gid)
    assert rows == [(m["seq"], m["text"]) for m in history]
    for back in resumed:
        assert [(m["seq"], m["text"]) for m in await full_history(back, gid)] == rows

    # Only committed messages are ever pushed: every event any receiver saw is in history, as it is.
    for rcv in receivers:
        events = messages_events_so_far(rcv, gid)
        assert_in_seq_order(events)
        assert all(stored.get(ev["seq"]) == ev["text"] for ev in events), "an event for a message not stored"
    # ... and a receiver on a surviving gateway, re-registered with the new home, gets new messages.
    await owner.send(gid, "after the failover")
    for rcv in receivers[1:]:
        ev: dict[str, Any] = await rcv.next_event("message")
        while ev["text"] != "after the failover":
            ev = await rcv.next_event("message")
    # The new home indexes search, beginning with what the dead one left unindexed; meanwhile a
    # search reads those messages directly, so the newest is found at once.
    found = await owner.request("search", group_id=gid, query="after the fail")
    assert [m["text"] for m in found["messages"]] == ["after the failover"]
    deadline = time.monotonic() + 10
    while c.db_rows("SELECT g.last_seq, p.indexed_seq FROM groups g JOIN search_progress p"
                    " ON p.group_id = g.group_id WHERE g.group_id = ?", gid) != [(rows[-1][0] + 1,) * 2]:
        assert time.monotonic() < deadline, "the new home did not index the backlog"
        await asyncio.sleep(0.1)
    assert c.db_rows("SELECT seq, text FROM message_search WHERE group_id = ? ORDER BY seq", gid) == [
        *rows, (rows[-1][0] + 1, "after the failover")]
    for cl in [owner, *gw_clients, *receivers, *idle, *probes, *resumed]:
        await cl.close()


async def test_a_request_on_the_node_taking_over_gets_an_answer(make_cluster: Callable[..., Cluster]) -> None:
    """A client on the gateway that is becoming the home sends a request at the moment that node
    checks its own clients' tokens: it gets an answer (`internal`, or the result), never silence.
    The test holds the tokens table so that the check lasts long enough to send into it."""
    c = make_cluster()
    old = c.home()
    gws = c.gateways()
    clients = {gw.node_id: await gw.user() for gw in gws}
    async with reads_held(gws[0], "tokens"):  # the new home's token checks wait while inside
        await asyncio.to_thread(old.kill9)
        taker = await asyncio.to_thread(c.wait_log, "takes the home lease (epoch 2)", 10.0, gws)
        cl = clients[taker.node_id]
        for _ in range(100):  # while it loads its state it answers "no node serves..." at once
            asked = asyncio.create_task(cl.call("me", timeout=4.0))
            done, _ = await asyncio.wait({asked}, timeout=0.5)
            if not done or asked.result()["ok"] or not asked.result()["reason"].startswith("no node serves"):
                break  # something else than "still loading": sent while the node checks its clients' tokens
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
    try:
        reply = await asked
    except TimeoutError:
        raise AssertionError("a request sent during the takeover got no answer at all") from None
    assert reply["ok"] or reply["code"] == "internal", reply
    for cl in clients.values():
        await cl.close()


async def test_a_takeover_slower_than_the_lease_keeps_the_lease(make_cluster: Callable[..., Cluster]) -> None:
    """The node that took the lease keeps renewing it while it loads: a takeover that lasts longer
    than a lease (here: its clients' token checks held back) ends with that node the home, at that epoch."""
    c = make_cluster()
    old = c.home()
    gws = c.gateways()
    clients = [await gw.user() for gw in gws]  # logged in: the node taking over checks their tokens
    async with reads_held(gws[0], "tokens"):
        await asyncio.to_thread(old.kill9)
        taker = await asyncio.to_thread(c.wait_log, "takes the home lease (epoch 2)", 10.0, gws)
        await asyncio.sleep(c.lease_seconds + 1.5)
    home = await asyncio.to_thread(c.wait_home, 10.0)
    await asyncio.sleep(0.5)
    assert all(n.alive for n in gws), "a node exited"
    assert home is taker and c.lease()[:2] == (taker.node_id, 2), c.lease()  # type: ignore[index]
    for cl in clients:
        await cl.close()


async def test_codes_and_failed_logins_outlive_the_home(make_cluster: Callable[..., Cluster],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A node that dies loses only its own connections: an SMS code sent through the old home still
    registers through the new one, and the failed logins counted before still count."""
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_FAILED_LOGINS_PER_IP_PER_HOUR", "3")  # the harness turns it off
    c = make_cluster()
    old = c.home()
    gw1, gw2 = c.gateways()
    known = await gw1.user()
    for i in range(3):
        assert (await known.call("login", username=known.username, password=f"wrong{i}"))["code"] == "unauthenticated"
    asker = await gw1.client()
    phone = new_phone()
    await asker.request("request_code", phone=phone)
    code = c.last_code(phone)
    await asyncio.to_thread(old.kill9)
    await asyncio.to_thread(c.wait_home, 10.0, old)
    newcomer = await gw2.client()
    for _ in range(100):  # until the new home answers
        reply = await newcomer.call("register", username="survivor", password="password123", phone=phone, code=code)
        if reply["ok"] or reply["code"] != "internal":
            break
        await asyncio.sleep(0.1)
    assert reply["ok"], reply
    again = await gw2.client()
    refused = await again.call("login", username=known.username, password="password123")
    assert refused["code"] == "rate_limited", refused  # the same address, three failures this hour
    for cl in (known, asker, newcomer, again):
        await cl.close()


async def _login(node: Any, ip: str, username: str, password: str) -> str:
    """A login's answer from ``ip`` (X-Forwarded-For), asked again while no home answers it."""
    cl = await Client.connect(node.url, additional_headers={"X-Forwarded-For": ip})
    try:
        for _ in range(100):  # (until a new home answers)
            reply = await cl.call("login", username=username, password=password)
            if reply.get("code") != "internal":
                return str(reply.get("code", "ok"))
            await asyncio.sleep(0.1)
        raise AssertionError(reply)
    finally:
        await cl.close()


async def test_the_limits_per_network_and_per_account_outlive_the_home(make_cluster: Callable[..., Cluster],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The failed-login limits are counted on the home, an IPv6 client by its /64 and an account
    whatever the addresses; the next home counts both again from the network log (the harness turns
    them off; the clients name their addresses through X-Forwarded-For, the nodes trusting 127.0.0.1)."""
    monkeypatch.setenv("QUNGUAN_SERVER_TRUSTED_PROXIES", '["127.0.0.1"]')
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_FAILED_LOGINS_PER_IP_PER_HOUR", "2")
    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_FAILED_LOGINS_PER_ACCOUNT", "3")
    c = make_cluster()
    old = c.home()
    gw1, gw2 = c.gateways()
    known = await gw1.user()
    bystander = await gw1.user()

    line = "2001:db8:7:1"
    assert await _login(gw1, f"{line}::1", known.username, "wrong-1") == "unauthenticated"
    assert await _login(gw1, f"{line}::2", known.username, "wrong-2") == "unauthenticated"
    assert await _login(gw1, f"{line}::3", bystander.username, "wrong-3") == "rate_limited"  # the line's two
    assert await _login(gw1, "192.0.2.1", known.username, "wrong-4") == "unauthenticated"  # the account's third
    assert await _login(gw1, "192.0.2.2", known.username, "password123") == "rate_limited"
    await asyncio.to_thread(old.kill9)
    await asyncio.to_thread(c.wait_home, 10.0, old)
    assert await _login(gw2, f"{line}::99", bystander.username, "password123") == "rate_limited"
    assert await _login(gw2, "192.0.2.3", known.username, "password123") == "rate_limited"
    assert await _login(gw2, "192.0.2.4", bystander.username, "password123") == "ok"
    for cl in (known, bystander):
        await cl.close()


async def test_a_failed_login_is_answered_only_once_the_next_home_will_count_it(
        make_cluster: Callable[..., Cluster], monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong password's answer waits until its network-log row, which the next home counts the
    limits from, is stored: a home killed right after answering cannot take the count with it.
    The rows are held back (the netlog table locked) while three wrong passwords are tried and the
    home is killed: a guess answered then would be a guess the next home never counted."""
    import asyncpg

    monkeypatch.setenv("QUNGUAN_RATE_LIMITS_FAILED_LOGINS_PER_ACCOUNT", "3")
    c = make_cluster()
    old = c.home()
    gw1, _ = c.gateways()
    target = await gw1.user()

    async def try_login(password: str, wait: float) -> str | None:
        cl = await Client.connect(gw1.url)
        try:
            reply = await asyncio.wait_for(cl.call("login", username=target.username, password=password), wait)
            return str(reply.get("code", "ok"))
        except (TimeoutError, ConnectionError):
            return None  # no answer: nothing learnt
        finally:
            await cl.close()

    db = await asyncpg.connect(c.pg_url)
    try:
        lock = db.transaction()
        await lock.start()
        await db.execute("LOCK TABLE netlog IN EXCLUSIVE MODE")
        answers = await asyncio.gather(*(try_login(f"wrong-{i}", 1.5) for i in range(3)))
        await asyncio.to_thread(old.kill9)
        # Held until another node holds the lease: the dead home's statement, still waiting on the
        # lock, then meets the fence and stores nothing (its guesses were never answered either).
        second = await asyncio.to_thread(c.wait_home, 10.0, old)
        await lock.rollback()
    finally:
        await db.close()
    answered = sum(a == "unauthenticated" for a in answers)
    assert answered == 0, f"{answers}: answered while their rows were not stored"

    # The three answered now are counted by whichever home comes next.
    wrong = [await _login(second, "127.0.0.1", target.username, f"wrong-{i}") for i in range(3)]
    assert wrong == ["unauthenticated"] * 3
    await asyncio.to_thread(second.kill9)
    third = await asyncio.to_thread(c.wait_home, 10.0, second)
    assert await _login(third, "127.0.0.1", target.username, "password123") == "rate_limited"
    await target.close()
