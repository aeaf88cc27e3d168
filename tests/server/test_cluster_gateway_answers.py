"""A gateway's own `internal` answers (the home changing, silent, or too slow) are counted like the
others it gives: ``qunguan_ops_total{op="(forwarded)", outcome="internal"}`` (docs/operations.md).

A node built in this process and not started (nothing connects), as in test_cluster_slow_consumer.py."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from nats.aio.msg import Msg

from protocol.codec import Encoding
from server.app import App
from server.cluster import wire
from server.cluster.gateway import Gateway
from server.config import parse_config
from server.metrics import METRICS


class FakeSession:
    """What a gateway asks of a connection: its address, encoding and port; where answers go."""

    def __init__(self) -> None:
        self.ip, self.encoding, self.closing = "127.0.0.1", Encoding.JSON, False
        self.sent: list[Any] = []
        self.armed = 0  # times the auth timer was (re)started
        self.signed_out_since: float | None = None  # (see Session: the time without a login is bounded)
        self.max_frame: int | None = None  # the largest frame the socket takes now (Session.limit_frames)

    def remote_port(self) -> int | None:
        return None

    def send(self, obj: Any, encoding: Encoding | None = None) -> None:
        self.sent.append(obj)

    def arm_timer(self, seconds: float, on_expiry: Any) -> None:
        self.armed += 1

    def cancel_timer(self) -> None:
        pass

    def signed_in(self, max_frame: int) -> None:
        self.signed_out_since = None
        self.max_frame = max_frame

    def limit_frames(self, max_bytes: int) -> None:
        self.max_frame = max_bytes


def gateway_app(tmp_path: Path) -> App:
    """A cluster node's app, built and not started (nothing connects); frames before a login held to
    64 KiB (server.max_frame_bytes_before_login)."""
    return App(parse_config({
        "server": {"port": 0, "max_frame_bytes_before_login": 65536},
        "identity": {"sms_provider": "file", "argon2_time_cost": 1, "argon2_memory_kib": 1024},
        "storage": {"url": "postgresql://postgres@127.0.0.1:5432/unused"},
        "cluster": {"broker_url": "nats://127.0.0.1:4222", "node_id": "n2", "name": "t"},
    }, tmp_path))


def forwarded_internal() -> float:
    return float(METRICS.op("(forwarded)", "internal")._value.get())


async def test_every_internal_answer_of_a_gateway_is_counted(tmp_path) -> None:
    app = gateway_app(tmp_path)
    gw = Gateway(app, "n2", "i2", app.cluster.subjects, lambda _s, _d: None, 1 << 20)  # type: ignore[union-attr]
    sess = FakeSession()
    gw.opened(sess)  # type: ignore[arg-type]
    frame = json.dumps({"op": "me", "rid": 1})

    before = forwarded_internal()
    await gw.forward(sess, frame)  # type: ignore[arg-type]  # no home heard yet: answered here at once
    assert len(sess.sent) == 1 and forwarded_internal() == before + 1

    gw.on_heartbeat("n1", 1)
    gw.timeout = -1.0  # the home beats on but never answers: the request is past its deadline at once
    await gw.forward(sess, frame)  # type: ignore[arg-type]
    assert len(sess.sent) == 1
    gw.check()
    assert len(sess.sent) == 2 and forwarded_internal() == before + 2

    gw.timeout = 60.0
    await gw.forward(sess, frame)  # type: ignore[arg-type]
    gw.fail_pending("the home changed")  # (counted before this change too)
    assert len(sess.sent) == 3 and forwarded_internal() == before + 3
    await asyncio.sleep(0)


async def test_a_node_still_starting_answers_what_it_is_sent(tmp_path) -> None:
    """A node listens before it is on NATS (its port may be its node id): a frame that arrives then
    is answered, ``internal`` to retry or ``bad_request`` when malformed, not dropped with an error."""
    app = gateway_app(tmp_path)
    assert app.cluster is not None and app.cluster.gateway is None  # (not started)
    sess = FakeSession()
    await app.on_frame(sess, json.dumps({"op": "auth", "rid": 7, "token": "x"}))  # type: ignore[arg-type]
    await app.on_frame(sess, "{not json")  # type: ignore[arg-type]
    first, second = sess.sent
    assert (first["re"], first["code"]) == (7, "internal") and "starting" in first["reason"]
    assert second["code"] == "bad_request"


async def test_a_frame_answered_for_want_of_a_home_restarts_the_auth_timer(tmp_path) -> None:
    """As on one node, every frame before login restarts the auth timer, also one the gateway must
    answer itself (no home heard): a client retrying its `auth` through a failover is not closed
    for taking too long to log in."""
    app = gateway_app(tmp_path)
    gw = Gateway(app, "n2", "i2", app.cluster.subjects, lambda _s, _d: None, 1 << 20)  # type: ignore[union-attr]
    sess = FakeSession()
    gw.opened(sess)  # type: ignore[arg-type]
    armed = sess.armed
    await gw.forward(sess, json.dumps({"op": "auth", "rid": 1, "token": "x"}))  # type: ignore[arg-type]
    assert sess.sent[0]["code"] == "internal" and sess.armed == armed + 1


async def test_a_stall_of_the_gateways_own_loop_is_not_taken_for_a_dead_home(tmp_path) -> None:
    """An abuse reviewer's find: a gateway whose loop stood still 1.4 s logged "no heartbeat from the
    home" with the home alive and answered every waiting request internal: the heartbeats that came
    meanwhile were still unread. A check long after the one before judges nothing; the next does."""
    app = gateway_app(tmp_path)
    gw = Gateway(app, "n2", "i2", app.cluster.subjects, lambda _s, _d: None, 1 << 20)  # type: ignore[union-attr]
    sess = FakeSession()
    gw.opened(sess)  # type: ignore[arg-type]
    gw.on_heartbeat("n1", 1)
    await gw.forward(sess, json.dumps({"op": "me", "rid": 1}))  # type: ignore[arg-type]
    gw.check()
    gw.last_heartbeat -= 10  # the home's beats have not been read for a while...
    gw._checked_at -= 5  # ...because this loop did not run
    gw.check()
    assert gw.home_alive and sess.sent == []  # judged nothing: the beats wait in the buffers
    gw.on_heartbeat("n1", 1)  # read now
    gw.check()
    assert gw.home_alive and sess.sent == []
    gw.last_heartbeat -= 10  # silent for real, with this loop running
    gw.check()
    assert not gw.home_alive and len(sess.sent) == 1  # the waiting request answered internal


async def test_a_logout_on_a_gateway_counts_the_time_without_a_login_afresh(tmp_path) -> None:
    """The diff review's case: max_unauthenticated_seconds counts from a connection's opening or its
    logout, but a gateway's connection never went through ``attach`` (the home binds the login): a
    logout a quarter of an hour after the opening closed the connection at once."""
    app = gateway_app(tmp_path)
    gw = Gateway(app, "n2", "i2", app.cluster.subjects, lambda _s, _d: None, 1 << 20)  # type: ignore[union-attr]
    sess = FakeSession()
    sess.close = lambda code, reason: setattr(sess, "closing", True)  # type: ignore[attr-defined]
    gw.opened(sess)  # type: ignore[arg-type]
    app.arm_auth_timer(sess)  # type: ignore[arg-type]
    sess.signed_out_since -= 3600  # opened an hour ago  # type: ignore[operator]
    number = gw.by_session[sess].number  # type: ignore[index]

    async def from_home(*items: list) -> None:
        data = wire.pack([1, "i2"]) + b"".join(wire.pack(it) for it in items)
        await gw.on_message(Msg(None, subject="t.node.i2", data=data))  # type: ignore[arg-type]

    assert sess.max_frame == 64 * 1024  # (frames before a login: a login's size)
    await from_home([wire.ATTACHED, number, "u1", b"h" * 32])
    assert sess.signed_out_since is None and sess.max_frame == app.cfg.server.max_frame_bytes
    await from_home([wire.DETACHED, number])
    assert not sess.closing and sess.signed_out_since is not None and sess.max_frame == 64 * 1024
    assert time.monotonic() - sess.signed_out_since < 5


async def test_a_ping_is_answered_by_the_gateway_and_never_reaches_the_home(tmp_path) -> None:
    """An idle web page asks ``ping`` every 25 s to tell a silently dead connection from a quiet group:
    at the capacity model's 10 million connections, forwarded, that would be 400,000 requests a second
    into the home. The gateway answers it itself, before login too (restarting the sign-in timer as
    any frame does), and publishes nothing."""
    app = gateway_app(tmp_path)
    published: list[bytes] = []
    gw = Gateway(app, "n2", "i2", app.cluster.subjects,  # type: ignore[union-attr]
                 lambda _s, d: published.append(d), 1 << 20)
    sess = FakeSession()
    gw.opened(sess)  # type: ignore[arg-type]
    gw.on_heartbeat("n1", 1)
    armed = sess.armed
    await gw.forward(sess, json.dumps({"op": "ping", "rid": 5}))  # type: ignore[arg-type]
    assert sess.sent == [{"re": 5, "ok": True}] and sess.armed == armed + 1
    await gw.forward(sess, json.dumps({"op": "me", "rid": 6}))  # type: ignore[arg-type]  # (this one goes on)
    await asyncio.sleep(0.05)
    sent = b"".join(published)
    assert b"me" in sent and b"ping" not in sent
