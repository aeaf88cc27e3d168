"""A 3-node cluster that stays up: what must hold across nodes while the home node is stable.

One cluster serves every test here (the ``cluster`` fixture, n1 the home at the start): the tests
kill nothing and each uses users and groups of its own.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.cluster.harness import (
    Cluster,
    assert_in_seq_order,
    members_on,
    message_events,
    messages_events_so_far,
)
from tests.e2e.harness import closed_by_server, gather, new_phone, open_group

PER_SENDER = 20


async def test_messages_cross_nodes_once_each_in_seq_order(cluster: Cluster) -> None:
    """Two senders and two receivers on every node, one group: every receiver (and every sender) sees
    every message exactly once, in seq order, with no gap; each sender's acks follow its send order."""
    nodes = cluster.nodes
    owner = await nodes[0].user()
    gid = await open_group(owner)
    senders = await members_on(nodes, gid, per_node=2, encodings=("msgpack", "json"))
    receivers = await members_on(nodes, gid, per_node=2, encodings=("json", "msgpack"))
    everyone = [owner, *senders, *receivers]
    await asyncio.sleep(0.2)
    for c in everyone:
        c.drain_events()  # member_joined and the like

    async def burst(i: int) -> list[dict[str, Any]]:
        # All of one sender's requests at once (pipelined on its connection): per-connection order
        # must survive the forwarding, so the acks' seqs grow in the order the sends were written.
        return await gather(*(senders[i].send(gid, f"s{i}-{k}", client_msg_id=f"s{i}-{k}")
                              for k in range(PER_SENDER)))

    acks = await asyncio.gather(*(burst(i) for i in range(len(senders))))
    total = len(senders) * PER_SENDER
    by_seq: dict[int, str] = {}
    for i, sender_acks in enumerate(acks):
        seqs = [int(a["seq"]) for a in sender_acks]
        where = senders[i].node.node_id  # type: ignore[attr-defined]  # set by members_on
        assert seqs == sorted(seqs), f"sender {i} on {where}: acks out of its order: {seqs}"
        for k, seq in enumerate(seqs):
            assert seq not in by_seq, f"seq {seq} acknowledged twice"
            by_seq[seq] = f"s{i}-{k}"
    assert sorted(by_seq) == list(range(1, total + 1))

    got = await asyncio.gather(*(message_events(c, gid, total) for c in everyone))
    for c, events in zip(everyone, got, strict=True):
        where = getattr(c, "node", nodes[0]).node_id
        assert_in_seq_order(events)
        assert [ev["seq"] for ev in events] == list(range(1, total + 1)), f"a receiver on {where} has gaps"
        assert {ev["seq"]: ev["text"] for ev in events} == by_seq, f"a receiver on {where} got wrong texts"
    await asyncio.sleep(0.3)
    for c in everyone:
        assert messages_events_so_far(c, gid) == [], "a message event came twice"
    history = [(m["seq"], m["text"]) for m in (await receivers[-1].request("history", group_id=gid,
                                                                            limit=500))["messages"]]
    assert history == sorted(by_seq.items())
    for c in everyone:
        await c.close()


async def test_concurrent_joins_over_three_nodes_admit_exactly_the_free_places(cluster: Cluster) -> None:
    """50 joins at once, spread over the three nodes, into a group with 10 free places: exactly 10
    get in, the rest are refused with member_cap_reached; group_info, members and the database agree."""
    nodes = cluster.nodes
    owner = await nodes[1].user()
    gid = await open_group(owner)
    cap = (await owner.request("group_info", group_id=gid))["max_members"]
    assert cap == 16  # [limits] max_members of the shared cluster (conftest.py)
    one_per_node = await members_on(nodes, gid, per_node=1)
    prefill = one_per_node + await members_on(nodes[:2], gid, per_node=1)  # owner + 5: 10 places left
    assert (await owner.request("group_info", group_id=gid))["member_count"] == cap - 10
    joiners = list(await asyncio.gather(*(nodes[k % 3].user() for k in range(50))))
    replies = await asyncio.gather(*(c.call("join_group", group_id=gid) for c in joiners))
    admitted = [c.user_id for c, r in zip(joiners, replies, strict=True) if r["ok"]]
    refused = [r for r in replies if not r["ok"]]
    assert len(admitted) == 10, replies
    assert {r["code"] for r in refused} == {"member_cap_reached"}, refused
    assert all(r["status"] == "joined" for r in replies if r["ok"])
    for viewer in one_per_node:  # the same count whichever node asks
        assert (await viewer.request("group_info", group_id=gid))["member_count"] == cap
    members = (await owner.request("members", group_id=gid))["members"]
    assert len(members) == cap and set(admitted) <= {m["user_id"] for m in members}
    assert not ({c.user_id for c in joiners} - set(admitted)) & {m["user_id"] for m in members}
    [(stored,)] = cluster.db_rows("SELECT COUNT(*) FROM members WHERE group_id = ?", gid)
    assert stored == cap
    for c in [owner, *prefill, *joiners]:
        await c.close()


