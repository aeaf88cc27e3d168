"""What a gateway's re-registration (``OPEN`` again, ``REATTACH``) tells a home about connections
it did not hear open (docs/scale-out.md, "Service-wide behaviour"):

- a connection whose frame reached the home before its OPEN (lost in a long NATS cut) gets its
  client address from the re-registration: the network log and the per-address limits use it;
- a connection that opened while there was no home (a failover) is counted in the service-wide
  connections per address when the next home hears of it.

A real home (the ``app`` fixture, SQLite) and gateways built in this process (see
test_cluster_reused_rid.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nats.aio.msg import Msg

from server.app import App
from server.cluster import wire
from server.cluster.gateway import Gateway
from server.cluster.home import Home
from server.config import parse_config
from tests.server.test_cluster_reused_rid import Client, settle


def _head(epoch: int) -> bytes:
    return wire.pack(["n2", "i2"]) + wire.pack([wire.STAMP, epoch])


async def test_a_connection_whose_open_was_lost_gets_its_address_when_registered_again(app: App) -> None:
    home = Home(app, lambda _s, _d: None, wire.Subjects("t"), 2, 1 << 20)
    frame = _head(2) + wire.pack([wire.REQ, 7, json.dumps({"op": "my_groups", "rid": 1}), 1, 1])
    await home.on_message(Msg(None, subject="t.home.in", data=frame))  # type: ignore[arg-type]  # no OPEN before it
    rs = home.links["i2"].sessions[7]
    assert rs.ip == ""
    again = _head(2) + wire.pack([wire.OPEN, 7, "10.0.0.9", wire.ENC_JSON, True, 40007]) \
        + wire.pack([wire.REQ, 7, json.dumps({"op": "request_code", "rid": 2, "phone": "13912345671"}), 2, 2])
    await home.on_message(Msg(None, subject="t.home.in", data=again))  # type: ignore[arg-type]
    assert (rs.ip, rs.remote_port()) == ("10.0.0.9", 40007)
    for _ in range(100):
        rows = await app.store._fetchall("SELECT ip FROM netlog WHERE kind = 'code_request'", ())  # type: ignore[attr-defined]
        if rows:
            break
        await asyncio.sleep(0.02)
    assert [r[0] for r in rows] == ["10.0.0.9"], rows

    # The same through a re-registration of a logged-in connection (REATTACH).
    frame = _head(2) + wire.pack([wire.REQ, 8, json.dumps({"op": "my_groups", "rid": 1}), 1, 1])
    await home.on_message(Msg(None, subject="t.home.in", data=frame))  # type: ignore[arg-type]
    reattach = _head(2) + wire.pack([wire.REATTACH, 8, "10.0.0.8", wire.ENC_JSON, "u1", b"h" * 32, 40008])
    await home.on_message(Msg(None, subject="t.home.in", data=reattach))  # type: ignore[arg-type]
    assert home.links["i2"].sessions[8].ip == "10.0.0.8"
    await settle()
    await home.close()


async def test_connections_opened_during_a_failover_count_against_the_address_limit(app: App, tmp_path) -> None:
    app.connections_per_ip.limit = 1
    gw_app = App(parse_config({
        "server": {"port": 0},
        "identity": {"sms_provider": "file", "argon2_time_cost": 1, "argon2_memory_kib": 1024},
        "storage": {"url": "postgresql://postgres@127.0.0.1:5432/unused"},
        "cluster": {"broker_url": "nats://127.0.0.1:4222", "node_id": "n2", "name": "t"},
    }, tmp_path / "gw"))
    tasks: set[asyncio.Task[Any]] = set()
    home_there = [False]

    def deliver(to: Any, data: bytes) -> None:
        task = asyncio.get_running_loop().create_task(to(Msg(None, subject="t", data=data)))  # type: ignore[arg-type]
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    homes = [Home(app, lambda _s, data: deliver(gw.on_message, data), wire.Subjects("t"), 2, 1 << 20)]
    gw = Gateway(gw_app, "n2", "i2", wire.Subjects("t"),
                 lambda _s, data: deliver(homes[-1].on_message, data) if home_there[0] else None, 1 << 20)
    first, second = Client(), Client()
    gw.opened(first)  # type: ignore[arg-type]  # no home heard: these OPENs reach nobody
    gw.opened(second)  # type: ignore[arg-type]
    await settle()
    home_there[0] = True
    gw.on_heartbeat("n1", 2)  # the new home: the gateway registers its connections with it
    await settle()
    assert [first.closing, second.closing] == [False, True], \
        "two connections from one address, over the limit of one a minute, were not counted"

    # Connections that a home counted when they opened are not counted again by the next one.
    app.connections_per_ip.limit = 2
    third = Client()
    third.ip = "10.0.0.3"
    gw.opened(third)  # type: ignore[arg-type]
    await settle()
    await homes[0].close()
    homes.append(Home(app, lambda _s, data: deliver(gw.on_message, data), wire.Subjects("t"), 3, 1 << 20))
    gw.on_heartbeat("n3", 3)  # (this home's window is the same object: what it counted stays counted)
    await settle()
    assert not third.closing and not first.closing
    await homes[1].close()
