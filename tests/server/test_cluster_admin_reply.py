"""An operator command typed on a gateway runs on the home, which answers over NATS request-reply:
an answer over the broker's payload limit cannot be sent, and the gateway would wait two minutes
and then say the home did not answer, though the command ran. The home says so plainly instead.

The home's side (server/cluster/home.py) runs on a real server in this process, on the machine's
NATS, with its limit lowered so that a `ping` result is over it (as a long `reports` list is over
the real one)."""

from __future__ import annotations

import json
import secrets

import pytest

from server.app import App
from server.cluster import wire
from server.cluster.home import Home
from tests.cluster.harness import BROKER, nats_unavailable

pytestmark = pytest.mark.skipif(nats_unavailable() is not None, reason=str(nats_unavailable()))


async def test_an_operator_result_over_the_broker_limit_is_answered_plainly(app: App) -> None:
    import nats

    nc = await nats.connect(BROKER)
    try:
        subjects = wire.Subjects("t" + secrets.token_hex(4))
        home = Home(app, lambda _subject, _data: None, subjects, 1, 1 << 16, max_reply=60)
        await nc.subscribe(subjects.admin, cb=home.on_admin)
        asked = wire.pack(["alice", "admin", 0, False, json.dumps({"cmd": "ping"}).encode()])
        reply = next(wire.unpack_stream((await nc.request(subjects.admin, asked, timeout=5)).data))
        assert reply["ok"] is False, reply
        assert "the command ran on the home node" in reply["error"] and "over the broker's message limit" in reply[
            "error"], reply

        home.max_reply = 1 << 20  # under the limit: the result itself
        reply = next(wire.unpack_stream((await nc.request(subjects.admin, asked, timeout=5)).data))
        assert reply["ok"] is True and json.loads(reply["lines"][0])["operator"] == "alice", reply
    finally:
        await nc.close()


async def test_a_long_command_typed_on_one_gateway_does_not_hold_up_another(app: App, monkeypatch) -> None:
    """The home's NATS client hands a subscription its messages one at a time: a command that takes
    a minute (an export, a key rotation) must not keep a `ping` or a `blacklist` typed meanwhile,
    on any node, waiting behind it (on the home's own socket they run side by side)."""
    import asyncio

    import nats

    from server.operator.channel import COMMANDS, Result

    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(_app: object, _args: object) -> Result:
        started.set()
        await release.wait()
        return Result(["done"])

    monkeypatch.setitem(COMMANDS, "slow", slow)
    nc = await nats.connect(BROKER)
    try:
        subjects = wire.Subjects("t" + secrets.token_hex(4))
        home = Home(app, lambda _subject, _data: None, subjects, 1, 1 << 16)
        await nc.subscribe(subjects.admin, cb=home.on_admin)
        long = asyncio.create_task(nc.request(subjects.admin, wire.pack(
            ["alice", "admin", 0, False, json.dumps({"cmd": "slow"}).encode()]), timeout=10))
        await asyncio.wait_for(started.wait(), 5)
        asked = wire.pack(["bob", "admin", 0, False, json.dumps({"cmd": "ping"}).encode()])
        try:
            reply = next(wire.unpack_stream((await nc.request(subjects.admin, asked, timeout=3)).data))
        except nats.errors.TimeoutError:
            raise AssertionError("a ping waited behind a long command typed before it") from None
        assert reply["ok"] is True and json.loads(reply["lines"][0])["operator"] == "bob", reply
        release.set()
        first = next(wire.unpack_stream((await long).data))
        assert first == {"ok": True, "lines": ["done"], "exit": 0}, first
        await home.close()
    finally:
        release.set()
        await nc.close()


async def test_a_command_that_comes_while_the_home_stops_is_answered_at_once(app: App) -> None:
    """A stopping home starts no command (as no request), and says so: before, it answered nothing,
    and the gateway's operator waited two minutes for "the home node did not answer", unsure
    whether the command had run."""
    import nats

    nc = await nats.connect(BROKER)
    try:
        subjects = wire.Subjects("t" + secrets.token_hex(4))
        home = Home(app, lambda _subject, _data: None, subjects, 1, 1 << 16)
        await nc.subscribe(subjects.admin, cb=home.on_admin)
        await home.close()
        asked = wire.pack(["alice", "admin", 0, False, json.dumps({"cmd": "ping"}).encode()])
        reply = next(wire.unpack_stream((await nc.request(subjects.admin, asked, timeout=3)).data))
        assert reply == {"ok": False, "error": "the home node is stopping; the command did not run: try again in a "
                                               "few seconds"}, reply
    finally:
        await nc.close()
