"""A home killed after committing messages and before their events reached NATS (its last
instants): the clients on the gateways get those messages as ``message`` events once a new home
has taken over, without asking ``history``, in seq order, each once, before any new message of
the group; a message held for review or deleted meanwhile is not among them. The other events of
those instants (here the group's new name) cannot be caught up so: each client is told to read
its state again (``notice {kind: "resync"}``), once.

The home is made to commit without publishing by cutting its own link to NATS (a relay) while
its own client sends: the sends are acknowledged (stored), their events wait in the home's NATS
client, and ``kill -9`` loses them. The new home is one of the two gateways, so both ways a
connection is caught up are used: re-registered from a gateway, and taken over by the node that
becomes the home."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

from client_demo.client import Client
from tests.cluster.harness import Cluster, broker_through_relay
from tests.e2e.harness import open_group

TAKEOVER = 20.0  # seconds from the kill to the owed messages at the clients, at most


async def _after_the_takeover(client: Client, text: str, timeout: float) -> list[dict[str, Any]]:
    """The events of ``client`` until both the ``message`` with ``text`` and a ``resync`` notice came."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout

    def seen() -> tuple[bool, bool]:
        return (any(e.get("ev") == "message" and e["text"] == text for e in got),
                any(e.get("ev") == "notice" and e.get("kind") == "resync" for e in got))

    while not all(seen()):
        try:
            got.append(await client.next_event(timeout=max(0.1, deadline - time.monotonic())))
        except TimeoutError:
            raise AssertionError(f"(message {text!r}, resync notice) came: {seen()}; events: {got}") from None
    return got


async def _messages_until(client: Client, text: str, timeout: float) -> list[dict[str, Any]]:
    """The ``message`` events of ``client`` up to and including the one with ``text``."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        ev = await client.next_event("message", timeout=max(0.1, deadline - time.monotonic()))
        got.append(ev)
        if ev["text"] == text:
            return got


async def test_the_last_messages_of_a_killed_home_reach_the_gateways_clients(tmp_path: Path) -> None:
    words = tmp_path / "review.txt"
    words.write_text("contraband\n", encoding="utf-8")
    c = Cluster(tmp_path, size=3, extra_config=(
        f'\n[[content.lists]]\ncategory = "rumour_fraud"\npath = "{words}"\naction = "review"\n'))
    home_node = c.nodes[0]
    relay = broker_through_relay(home_node)
    try:
        await asyncio.to_thread(c.start)
        assert c.home() is home_node
        gws = c.gateways()
        owner = await home_node.user()
        gid = await open_group(owner)
        members = [await gw.user() for gw in gws]
        for m in members:
            await m.request("join_group", group_id=gid)
        await owner.send(gid, "before")
        for m in members:
            assert (await m.next_event("message"))["text"] == "before"

        relay.cut()  # the home stays on PostgreSQL (it commits) but publishes nothing more
        await asyncio.sleep(0.3)
        first = await owner.send(gid, "lost 1")
        held = await owner.send(gid, "some contraband here")
        assert held.get("held") is True, held
        recalled = await owner.send(gid, "recalled")
        assert (await owner.request("delete_message", group_id=gid, seq=recalled["seq"]))["ok"]
        second = await owner.send(gid, "lost 2", reply_to=first["seq"])
        assert (await owner.request("update_group", group_id=gid, name="renamed"))["ok"]  # (group_updated: lost)
        assert home_node.proc is not None
        home_node.proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(home_node.proc.wait, 10)
        for m in members:
            assert [e for e in m.drain_events() if e.get("ev") == "message"] == [], "the cut did not hold"

        # One member is on a gateway (re-registered), the other on the node that becomes the home.
        owed = await asyncio.gather(*(_after_the_takeover(m, "lost 2", TAKEOVER) for m in members))
        new_home = c.home()
        assert new_home in gws
        for events in owed:
            got = [e for e in events if e.get("ev") == "message"]
            assert [(e["seq"], e["text"]) for e in got] == [(first["seq"], "lost 1"), (second["seq"], "lost 2")], got
            assert got[1]["reply_to"] == first["seq"]  # the event as the normal path makes it
            assert [e.get("ev") for e in events if e.get("ev") != "message"] == ["notice"], events
        for m in members:  # what the resync asks for: the state as it is, the new name included
            assert [g["name"] for g in (await m.request("my_groups"))["groups"] if g["group_id"] == gid] == ["renamed"]

        # A new message comes after them, and nothing comes twice.
        after = await members[0].send(gid, "after")
        for m in members:
            got = await _messages_until(m, "after", 10.0)
            assert [e["seq"] for e in got] == [after["seq"]], got
        await asyncio.sleep(1.0)
        for m in members:
            late = [e for e in m.drain_events() if e.get("ev") in ("message", "message_released", "notice")]
            assert late == [], late
            assert not m.closed
        for m in members:
            await m.close()
    finally:
        await asyncio.to_thread(c.cleanup)
        relay.close()