async def test_sms_code_requested_on_one_node_registers_on_another(cluster: Cluster) -> None:
    """A code asked for through one gateway registers through the other; then it is used up on the home too."""
    n1, n2 = cluster.gateways()
    n3 = cluster.home()
    phone = new_phone()
    asker = await n1.client()
    await asker.request("request_code", phone=phone)
    code = cluster.last_code(phone)
    newcomer = await n2.client("json")
    reply = await newcomer.request("register", username=f"sms{phone}", password="password123",
                                   phone=phone, code=code, display_name="Sms")
    assert reply["ok"]
    again = await n3.client()  # the code is used up, on every node
    late = await again.call("register", username=f"sms2{phone}", password="password123",
                            phone=phone, code=code, display_name="Sms2")
    assert not late["ok"]
    await newcomer.login(f"sms{phone}", "password123")
    assert (await newcomer.request("me"))["phone_verified"] is True
    for c in (asker, newcomer, again):
        await c.close()


async def test_blacklist_from_a_gateway_drops_the_user_everywhere_and_bars_login(cluster: Cluster) -> None:
    """``qunguan admin blacklist`` on one gateway closes the user's connections on the other gateway
    and on the home within 2 s; logging in (or auth with the old token) fails on every node; a
    read-only command on a gateway shows the sanction."""
    home = cluster.home()
    issuer, far = cluster.gateways()
    victim = await far.user()
    on_home = await home.client()
    await on_home.login(victim.username, "password123")  # type: ignore[attr-defined]
    await asyncio.sleep(0.1)
    closed_at: dict[str, float] = {}

    async def watch(name: str, c: object) -> None:
        await c._reader  # type: ignore[attr-defined]  # ends when the server closes the connection
        closed_at[name] = time.monotonic()

    watchers = [asyncio.create_task(watch(n, c)) for n, c in (("gateway", victim), ("home", on_home))]
    started = time.monotonic()
    rc, out, err = await issuer.admin("blacklist", victim.username, "--reason", "cluster test")  # type: ignore[attr-defined]
    done = time.monotonic()
    assert rc == 0, (out, err)
    assert "blacklisted" in out
    await asyncio.wait_for(asyncio.gather(*watchers), 2.0)
    for name, at in closed_at.items():
        assert at - done <= 2.0, f"{name}: dropped {at - done:.2f} s after the command returned"
    print(f"blacklist: command {done - started:.2f} s, connections closed "
          + ", ".join(f"{n} +{at - done:.2f} s" for n, at in closed_at.items()))
    assert victim.ws.close_code == 1008 and on_home.ws.close_code == 1008
    notices = [ev for ev in victim.drain_events() if ev.get("ev") == "notice"]
    assert [n["kind"] for n in notices] == ["blacklisted"]

    for node in cluster.nodes:
        c = await node.client()
        login = await c.call("login", username=victim.username, password="password123")  # type: ignore[attr-defined]
        assert not login["ok"] and login["code"] == "blacklisted", (node.node_id, login)
        auth = await c.call("auth", token=victim.token)
        assert not auth["ok"] and auth["code"] in ("blacklisted", "unauthenticated"), (node.node_id, auth)
        await c.close()

    rc, out, err = await far.admin("sanctions", "--user", victim.username)  # type: ignore[attr-defined]
    assert rc == 0, (out, err)
    assert '"blacklist"' in out and str(victim.user_id) in out, out


