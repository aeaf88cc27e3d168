"""PostgreSQL unreachable under a cluster: never a false ack, then recovery.

Every node reaches PostgreSQL through a TCP relay the test cuts (links aborted, new connections
refused) and restores on the same port, like the single-store test in
tests/server/test_store_postgres.py. Nobody can take the lease while the database is away (the
lease is in it), so the home stays, of an outage shorter or longer than the lease, answering
`internal` to every write meanwhile, and carries on at the same epoch when the database is back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from client_demo.client import Client
from tests import pgtools
from tests.cluster.harness import Cluster, CuttableRelay, full_history, members_on
from tests.e2e.harness import open_group

SHORT_OUTAGE = 1.5  # seconds, under the default lease of 3 s
NOT_STORED = "the message could not be stored; send it again"  # (docs/protocol.md)


@pytest.fixture
def relay() -> Iterator[CuttableRelay]:
    """A relay to the machine's PostgreSQL, set up before the cluster and closed after it."""
    parts = urlsplit(pgtools.ADMIN_URL)
    r = CuttableRelay(parts.hostname or "127.0.0.1", parts.port or 5432)
    r.open()
    yield r
    r.close()


async def send_until_ok(c: Client, gid: str, cmid: str, within: float = 10.0) -> dict[str, Any]:
    """Send (retrying with the same client_msg_id on `internal`) until acknowledged."""
    deadline = time.monotonic() + within
    while True:
        r = await c.call("send", timeout=8.0, group_id=gid, text=cmid, client_msg_id=cmid)
        if r["ok"]:
            return r
        assert r["code"] == "internal", r
        assert time.monotonic() < deadline, f"{cmid} still refused after {within:g} s: {r}"
        await asyncio.sleep(0.1)


