"""Two running nodes with the same ``cluster.node_id`` (a copied config): the home would take each
for a restart of the other at its every message, drop the other's connections, and the clients
of both would be closed with 1013 over and over. A node refuses to start beside a running one
with its id; two that started at once are caught by the home, which refuses the newer one: the
later start stamp (the database's clock, in every message; instance ids break a tie), so that a
home that took over refuses the same one as the home before it, in whatever order it hears them.

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


def _stamped(instance: str, epoch: int, started: int, *items: list) -> Msg:
    """A message of the instance started at ``started`` (its STAMP says so, see wire.STAMP)."""
    data = wire.pack(["n2", instance]) + wire.pack([wire.STAMP, epoch, started]) + b"".join(wire.pack(i) for i in items)
    return Msg(None, subject="t.home.in", data=data)  # type: ignore[arg-type]


def _stopped(published: list[tuple[str, bytes]]) -> list[str]:
    """The instances told to stop, in order."""
    out = []
    for subject, data in published:
        msg = list(wire.unpack_stream(data))
        if subject == "t.node.n2" and any(it[0] == wire.STOP for it in msg[1:]):
            out.append(msg[0][1])
    return out


@pytest.mark.parametrize("older, newer", [
    (("b", 1_000), ("a", 2_000)),  # started one after the other: the start decides, whatever the instance ids
    (("a", 1_000), ("b", 1_000)),  # in the same clock tick: the instance ids decide, the same way on every home
])
async def test_after_a_failover_the_new_home_stops_the_same_twin(app: App, caplog, older, newer) -> None:
    """Twins started at once, the home died before its STOP reached the newer one (or that one
    ignored it, a node of the previous version): the next home hears them in any order, here the
    newer first. Which one is newer is what they say of their start, not the order a home heard
    them in, so every home stops the same one."""
    old, new = older[0], newer[0]
    first: list[tuple[str, bytes]] = []
    home = Home(app, lambda subject, data: first.append((subject, data)), wire.Subjects("t"), 2, 1 << 20)
    for instance, started in (older, newer, older, newer):  # heard in the order they started
        await home.on_message(_stamped(instance, 2, started, [wire.ALIVE]))
    assert _stopped(first) == [new] and list(home.links) == [old]
    await home.close()

    nxt: list[tuple[str, bytes]] = []
    home = Home(app, lambda subject, data: nxt.append((subject, data)), wire.Subjects("t"), 3, 1 << 20)
    for instance, started in (newer, older, newer, older):  # the newer one talks first to the next home
        await home.on_message(_stamped(instance, 3, started, [wire.ALIVE]))
    assert _stopped(nxt) == [new], "the next home stopped the older twin and kept the newer one"
    assert list(home.links) == [old]
    await home.close()


async def test_twins_started_in_one_tick_are_told_apart_by_what_their_gateways_send(app: App, tmp_path) -> None:
    """The same with the messages real gateways publish: each stamps its start (the same tick
    here), and two homes that hear them in opposite orders stop the same one."""
    sent: dict[str, list[bytes]] = {"a": [], "b": []}
    gws = {i: Gateway(_node(tmp_path / i, "n2", "t"), "n2", i, wire.Subjects("t"),
                      lambda _s, data, i=i: sent[i].append(data), 1 << 20, started=1_700_000_000_000_000)
           for i in ("a", "b")}
    stopped: list[list[str]] = []
    for epoch, order in ((2, "abab"), (3, "baba")):
        published: list[tuple[str, bytes]] = []
        home = Home(app, lambda subject, data, out=published: out.append((subject, data)), wire.Subjects("t"),
                    epoch, 1 << 20)
        for gw in gws.values():
            gw.on_heartbeat("n1", epoch)  # (each registers its connections: none)
        await asyncio.sleep(0)
        for i in order:
            gws[i].alive()
            await asyncio.sleep(0)
            for data in sent[i]:
                await home.on_message(Msg(None, subject="t.home.in", data=data))  # type: ignore[arg-type]
            sent[i].clear()
        stopped.append(_stopped(published))
        await home.close()
    assert stopped == [["b"], ["b"]], stopped


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


def _home_of(app: App, published: list[tuple[str, bytes]], started: int) -> Home:
    """The home of node n2 (instance "h", started at ``started``), as node.promote makes it."""
    return Home(app, lambda subject, data: published.append((subject, data)), wire.Subjects("t"), 2, 1 << 20,
                me=("n2", "h", started))


async def test_the_home_stops_a_newer_gateway_that_has_its_own_node_id(app: App, caplog) -> None:
    """The twin of the home itself: its link replaces none (the home has no link for itself), so
    only the home's own node id tells it apart. The gateway started later: it is told to stop, and
    nothing it sends is run."""
    published: list[tuple[str, bytes]] = []
    home = _home_of(app, published, started=1_000)
    stopped_home: list[str] = []
    home.on_twin = stopped_home.append
    caplog.set_level(logging.ERROR, "qunguan.cluster")
    await home.on_message(_stamped("a", 2, 2_000, [wire.OPEN, 1, "10.0.0.1", wire.ENC_JSON, False, 1]))
    await home.on_message(_stamped("a", 2, 2_000, [wire.REQ, 1, '{"op":"ping","rid":1}', 1, 1]))
    assert home.links == {} and not app.sessions, "the home serves a gateway that has its own node id"
    assert _stopped(published) == ["a"] and stopped_home == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "n2" in errors[0] and "a gateway beside this home" in errors[0], errors
    await home.on_message(_stamped("h", 2, 1_000, [wire.ALIVE]))  # (this node's own echo: no twin)
    assert _stopped(published) == ["a"] and stopped_home == []
    await home.close()


@pytest.mark.parametrize("twin", [("z", 1_000), ("a", 2_000)])  # started before it; in the same tick, a lower id
async def test_a_home_that_is_the_newer_twin_gives_way(app: App, caplog, twin) -> None:
    """The gateway with the home's node id started first: by the same rule, the home is the one
    that goes (once, however often the twin talks); the twin is not told to stop, nor served."""
    published: list[tuple[str, bytes]] = []
    home = _home_of(app, published, started=2_000)
    stopped_home: list[str] = []
    home.on_twin = stopped_home.append
    instance, started = twin
    for _ in range(3):
        await home.on_message(_stamped(instance, 2, started, [wire.ALIVE]))
    assert len(stopped_home) == 1 and "another running node uses the node id n2" in stopped_home[0], stopped_home
    assert _stopped(published) == [] and home.links == {}
    await home.close()


async def test_a_gateway_of_the_previous_version_with_the_homes_id_is_the_newer(app: App) -> None:
    """No start stamp: the home was running first (it holds the lease), so the gateway is newer."""
    published: list[tuple[str, bytes]] = []
    home = _home_of(app, published, started=2_000)
    home.on_twin = lambda why: pytest.fail("the home gave way to a twin that says nothing of its start")
    await home.on_message(_from("a", [wire.ALIVE]))
    assert _stopped(published) == ["a"]
    await home.close()