async def test_a_new_password_and_a_logout_everywhere_end_the_logins_on_every_node(cluster: Cluster) -> None:
    """The connections a change ends sit on gateways (sessions the home holds for them) as well as on
    the home; the connection that asked, on a gateway, goes on; a token from before opens nothing."""
    home = cluster.home()
    near, far = cluster.gateways()
    asker = await near.user()
    on_home, on_far = await home.client(), await far.client()
    for c in (on_home, on_far):
        await c.login(asker.username, "password123")  # type: ignore[attr-defined]
    stolen = on_far.token
    assert (await asker.call("change_password", password="password123", new_password="cluster-pw-1"))["ok"]
    for c in (on_home, on_far):
        assert await closed_by_server(c) == (1008, "the password was changed")
    assert (await asker.request("me"))["user_id"] == asker.user_id
    for node in cluster.nodes:
        c = await node.client()
        assert (await c.call("auth", token=stolen))["code"] == "unauthenticated", node.node_id
        assert (await c.call("login", username=asker.username, password="password123"))["code"] == \
            "unauthenticated", node.node_id
        await c.close()
    again = await home.client()
    await again.login(asker.username, "cluster-pw-1")  # type: ignore[attr-defined]
    assert (await asker.call("logout", everywhere=True))["ok"]
    assert await closed_by_server(again) == (1008, "logged out on every device")
    assert (await asker.call("me"))["code"] == "unauthenticated"
    await asker.close()


async def test_a_gateway_logs_who_was_on_a_connection_that_logged_out_before_closing(cluster: Cluster) -> None:
    """On a gateway as on the home: a connection that logged in has its connect and disconnect rows,
    naming the user, even when they logged out on it before it closed."""
    gateway = cluster.gateways()[0]
    c = await gateway.user()
    uid = c.user_id
    await c.request("logout")
    await c.close()
    kinds: list[str] = []
    for _ in range(50):
        kinds = [r[0] for r in cluster.db_rows("SELECT kind FROM netlog WHERE user_id = ? ORDER BY id", uid)]
        if "disconnect" in kinds and "logout" in kinds:
            break
        await asyncio.sleep(0.1)
    # The home logs the logout and the gateway logs the connection, each in its own batch:
    # their order in the table is not a contract, only that both rows name the user.
    assert "logout" in kinds, kinds
    assert [k for k in kinds if k in ("connect", "disconnect")] == ["connect", "disconnect"], kinds


async def test_a_gateways_access_log_names_the_user_of_a_closed_connection(cluster: Cluster) -> None:
    """The access line of a connection held by a gateway names the user it was logged in as (the
    home logs the user in; the gateway holds the socket and writes the line)."""
    gateway = cluster.gateways()[0]
    c = await gateway.user()
    uid = (await c.call("me"))["user_id"]
    await c.close()
    deadline = time.monotonic() + 5
    while f"user_id={uid}" not in gateway.log() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    [line] = [ln for ln in gateway.log().splitlines() if "qunguan.access" in ln and f"user_id={uid}" in ln]
    assert "connection closed" in line


async def test_a_platform_notice_from_a_gateway_is_read_later_on_another(cluster: Cluster) -> None:
    """``qunguan admin notice`` on one gateway reaches the category's members connected anywhere, and
    one who was not connected reads it through another gateway with ``platform_notices``."""
    issuer, far = cluster.gateways()
    home = cluster.home()
    online, away = await home.user(), await issuer.user()
    gid = await open_group(online, category="work")
    await away.request("join_group", group_id=gid)
    await away.close()
    rc, out, err = await issuer.admin("notice", "--text", "工作群维护通知", "--category", "work")  # type: ignore[attr-defined]
    assert rc == 0, (out, err)
    live = await online.next_event("notice", timeout=2)
    assert (live["kind"], live["text"], live["category"]) == ("platform", "工作群维护通知", "work")
    back = await far.client()
    await back.login(away.username, "password123")  # type: ignore[attr-defined]
    listed = (await back.request("platform_notices", after=live["at"] - 1))["notices"]
    assert [(n["text"], n["at"]) for n in listed] == [("工作群维护通知", live["at"])]
    for c in (online, back):
        await c.close()
