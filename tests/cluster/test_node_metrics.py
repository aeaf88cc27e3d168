"""Each node's metrics count its own connections (docs/scale-out.md: "its own connections, loop and store")."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.cluster.harness import Cluster, free_port, members_on, message_events
from tests.e2e import ops_helpers as ops
from tests.e2e.harness import open_group


def connections(node) -> tuple[float, float]:
    """(pre_auth, authenticated) of ``qunguan_connections`` on ``node``."""
    values = ops.scrape(ops.metrics_url(node))
    return (values['qunguan_connections{state="pre_auth"}'], values['qunguan_connections{state="authenticated"}'])


async def until(node, expected: tuple[float, float], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (seen := await asyncio.to_thread(connections, node)) != expected:
        assert time.monotonic() < deadline, f"{node.node_id}: (pre_auth, authenticated) = {seen}, not {expected}"
        await asyncio.sleep(0.05)


async def refused(node) -> int | None:
    """The close code of a new connection to ``node`` closed at once (None: it was kept open)."""
    async with connect(node.url) as ws:
        try:
            await asyncio.wait_for(ws.recv(), 2)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None
        except TimeoutError:
            return None
    return None


async def test_connection_gauges_count_the_connections_each_node_holds(tmp_path: Path) -> None:
    """A login through a gateway made the home count a connection it does not hold as authenticated
    and its pre_auth gauge negative (-1 per such login), while the gateway went on counting the logged-in
    connection as pre_auth. Now the node holding the socket counts it, in the state it is in, also
    after that node becomes the home. The cap on connections not logged in per address follows the
    same count, on each node for the sockets it holds."""
    c = Cluster(tmp_path, size=2)
    for node in c.nodes:
        text = node.config.read_text().replace(  # (127.0.0.1 held to the cap: the tests' clients come from it)
            "unauthenticated_connections_per_ip = 0\n",
            "unauthenticated_connections_per_ip = 1\nspare_loopback = false\n")
        node.config.write_text(text + f"\n[metrics]\nport = {free_port()}\n", encoding="utf-8")
    try:
        c.start()
        home, [gateway] = c.home(), c.gateways()
        await until(home, (0, 0))
        user = await gateway.user()  # registered and logged in through the gateway
        await until(gateway, (0, 1))
        await until(home, (0, 0))  # none of them is the home's
        client = await gateway.client()
        await until(gateway, (1, 1))
        assert await refused(gateway) == 1013  # the address's one place on the gateway is taken
        on_home = await home.client()  # each node counts the sockets it holds
        await until(home, (1, 0))
        await on_home.close()
        await client.close()
        await until(gateway, (0, 1))
        assert (await user.call("logout"))["ok"]  # counted as not logged in again
        await until(gateway, (1, 0))
        assert await refused(gateway) == 1013
        await user.login(user.username, "password123")
        await until(gateway, (0, 1))

        await asyncio.to_thread(home.kill9)  # the gateway becomes the home and attaches its own connection
        assert c.wait_home(timeout=20, not_=home) is gateway
        assert (await user.request("me"))["username"] == user.username
        await until(gateway, (0, 1))
        assert await refused(gateway) is None  # the logged-in one does not count
        client = await gateway.client()
        await until(gateway, (1, 1))
        assert await refused(gateway) == 1013
        await client.close()
        await user.close()
        await until(gateway, (0, 0))
    finally:
        c.cleanup()


def counted(node) -> tuple[float, float, float]:
    """(deliveries, message events, reaction events) counted by ``node``."""
    values = ops.scrape(ops.metrics_url(node))
    return (values.get("qunguan_deliveries_total", 0.0), values.get('qunguan_events_total{event="message"}', 0.0),
            values.get('qunguan_events_total{event="reaction"}', 0.0))


async def counted_by(nodes, expected: list[tuple[float, float, float]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (seen := [await asyncio.to_thread(counted, n) for n in nodes]) != expected:
        assert time.monotonic() < deadline, f"(deliveries, message, reaction) per node = {seen}, not {expected}"
        await asyncio.sleep(0.05)


async def test_each_node_counts_the_events_it_writes_to_its_own_connections(tmp_path: Path) -> None:
    """With the home on one node and members on the others, the home counted every delivery of the
    group (the gateways' connections too) and the gateways none. Now each node counts the events it
    writes to the connections it holds: the home its own, a gateway what it writes from the home's
    EVENT items, message events as deliveries and other events by name."""
    c = Cluster(tmp_path, size=3)
    for node in c.nodes:
        node.config.write_text(node.config.read_text() + f"\n[metrics]\nport = {free_port()}\n", encoding="utf-8")
    try:
        c.start()
        home, gateways = c.home(), c.gateways()
        on_home = await home.user()
        gid = await open_group(on_home)
        members = await members_on(gateways, gid, encodings=("msgpack", "json"))
        nodes = [home, *gateways]
        before = [await asyncio.to_thread(counted, n) for n in nodes]

        sender = members[0]
        for i in range(5):
            await sender.send(gid, f"hello {i}")
        for client in (on_home, *members):
            await message_events(client, gid, 5)
        seq = (await sender.send(gid, "react to me"))["seq"]
        for client in (on_home, *members):
            await message_events(client, gid, 1)
        await on_home.request("react", group_id=gid, seq=seq, emoji="👍", on=True)
        for client in (on_home, *members):
            await client.next_event("reaction")

        # Six messages and one reaction to each node's one member: 6 deliveries, 6 message events, 1 reaction.
        await counted_by(nodes, [(d + 6, m + 6, r + 1) for d, m, r in before])
    finally:
        c.cleanup()
