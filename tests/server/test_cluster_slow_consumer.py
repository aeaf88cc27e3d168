"""NATS drops messages a node does not take in time (a slow consumer: the client's pending limits,
or the server cutting a slow client) and says so only through the error callback. What was
dropped may be a close, a goodbye, an answer: the node reacts as after a cut from NATS (see
tests/cluster/test_lost_close.py and test_home_cut_off.py), so the gateways register again.

A node built in this process and not started (nothing connects); the error is the one nats-py
hands to the callback."""

from __future__ import annotations

import asyncio

from nats.errors import SlowConsumerError

from server.app import App
from server.cluster import wire
from server.cluster.gateway import Gateway
from server.cluster.home import Home
from server.config import parse_config


def _node(tmp_path, node_id: str) -> App:  # type: ignore[no-untyped-def]
    return App(parse_config({
        "server": {"port": 0},
        "identity": {"sms_provider": "file", "argon2_time_cost": 1, "argon2_memory_kib": 1024},
        "storage": {"url": "postgresql://postgres@127.0.0.1:5432/unused"},
        "cluster": {"broker_url": "nats://127.0.0.1:4222", "node_id": node_id, "name": "t"},
    }, tmp_path))


async def test_messages_dropped_at_a_gateway_make_it_register_its_connections_again(tmp_path) -> None:
    app = _node(tmp_path, "n2")
    node = app.cluster
    assert node is not None
    published: list[bytes] = []
    gw = node.gateway = Gateway(app, "n2", "i2", node.subjects, lambda _s, data: published.append(data), 1 << 20)
    gw.on_heartbeat("n1", 1)
    await asyncio.sleep(0)
    published.clear()

    await node._error(SlowConsumerError(node.subjects.node("n2"), "", 1, None))  # type: ignore[arg-type]
    await node._error(SlowConsumerError(node.subjects.node("n2"), "", 1, None))  # type: ignore[arg-type]
    gw.check()
    gw.check()
    await asyncio.sleep(0)
    items = [it for m in published for it in list(wire.unpack_stream(m))[1:] if it[0] != wire.STAMP]
    assert items == [[wire.LIVE, [], []]], items  # registered again, once


async def test_messages_dropped_at_the_home_make_the_gateways_register_again(tmp_path) -> None:
    app = _node(tmp_path, "n1")
    node = app.cluster
    assert node is not None
    node.is_home = True
    node.home = Home(app, lambda _s, _d: None, node.subjects, 1, 1 << 20)
    before = list(wire.unpack_stream(node.home.heartbeat("n1")))
    await node._error(SlowConsumerError(node.subjects.home_in, "", 1, None))  # type: ignore[arg-type]
    after = list(wire.unpack_stream(node.home.heartbeat("n1")))
    # (after[0] alone: what a gateway of the previous version reads, during a rolling restart)
    assert after[0] == before[0] == ["n1", 1] and after[1] > before[1], (before, after)
