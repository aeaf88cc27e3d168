"""What a gateway's re-registration (``OPEN`` again, ``REATTACH``) tells a home about connections
it did not hear open (docs/scale-out.md, "Service-wide behaviour"):

- a connection whose frame reached the home before its OPEN (lost in a long NATS cut) gets its
  client address from the re-registration: the network log and the per-address limits use it;
- a connection that opened while there was no home (a failover) is counted in the service-wide
  connections per address when the next home hears of it, and judged then;
- every other connection that exists after a takeover (one the previous home counted, or one
  whose OPEN died with it) is counted once by the next home, as of when it opened, at its
  address (when that is not known yet, once it is).

A real home (the ``app`` fixture, SQLite) and gateways built in this process (see
test_cluster_reused_rid.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nats.aio.msg import Msg

from governance.ratelimit import WindowCounter
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

    # The next home (another process) does not know what this one counted: it counts each
    # connection re-registered with it once, as of its opening, and judges the next ones with them.
    gw.closed(second)  # type: ignore[arg-type]  # (its socket closes, as the home said)
    third = Client()
    third.ip = "10.0.0.3"
    gw.opened(third)  # type: ignore[arg-type]
    await settle()
    await homes[0].close()
    app.connections_per_ip = WindowCounter(2, 60.0)  # (the next home's own window, empty)
    homes.append(Home(app, lambda _s, data: deliver(gw.on_message, data), wire.Subjects("t"), 3, 1 << 20))
    gw.on_heartbeat("n3", 3)
    await settle()
    assert not third.closing and not first.closing
    fourth, fifth = Client(), Client()
    fourth.ip = fifth.ip = "10.0.0.3"
    gw.opened(fourth)  # type: ignore[arg-type]
    gw.opened(fifth)  # type: ignore[arg-type]
    await settle()
    assert [fourth.closing, fifth.closing] == [False, True], "the next home did not count the connections it was given"
    await homes[1].close()


async def test_a_connection_opened_just_before_the_home_died_is_counted_once_by_the_next(app: App, tmp_path) -> None:
    """The gateway heard the home when the connection opened and sent its OPEN, but the home died
    before reading it (or the OPEN was lost in the takeover): the gateway takes it for counted and
    registers it again with the next home as such. The next home counts it all the same, once, at
    the time it opened: a re-registration's LIVE says how long ago each connection opened."""
    app.connections_per_ip.limit = 3
    gw_app = App(parse_config({
        "server": {"port": 0},
        "identity": {"sms_provider": "file", "argon2_time_cost": 1, "argon2_memory_kib": 1024},
        "storage": {"url": "postgresql://postgres@127.0.0.1:5432/unused"},
        "cluster": {"broker_url": "nats://127.0.0.1:4222", "node_id": "n2", "name": "t"},
    }, tmp_path / "gw"))
    tasks: set[asyncio.Task[Any]] = set()

    def deliver(to: Any, data: bytes) -> None:
        task = asyncio.get_running_loop().create_task(to(Msg(None, subject="t", data=data)))  # type: ignore[arg-type]
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    homes: list[Home] = []  # none yet: the home of epoch 2 is dead, what is sent to it is lost
    gw = Gateway(gw_app, "n2", "i2", wire.Subjects("t"),
                 lambda _s, data: deliver(homes[-1].on_message, data) if homes else None, 1 << 20)
    gw.on_heartbeat("n1", 2)  # the gateway still hears the home of epoch 2...
    first, logged_in = Client(), Client()
    gw.opened(first)  # type: ignore[arg-type]  # ...and sends these OPENs to it, which it never reads
    gw.opened(logged_in)  # type: ignore[arg-type]
    conn = gw.by_session[logged_in]  # type: ignore[index]
    conn.user_id, conn.token_hash = "u1", b"h" * 32  # (re-registered as logged in: REATTACH)
    await settle()
    homes.append(Home(app, lambda _s, data: deliver(gw.on_message, data), wire.Subjects("t"), 3, 1 << 20))
    gw.on_heartbeat("n3", 3)  # the next home: the gateway registers its connections with it
    await settle()
    gw.reconnected()  # registered again with the same home (a NATS cut): nothing is counted twice
    await settle()
    homes[-1]._drop_link(homes[-1].links["i2"])  # (the home let go of the gateway: silent too long)
    gw.reconnected()  # nor when it registers them again on a new link
    await settle()
    assert set(homes[-1].links["i2"].sessions) == {1, 2}
    second, third = Client(), Client()
    gw.opened(second)  # type: ignore[arg-type]  # the third connection of the address this minute
    await settle()
    assert not second.closing, "a connection re-registered twice was counted twice"
    gw.opened(third)  # type: ignore[arg-type]  # the fourth
    await settle()
    assert third.closing, "connections opened just before the home died were not counted by the next home"
    await homes[-1].close()