async def test_short_database_outage_fails_sends_then_recovers(
        relay: CuttableRelay, make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(pg_host_port=("127.0.0.1", relay.port))
    home = c.home()
    lease = c.lease()
    gw = c.gateways()[0]
    owner = await gw.user()
    gid = await open_group(owner)
    clients = {"home": (await members_on([home], gid))[0], "gateway": (await members_on([gw], gid))[0]}
    acked = {}
    for who, cl in clients.items():
        acked[f"before-{who}"] = (await cl.send(gid, f"before-{who}", client_msg_id=f"before-{who}"))["seq"]

    reopened = relay.cut_for(SHORT_OUTAGE)
    refused: dict[str, list[str]] = {who: [] for who in clients}

    async def while_down(who: str, cl: Client) -> None:
        k = 0
        while not reopened.is_set():
            cmid = f"down-{who}-{k}"
            r = await cl.call("send", timeout=8.0, group_id=gid, text=cmid, client_msg_id=cmid)
            if r["ok"]:  # true only if it was stored after the database came back (checked below)
                assert reopened.is_set(), f"{cmid} acknowledged while the database was unreachable: {r}"
                acked[cmid] = r["seq"]
                return
            assert r["code"] == "internal", r
            refused[who].append(cmid)
            k += 1
            await asyncio.sleep(0.1)

    await asyncio.gather(*(while_down(who, cl) for who, cl in clients.items()))
    back_at = time.monotonic()
    assert all(refused.values()), refused

    # Back: the refused sends, sent again with the same client_msg_id, are stored once each.
    for who, cl in clients.items():
        for cmid in refused[who]:
            acked[cmid] = (await send_until_ok(cl, gid, cmid))["seq"]
    recovered = time.monotonic() - back_at
    print(f"short database outage: {sum(map(len, refused.values()))} sends refused with internal, "
          f"all stored {recovered:.2f} s after the database was back")
    # The home renews every lease/4: within a lease of the database's return it holds it again.
    assert await asyncio.to_thread(c.wait_home, c.lease_seconds) is home, "the home lost its lease in a short outage"
    assert c.lease() == lease
    history = await full_history(owner, gid)
    stored = {m["seq"]: m["text"] for m in history}
    assert {cmid: seq for cmid, seq in acked.items() if stored.get(seq) != cmid} == {}
    assert len(set(stored.values())) == len(stored)
    assert c.db_rows("SELECT seq, text FROM messages WHERE group_id = ? ORDER BY seq", gid) == list(stored.items())
    for cl in [owner, *clients.values()]:
        await cl.close()


async def test_database_outage_longer_than_the_lease_keeps_the_home_and_never_acks(
        relay: CuttableRelay, make_cluster: Callable[..., Cluster]) -> None:
    """An outage longer than the lease: the home keeps heartbeating, so no gateway contests the
    lease (and none could: the lease is in the database); every send meanwhile is answered
    `internal`, never acknowledged. When the database is back the same home renews its lease at
    the same epoch, a refused send retried with its client_msg_id is stored once, and clients on
    the gateways carry on without logging in again."""
    c = make_cluster(pg_host_port=("127.0.0.1", relay.port))
    old = c.home()
    lease_before = c.lease()
    assert lease_before is not None
    gws = c.gateways()
    owner = await gws[0].user()
    gid = await open_group(owner)
    [member] = await members_on([gws[1]], gid)
    first = await owner.send(gid, "before", client_msg_id="before")

    relay.cut()
    refused = 0
    until = time.monotonic() + c.lease_seconds + 2.0
    while time.monotonic() < until:
        r = await member.call("send", timeout=8.0, group_id=gid, text=f"during {refused}",
                              client_msg_id=f"during {refused}")
        assert not r["ok"] and r["code"] == "internal", r
        refused += 1
        await asyncio.sleep(0.2)
    assert old.alive, old.log()

    relay.open()
    back_at = time.monotonic()
    again = await send_until_ok(member, gid, "during 0", within=c.lease_seconds + 10)
    print(f"long database outage: {refused} sends refused, never acknowledged; the same home served "
          f"again {time.monotonic() - back_at:.2f} s after the database was back")
    assert await asyncio.to_thread(c.wait_home, c.lease_seconds) is old  # renewed, at the same epoch
    lease = c.lease()
    assert lease is not None and lease[:2] == lease_before[:2], (lease_before, lease)
    assert all(n.alive for n in c.nodes)
    history = [(m["seq"], m["text"]) for m in await full_history(owner, gid)]
    assert history == [(first["seq"], "before"), (again["seq"], "during 0")]
    for cl in (owner, member):
        await cl.close()


async def _a_group_on_two_nodes(relay: CuttableRelay, make_cluster: Callable[..., Cluster],
                                ) -> tuple[Any, Client, str, dict[str, Client]]:
    """A home and a gateway reaching PostgreSQL through ``relay``; a group whose owner is on the home
    and a member on the gateway (``clients``), with one message stored ("before")."""
    c = make_cluster(pg_host_port=("127.0.0.1", relay.port), size=2)
    home, [gw] = c.home(), c.gateways()
    owner = await home.user()
    gid = await open_group(owner)
    clients = {"home": owner, "gateway": (await members_on([gw], gid))[0]}
    await owner.send(gid, "before", client_msg_id="before")
    return home, owner, gid, clients


async def test_a_send_retried_during_an_outage_is_told_to_send_it_again_without_a_traceback(
        relay: CuttableRelay, make_cluster: Callable[..., Cluster]) -> None:
    """A send that failed in an outage keeps its seq as a lead, so its retry reads the database to
    see whether it was stored after all. That read failed too, and was answered "internal server
    error" with an ERROR and a traceback in the home's log, per retry. Now each retry is answered as
    the first attempt was, `internal` "could not be stored; send it again", and the home logs one
    warning without a traceback (then at most one every 30 s); back, the send is stored once."""
    home, owner, gid, clients = await _a_group_on_two_nodes(relay, make_cluster)

    reopened = relay.cut_for(3.0)
    answers: dict[str, list[dict[str, Any]]] = {who: [] for who in clients}

    async def retrying(who: str, cl: Client) -> None:
        while not reopened.is_set():
            # The text is the client_msg_id, as in send_until_ok below: an attempt made just before
            # the database came back may be the one stored.
            r = await cl.call("send", timeout=8.0, group_id=gid, text=f"same-{who}",
                              client_msg_id=f"same-{who}")
            if r["ok"]:
                assert reopened.is_set(), f"acknowledged while the database was unreachable: {r}"
                return
            answers[who].append(r)
            await asyncio.sleep(0.1)

    await asyncio.gather(*(retrying(who, cl) for who, cl in clients.items()))
    for who, got in answers.items():
        assert len(got) >= 3, (who, got)  # the first attempt and retries
        assert {(r["code"], r["reason"]) for r in got} == {("internal", NOT_STORED)}, (who, got)
    for who, cl in clients.items():
        await send_until_ok(cl, gid, f"same-{who}")
    texts = [m["text"] for m in await full_history(owner, gid)]
    assert sorted(texts) == ["before", "same-gateway", "same-home"], texts
    log = home.log()
    assert "internal error handling a request" not in log, log
    assert log.count("a send could not read the database") == 1, log
    for cl in clients.values():
        await cl.close()


async def test_a_read_in_an_outage_is_answered_internal_with_a_reason_and_no_traceback(
        relay: CuttableRelay, make_cluster: Callable[..., Cluster]) -> None:
    """Reads other than a send's (here `history`, read from the database every time) failed in an
    outage as a fault of the server: "internal server error", and an ERROR with a traceback in the
    home's log per request. Now they are told the database could not be reached, and the home logs
    one warning without a traceback (then at most one every 30 s); back, the same read answers."""
    home, owner, gid, clients = await _a_group_on_two_nodes(relay, make_cluster)

    reopened = relay.cut_for(3.0)
    answers: list[dict[str, Any]] = []
    while not reopened.is_set():
        for cl in clients.values():
            r = await cl.call("history", timeout=8.0, group_id=gid)
            if not reopened.is_set():
                answers.append(r)
        await asyncio.sleep(0.1)
    assert len(answers) >= 4, answers
    unreadable = "the database could not be reached; try again shortly"
    assert all(r == {**r, "ok": False, "code": "internal", "reason": unreadable} for r in answers
               if not r["ok"]), answers
    assert sum(not r["ok"] for r in answers) >= 2, answers
    for cl in clients.values():
        deadline = time.monotonic() + 10
        while not (r := await cl.call("history", timeout=8.0, group_id=gid))["ok"]:
            assert time.monotonic() < deadline, r
            await asyncio.sleep(0.1)
        assert [m["text"] for m in r["messages"]] == ["before"]
    log = home.log()
    assert "internal error handling a request" not in log, log
    assert log.count("a request (history) could not reach the database") == 1, log
    for cl in clients.values():
        await cl.close()
