"""Nodes without a configured node_id, on port 0: each names itself after the port it listens on."""

from __future__ import annotations

import socket
from collections.abc import Callable

from tests.cluster.harness import Cluster
from tests.e2e.harness import open_group


async def test_default_node_ids_use_the_port_each_node_listens_on(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(size=2, default_ids=True)
    host = socket.gethostname().replace(".", "-")
    assert {n.node_id for n in c.nodes} == {f"{host}-{n.port}" for n in c.nodes}  # two ids, not "host-0" twice
    [gateway] = c.gateways()
    owner, other = await gateway.user(), await c.home().user()
    gid = await open_group(owner)  # a request through the gateway, answered by the home
    await other.request("join_group", group_id=gid)
    sent = await owner.send(gid, "hello")
    assert (await other.next_event("message"))["seq"] == sent["seq"]
    await owner.close()
    await other.close()
