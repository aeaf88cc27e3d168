"""Two running nodes with the same ``cluster.node_id`` (a copied config): the home would take each
for a restart of the other at its every message, drop the other's connections, and the clients
of both would be closed with 1013 over and over. A node refuses to start beside a running one
with its id; two that started at once are caught by the home, which refuses the newer one.

The home runs on a real server in this process (the ``app`` fixture); the gateways' messages are
the ones they would publish. The start check uses the real NATS server of the tests."""

from __future__ import annotations

import asyncio
import logging
import secrets

import nats
import pytest
from nats.aio.msg import Msg

from server.app import App
from server.cluster import wire
from server.cluster.gateway import Gateway
from server.cluster.home import Home
from server.cluster.node import NodeIdTaken
from server.config import parse_config


def _from(instance: str, *items: list) -> Msg:
    data = wire.pack(["n2", instance]) + wire.pack([wire.STAMP, 2]) + b"".join(wire.pack(i) for i in items)
    return Msg(None, subject="t.home.in", data=data)  # type: ignore[arg-type]


async def test_the_home_stops_two_gateways_with_one_node_id_replacing_each_other(app: App, caplog) -> None:
    published: list[tuple[str, bytes]] = []
    home = Home(app, lambda subject, data: published.append((subject, data)), wire.Subjects("t"), 2, 1 << 20)
    caplog.set_level(logging.ERROR, "qunguan.cluster")
    await home.on_message(_from("a", [wire.OPEN, 1, "10.0.0.1", wire.ENC_JSON, False, 1]))
    await home.on_message(_from("b", [wire.OPEN, 1, "10.0.0.2", wire.ENC_JSON, False, 2]))  # a restart, so far
    assert list(home.links) == ["b"]
    for _ in range(3):  # both keep talking (ALIVE every second)
        await home.on_message(_from("a", [wire.ALIVE]))
        await home.on_message(_from("b", [wire.ALIVE]))
    assert list(home.links) == ["a"], "the two instances still replace each other's link"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "n2" in errors[0], errors
    stops = [list(wire.unpack_stream(d)) for s, d in published if s == "t.node.n2"]
    stops = [m for m in stops if any(it[0] == wire.STOP for it in m[1:])]
    assert stops and stops[0][0] == [2, "b"] and "n2" in stops[0][1][1], stops
    await home.close()


async def test_a_gateway_told_to_stop_stops_with_the_reason(tmp_path) -> None:
    app = _node(tmp_path, "n2", "t")
    node = app.cluster
    assert node is not None
    gw = node.gateway = Gateway(app, "n2", "i2", node.subjects, lambda _s, _d: None, 1 << 20)
    gw.on_stop = node._refused
    gw.on_heartbeat("n1", 2)
    await gw.on_message(Msg(None, subject="t.node.n2",  # type: ignore[arg-type]
                            data=wire.pack([2, "i2"]) + wire.pack([wire.STOP, "another running node uses n2"])))
    assert node.lost.is_set() and node.exit_status == 2 and node.lost_why == "another running node uses n2"


def _node(tmp_path, node_id: str, name: str) -> App:  # type: ignore[no-untyped-def]
    return App(parse_config({
        "server": {"port": 0},
        "identity": {"sms_provider": "file", "argon2_time_cost": 1, "argon2_memory_kib": 1024},
        "storage": {"url": "postgresql://postgres@127.0.0.1:5432/unused"},
        "cluster": {"broker_url": "nats://127.0.0.1:4222", "node_id": node_id, "name": name},
    }, tmp_path))


async def test_a_node_does_not_start_beside_a_running_one_with_its_id(tmp_path) -> None:
    name = "twins" + secrets.token_hex(4)
    try:
        first_nc = await nats.connect("nats://127.0.0.1:4222", connect_timeout=2)
    except Exception as err:  # pragma: no cover
        pytest.skip(f"no NATS: {err}")
    first = _node(tmp_path / "a", "n2", name).cluster
    second = _node(tmp_path / "b", "n2", name).cluster
    other = _node(tmp_path / "c", "n3", name).cluster
    assert first is not None and second is not None and other is not None
    first.nc = first_nc
    await first.nc.subscribe(first.subjects.node_id("n2"), cb=first._on_node_id)
    second.nc = await nats.connect("nats://127.0.0.1:4222")
    other.nc = await nats.connect("nats://127.0.0.1:4222")
    try:
        await other._check_node_id()  # another id: no answer, it starts
        with pytest.raises(NodeIdTaken, match="another running node uses cluster.node_id 'n2'"):
            await second._check_node_id()
    finally:
        for nc in (first.nc, second.nc, other.nc):
            await nc.close()
    await asyncio.sleep(0)