async def test_a_connection_counted_before_its_address_was_known_is_counted_at_that_address(app: App) -> None:
    """A frame made the session (its OPEN was lost), then a LIVE counted it while its address was
    unknown: once its OPEN (or REATTACH) says the address, the count is there, once, and never
    under "" (where it would count against no real address and be lost to the one it came from)."""
    app.connections_per_ip = WindowCounter(5, 60.0)
    home = Home(app, lambda _s, _d: None, wire.Subjects("t"), 2, 1 << 20)

    async def send(*items: list[Any]) -> None:
        data = _head(2) + b"".join(wire.pack(item) for item in items)
        await home.on_message(Msg(None, subject="t.home.in", data=data))  # type: ignore[arg-type]

    def counted(ip: str) -> int:
        return len(app.connections_per_ip._logs.get(ip, ()))

    for conn in (7, 8):  # no OPEN before them
        await send([wire.REQ, conn, json.dumps({"op": "my_groups", "rid": 1}), 1, 1])
    await send([wire.LIVE, [7, 8], [5.0, 3.0]])
    assert counted("") == 0
    await send([wire.OPEN, 7, "10.0.0.9", wire.ENC_JSON, True, 40007])
    await send([wire.REATTACH, 8, "10.0.0.8", wire.ENC_JSON, "u1", b"h" * 32, 40008])
    assert (counted("10.0.0.9"), counted("10.0.0.8"), counted("")) == (1, 1, 0)
    # named again (a re-registration, a late OPEN of its own, the next LIVE): counted no more
    await send([wire.OPEN, 7, "10.0.0.9", wire.ENC_JSON, True, 40007],
               [wire.OPEN, 7, "10.0.0.9", wire.ENC_JSON, False, 40007], [wire.LIVE, [7, 8], [6.0, 4.0]])
    assert (counted("10.0.0.9"), counted("10.0.0.8"), counted("")) == (1, 1, 0)
    await settle()
    await home.close()


async def test_a_connection_counted_before_its_address_was_known_is_counted_there_on_a_link_made_again(
        app: App) -> None:
    """As above, but the home let go of the gateway's link (silent too long) between the LIVE and the
    OPEN: the OPEN makes a new session on a new link, and still counts the connection at its address."""
    app.connections_per_ip = WindowCounter(5, 60.0)
    home = Home(app, lambda _s, _d: None, wire.Subjects("t"), 2, 1 << 20)

    async def send(*items: list[Any]) -> None:
        data = _head(2) + b"".join(wire.pack(item) for item in items)
        await home.on_message(Msg(None, subject="t.home.in", data=data))  # type: ignore[arg-type]

    await send([wire.REQ, 7, json.dumps({"op": "my_groups", "rid": 1}), 1, 1])  # no OPEN before it
    await send([wire.LIVE, [7], [5.0]])
    [link] = home.links.values()
    link.last_heard = 0.0
    home.sweep(1.0)  # let go of it
    assert not home.links
    await send([wire.OPEN, 7, "10.0.0.9", wire.ENC_JSON, True, 40007])
    assert len(app.connections_per_ip._logs.get("10.0.0.9", ())) == 1
    await settle()
    await home.close()
