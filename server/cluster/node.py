"""One node of a cluster: its NATS connection, the home lease, and the switch from gateway to home.

Every node starts as a gateway (:mod:`server.cluster.gateway`) and keeps trying to take the home
lease in PostgreSQL. The node that takes it loads the service's state, fences its writes with the
lease's epoch, subscribes to the home subjects and starts the background jobs
(:mod:`server.cluster.home`). A home that cannot renew its lease before it would expire stops the
process (crash-only): by then another node may hold the lease, and the fence already refuses
this one's writes. Its supervisor starts it again, as a gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import nats
from nats.errors import MaxPayloadError, NoRespondersError, SlowConsumerError
from nats.errors import TimeoutError as NatsTimeout

from protocol.events import MessageEvent, Notice
from server.cluster import settings, wire
from server.cluster.ahead import LoadAhead
from server.cluster.gateway import STARTING, Gateway, answer_here, previous_lost, resync_notice
from server.cluster.home import MEDIA_PIECE_MAX, Home, Tail
from server.cluster.relay_cache import RelayCache
from server.cluster.remote import HomeUnreachable
from server.config import url_without_password
from server.logs import Repeats
from server.metrics import METRICS, event_name
from server.session import CLOSE_TRY_AGAIN, Session

if TYPE_CHECKING:
    from nats.aio.client import Client as Nats
    from nats.aio.msg import Msg

    from server.app import App
    from server.operator.channel import Operator
    from server.storage.postgres_cluster import PostgresLeases

log = logging.getLogger("qunguan.cluster")

# The most a node's clock may be off the database's. Every time a home writes (a message's ts, a token's
# expiry, a day of client_msg_ids, a file's age for the orphan sweep) is its own clock's: a chaos reviewer's
# home 25 hours ahead stored a retry twice and swept a live upload, and one 32 days ahead logged everyone out.
MAX_CLOCK_SKEW_S = 30.0


def _skewed(skew: float) -> str:
    return (f"this machine's clock is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the database's "
            f"(more than {MAX_CLOCK_SKEW_S:g} s): a node's clock stamps messages, tokens and the day of "
            "client_msg_ids kept")


def _check_clock(database_s: float, local_s: float) -> None:
    """ValueError (the node does not start) when this machine's clock is off the database's past the bound."""
    skew = local_s - database_s
    if abs(skew) > MAX_CLOCK_SKEW_S:
        raise ValueError(f"{_skewed(skew)}; set the time right (NTP) and start again")


ADMIN_TIMEOUT = 120.0  # an operator command (an export, a purge) may take a while
ADMIN_HOME_CHECK = 0.5  # how often a gateway waiting for one looks whether the home that took it is gone
# How long a gateway waits before it confirms that a home whose lock was let go and which nobody
# answers for on NATS is gone (see _watch_home): longer than a live home's first attempt to reconnect
# to NATS (reconnect_time_wait) and to take its claim again (CLAIM_RETRY_SECONDS) after both links
# were reset. A home whose two links stay cut for longer may lose its lease (the fence keeps that
# safe: it stops, and its supervisor starts it again).
GONE_CONFIRM_SECONDS = 1.0
ANSWERS = "it answers on NATS"
# How long a ping before a contest may wait, in NATS ping intervals: longer than the client takes to
# take the link for stale (two unanswered pings) and reconnect, which drops the pings still out.
PING_GIVE_UP_INTERVALS = 6

# A home cut off from NATS this many lease periods gives the lease up and stops: it still renews
# the lease in PostgreSQL, so no other node could take over, and no gateway can reach it.
CUT_OFF_LEASES = 3
# A NATS error that repeats (each failed attempt to reach it, twice a second) is logged the first
# time, then once every this many seconds with how many more there were.
BROKER_ERRORS_EVERY = 30.0
SETTINGS_ERRORS_EVERY = 300.0  # a config that differs from the home's (server/cluster/settings.py), said again


# The smallest NATS message limit (the broker's ``max_payload``; nats-server's default is 1 MiB) a node
# starts with: batches are cut at half the limit but never below 64 KiB, and pieces of a larger item
# at that size too, so a broker allowing less would refuse each of them at publish.
MIN_BROKER_PAYLOAD = 64 * 1024


class NodeIdTaken(ValueError):
    """Another running node of the service answers to this node's id (qunguan: cannot start)."""


class LostLease(SystemExit):
    """The home could not keep its lease: the process ends (exit status 3)."""

    def __init__(self, why: str) -> None:
        super().__init__(3)
        self.why = why


async def recheck_tokens(app: App, taken: Iterable[Any]) -> None:
    """The tokens of this node's own connections, kept logged in through its takeover, read again
    (a logout or a blacklisting on the previous home meanwhile): one that no longer names its
    user is closed (1008, log in again). The node serves already: a read that fails costs that
    connection alone (1013, reconnect), never the home, which a failure here once stopped."""
    for conn in taken:
        if conn.sess.user is not None and conn.token_hash is not None:
            try:
                uid = await app.store.token_owner(conn.token_hash, app.now_ms())
            except Exception:
                log.warning("could not check again the token of a connection kept through the takeover: "
                            "closed, to log in again", exc_info=True)
                conn.sess.close(CLOSE_TRY_AGAIN, "reconnect")
                continue
            user = conn.sess.user  # read again: the client may have logged out during the await
            if user is not None and uid != user.user_id:
                conn.sess.close(1008, "log in again")


class ClusterNode:
    def __init__(self, app: App) -> None:
        c = app.cfg.cluster
        self.app = app
        self.cfg = c
        self.node_id = c.node_id or f"{socket.gethostname()}-{app.cfg.server.port}".replace(".", "-")
        self.instance = secrets.token_hex(6)  # this run of the node: a restart is a new gateway
        self.holder = f"{self.node_id}/{self.instance}"
        self.started = 0  # this run's start, on the database's clock (µs), taken in start()
        self.subjects = wire.Subjects(c.name)
        self.nc: Nats | None = None
        self.gateway: Gateway | None = None
        self.home: Home | None = None
        self.is_home = False
        # Bytes handed to NATS whose publish has not finished (see _publish and publish_room).
        self.publishing = 0
        self._publish_room = asyncio.Event()
        self._publish_room.set()
        self._tasks: list[asyncio.Task[Any]] = []
        self.lost = asyncio.Event()  # set when the home lost its lease: run() exits
        self.lost_why = ""
        self.exit_status = 3  # 3: the home lost its lease; 2: refused (another node has this node id)
        self.cut_since: float | None = None  # monotonic time NATS went away (None: connected)
        self._closing = False  # this node closes its NATS connection itself: no warning of the disconnection
        # The home: when it last heard its own heartbeat back from NATS (see _tick): a link that
        # drops packets without a reset looks connected to the client for minutes.
        self.heard_own = 0.0
        self._contest_now = asyncio.Event()  # a home gave the lease back: try to take it at once
        # The process is stopping (begin_stop): this node takes no lease from now on, whatever it hears
        # (a home's release comes to every node, this one included, while it closes its connections).
        self.stopping = False
        # The node's loops end (set before their tasks are cancelled: asyncio.wait_for on Python 3.11
        # can swallow a cancel that lands as its call completes, and a loop would go on for good; the
        # lease loop renewing a lease nobody serves under).
        self._loops_ended = False
        self._lease_ended = False  # the lease loop alone ends (a hand-over before this node stops)
        # The epoch of a home whose process is known to be gone (see _watch_home): its lease is
        # taken at once (steal_lease), without waiting for it to expire.
        self._gone_epoch: int | None = None
        self._broker_silent = False  # NATS left a ping unanswered at the last contest (said once)
        self._ping: asyncio.Future[None] | None = None  # the last of those pings (see _broker_answers)
        self._ping_reconnects = 0  # the NATS client's reconnections when it was sent
        # The state loaded while this gateway makes sure a home is gone (server/cluster/ahead.py), and
        # the last epoch whose home said it counts its writes (a home of an earlier version does not).
        self.ahead = LoadAhead(app)
        self._counted_epoch = 0
        self._giving_up = False
        self._taken_epoch: int | None = None  # the home lease's epoch this node took (None: never took it)
        self._brokers = ", ".join(shown_url(url) for url in c.broker_urls)  # (for the log: no credentials)
        self._broker_errors = Repeats(BROKER_ERRORS_EVERY)
        self._skew_errors = Repeats(BROKER_ERRORS_EVERY)
        self.relayed = RelayCache(c.media_cache_mb * 1024 * 1024)  # (the files this gateway relayed: media_bytes)
        self._settings_errors = Repeats(SETTINGS_ERRORS_EVERY)

    @property
    def leases(self) -> PostgresLeases:
        return self.app.store  # type: ignore[return-value]  # config demands PostgreSQL with a cluster

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        if not self.cfg.node_id:  # the port it listens on: with port = 0, the one the system chose
            self.node_id = f"{socket.gethostname()}-{self.app.port}".replace(".", "-")
            self.holder = f"{self.node_id}/{self.instance}"
        # Pings every lease period (nats-py's default is two minutes): a link that silently drops
        # packets is taken for lost after two unanswered ones, and reconnected, within a few leases.
        self.nc = await nats.connect(
            servers=self.cfg.broker_urls, name=self.holder, allow_reconnect=True, max_reconnect_attempts=-1,
            reconnect_time_wait=0.5, connect_timeout=5,
            ping_interval=max(1, round(self.cfg.lease_seconds)), max_outstanding_pings=2,
            disconnected_cb=self._disconnected, reconnected_cb=self._reconnected, error_cb=self._error,
        )
        self._broker_errors.clear()
        if self.nc.max_payload < MIN_BROKER_PAYLOAD:
            limit, broker = self.nc.max_payload, self._broker_now()  # (read before the close forgets it)
            self._closing = True
            await self.nc.close()
            raise ValueError(f"the NATS server at {broker} allows messages of at most {limit} bytes "
                             f"(its max_payload); a node needs at least {MIN_BROKER_PAYLOAD} (64 KiB): raise "
                             "max_payload in the nats-server configuration (its default is 1 MiB)")
        await self._check_node_id()
        # When this run started, on the one clock all nodes share: two nodes that started at once
        # with one node id both pass the check above, and every home (this one's and the next
        # after a failover) then stops the later of the two, deterministically (see wire.STAMP).
        asked = time.time()
        self.started = await self.leases.clock_us()
        _check_clock(self.started / 1e6, (asked + time.time()) / 2)
        await self.nc.subscribe(self.subjects.node_id(self.node_id), cb=_logged(self._on_node_id))
        max_bytes = max(MIN_BROKER_PAYLOAD, self.nc.max_payload // 2)
        self.gateway = Gateway(self.app, self.node_id, self.instance, self.subjects, self._publish, max_bytes,
                               self.started, room=self.publish_room)
        self.gateway.on_stop = self._refused
        await self.nc.subscribe(self.subjects.node(self.node_id), cb=_logged(self.gateway.on_message))
        await self.nc.subscribe(self.subjects.heartbeat, cb=_logged(self._on_heartbeat))
        for run, name in ((self._lease_loop, "cluster-lease"), (self._tick, "cluster-tick"),
                          (self._watch_home, "cluster-watch-home")):
            task = asyncio.create_task(run(), name=name)
            task.add_done_callback(self._ended)
            self._tasks.append(task)
        log.info("cluster node %s (service %r) on NATS at %s", self.node_id, self.cfg.name, self._broker_now())

    async def _check_node_id(self) -> None:
        """Refuse to start beside a running node with the same node id: the home would take each
        for a restart of the other at its every message, and close their clients over and over."""
        assert self.nc is not None
        try:
            msg = await self.nc.request(self.subjects.node_id(self.node_id), self.holder.encode(), timeout=1.0)
        except (NoRespondersError, NatsTimeout):
            return
        self._closing = True
        await self.nc.close()
        raise NodeIdTaken(f"another running node uses cluster.node_id {self.node_id!r} "
                          f"({msg.data.decode(errors='replace')}): give every node its own node_id")

    async def _on_node_id(self, msg: Msg) -> None:
        if msg.data.decode(errors="replace") != self.holder:
            # (It stops if this answer reaches it within its wait: one that came late, from a node
            # paused meanwhile, did not, and the home then stops the newer of the two.)
            log.error("a node starting with this node's id (%s, instance %s) was told it is taken",
                      self.node_id, msg.data.decode(errors="replace"))
        await msg.respond(self.holder.encode())

    def _refused(self, why: str) -> None:
        """The home refuses this gateway: another node with its id was running first (two started
        at once, past _check_node_id). It stops, as it would refuse to start."""
        if not self.is_home and not self.lost.is_set():
            self.exit_status = 2
            self._lose(why)

    def _twin_home(self, why: str) -> None:
        """This node is the home, and a gateway with its node id that started before it is running
        (it got past _check_node_id, see Home._twin_of_home): by the rule every home applies to two
        gateway twins, the newer one goes, here the home itself. It stops as a refused node does
        (exit status 2, not 3): restarted, it would be refused at its start check anyway, since
        the older twin answers there. The lease is handed over first, as _give_up does, so that
        a node takes over a lease period after this one's last heartbeat, not a lease period
        after the lease would have expired."""
        if self.lost.is_set() or self._giving_up:
            return
        self._giving_up = True
        self.exit_status = 2  # (also if the lease is lost meanwhile: this node is the twin that goes)
        self._tasks.append(asyncio.create_task(self._hand_over_and_lose(why), name="cluster-twin-home"))

    async def _hand_over_and_lose(self, why: str) -> None:
        """Stop starting requests (Home.close, with no grace: a home cut off from NATS could not send
        their events anyway, and waiting would only delay the hand-over), release the home lease
        (within one lease period: a node on NATS takes it at once; one not released expires on its
        own), then stop as a home that lost it. The gateways are told the lease is free (RELEASED,
        a clean hand-over, no ``resync``) only when no request was under way: the process exits
        right after, and the events of one cut short would never go out."""
        home = self.home
        if home is not None:
            finished = await home.close(grace=0)
            # No renewal after the release (it would make the released lease live again, and one in
            # flight on the lease connection would fail the release), as in stop().
            renewing = [t for t in self._tasks if t.get_name() == "cluster-lease"]
            self._lease_ended = True  # (the tick heartbeats on until the release)
            for task in renewing:
                task.cancel()
            await asyncio.gather(*renewing, return_exceptions=True)
            try:
                await asyncio.wait_for(self.leases.release_lease(wire.HOME_LEASE, self.holder, home.epoch),
                                       self.cfg.lease_seconds)
            except Exception as err:
                log.warning("could not release the home lease (it expires on its own): %r", err)
            else:
                if finished:
                    self._released_beat()
        self._lose(why)

    def _released_beat(self) -> None:
        """Tell the gateways the lease is free (see wire.RELEASED): one takes it at once."""
        if self.home is not None and self.nc is not None and self.nc.is_connected:
            self._publish(self.subjects.heartbeat, self.home.heartbeat(self.node_id, released=True))

    @property
    def _lease_over(self) -> bool:
        """The lease loop is to end: the node's loops all end, or the lease alone (a hand-over)."""
        return self._loops_ended or self._lease_ended

    def begin_stop(self) -> None:
        """The process is stopping: take no lease from now on (a home keeps renewing its own until
        :meth:`stop`). Called first thing at a stop, before the connections are closed."""
        self.stopping = True
        self._contest_now.set()  # (a gateway waiting to contest wakes, and ends its lease loop)

    async def stop(self) -> None:
        self.begin_stop()
        # The home first lets its requests in flight finish (up to CLOSE_GRACE_SECONDS), renewing its
        # lease and heartbeating meanwhile: cancelled first, the lease ran out and the gateways took
        # the home for gone after lease_seconds, whatever the grace.
        finished = await self.home.close() if self.home is not None else True
        self._loops_ended = True
        for task in self._tasks:
            task.cancel()
        self.ahead.drop()
        await asyncio.gather(*self._tasks, return_exceptions=True)  # (no renewal after the release)
        if self.home is None and self._taken_epoch is not None:
            # Stopped while becoming the home (the lease taken, the state still loading): the lease
            # is given back too, or the gateways would wait for it to expire.
            with contextlib.suppress(Exception):
                await self.leases.release_lease(wire.HOME_LEASE, self.holder, self._taken_epoch)
        if self.home is not None:
            try:  # hand over at once instead of after the lease's time
                await self.leases.release_lease(wire.HOME_LEASE, self.holder, self.home.epoch)
            except Exception as err:
                log.warning("could not release the home lease: %s", err)
            else:
                if finished:
                    self._released_beat()  # (the drain below sends it)
                else:
                    # Events of the requests cut short never went: no RELEASED, so the next home
                    # takes this one as lost and tells every client to read again (resync).
                    log.warning("requests still being handled at the stop were cut short: the hand-over "
                                "is announced as a lost home, so that clients read again")
        if self.nc is not None:
            self._closing = True
            try:
                await self.nc.drain()
            except Exception:
                await self.nc.close()

    async def serving(self, within: float) -> bool:
        """Wait until this node serves (it is the home, or a gateway that hears one: :meth:`ready`), at
        most ``within`` seconds; whether it does. The server says it is listening only then: a request
        sent on that word was answered ``internal`` while the node was still taking the lease or
        loading the state (``no node serves the service right now``)."""
        deadline = time.monotonic() + within
        while self.ready() is not None and not self.lost.is_set():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return self.ready() is None

    def ready(self) -> str | None:
        """Why this node cannot serve now, or None (for /readyz)."""
        if self.nc is None or not self.nc.is_connected:
            return "not connected to the cluster's broker (NATS)"
        if not self.is_home and (self.gateway is None or not self.gateway.home_alive):
            return "no home node in the cluster"
        return None

    # -- what App asks -----------------------------------------------------------------------------
    def opened(self, sess: Session) -> None:
        if self.is_home:
            return
        if self.gateway is None:
            # Accepted while the node is still joining the cluster (NATS, the node-id check): no
            # gateway to register it with yet, and none would later. Closed at once (1013: the
            # client tries again), not left answering `internal` until its auth timer ran out.
            sess.close(CLOSE_TRY_AGAIN, "this node is still joining the cluster; try again")
            return
        self.gateway.opened(sess)

    def closed(self, sess: Session) -> None:
        if self.gateway is not None:
            self.gateway.closed(sess)

    def logged_in_as(self, sess: Session) -> str | None:
        """The user a connection forwarded by this node is logged in as (the home said so)."""
        conn = self.gateway.by_session.get(sess) if self.gateway is not None else None
        return conn.user_id if conn is not None else None

    async def forward(self, sess: Session, data: bytes | str) -> None:
        if self.gateway is None:  # listening already (its port may name it), not yet on NATS
            answer_here(self.app, sess, data, STARTING)
            return
        await self.gateway.forward(sess, data)

    async def admin(self, who: Operator, line: bytes) -> dict[str, Any]:
        """Run an operator command on the home (this node is a gateway)."""
        assert self.nc is not None
        payload = wire.pack([who.name, who.role, who.uid, who.named, line])
        gw = self.gateway
        asked = (gw.home_epoch, gw.home_alive) if gw is not None else None
        request = asyncio.ensure_future(self.nc.request(self.subjects.admin, payload, timeout=ADMIN_TIMEOUT))
        # The home that took the command may die with it: its answer never comes. Waiting out the two
        # minutes a command may take said nothing useful while a new home served (a chaos reviewer);
        # once the gateway hears the home gone or replaced, the command's fate is unknown, and said so.
        while asked is not None and gw is not None and not request.done():
            await asyncio.wait([request], timeout=ADMIN_HOME_CHECK)
            if not request.done() and asked[1] and (not gw.home_alive or gw.home_epoch != asked[0]):
                request.cancel()
                return {"ok": False, "error": "the home node that took this command went away before it answered: "
                                              "it may or may not have run; look (with the listing commands, or "
                                              "verify-audit's record) before running it again"}
        try:
            msg = await request
        except NoRespondersError:
            return {"ok": False, "error": "no home node in the cluster right now; try again in a few seconds"}
        except NatsTimeout:
            return {"ok": False, "error": f"the home node did not answer within {ADMIN_TIMEOUT:g} s"}
        except MaxPayloadError:  # (raised before anything is sent: the command did not run)
            return {"ok": False, "error": f"the request is {len(payload)} bytes, over the broker's message limit "
                                          f"({self.nc.max_payload} bytes), so this node cannot forward it to the "
                                          "home node: nothing ran; send less at a time, or type it on the home node"}
        reply: dict[str, Any] = next(wire.unpack_stream(msg.data))
        return reply

    async def info_page(self, gid: str) -> str | None:
        """A group's public page from the home (this node is a gateway); None when it has none;
        :class:`HomeUnreachable` when no home answered (a failover): not "no page", which a crawler
        or a cache would have kept as the page gone."""
        assert self.nc is not None
        try:
            msg = await self.nc.request(self.subjects.info, gid.encode(), timeout=5)
        except (NoRespondersError, NatsTimeout):
            raise HomeUnreachable from None
        return msg.data.decode() or None

    async def media_bytes(self, sha256: str, size: int) -> bytes | None:
        """A stored file the home has and this gateway's ``[media] path`` does not (each node's folder is
        its own unless shared storage is mounted there): kept in this gateway's memory for a while, and
        read from the home once for all the downloads that want it at the same moment
        (server/cluster/relay_cache.py); None when the home has it not either. :class:`HomeUnreachable`
        when no home answered. Never written to this node's disk: the home's folder is the one its
        cleanup sweeps."""
        return await self.relayed.read(sha256, size, lambda: self._media_from_home(sha256, size))

    async def _media_from_home(self, sha256: str, size: int) -> bytes | None:
        """The file's bytes read from the home in pieces of half a NATS message, never over the
        MEDIA_PIECE_MAX the home answers (it sends nothing for a larger one, which read as the file
        missing on a broker whose limit is over 16 MiB)."""
        assert self.nc is not None
        piece = max(1, min(self.nc.max_payload // 2, MEDIA_PIECE_MAX))
        body = bytearray()
        while len(body) < size:
            try:
                asked = wire.pack([sha256, len(body), min(piece, size - len(body))])
                msg = await self.nc.request(self.subjects.media, asked, timeout=5)
            except (NoRespondersError, NatsTimeout):
                raise HomeUnreachable from None
            if not msg.data:
                return None
            body += msg.data
        return bytes(body)

    # -- NATS ----------------------------------------------------------------------------------------
    def _publish(self, subject: str, data: bytes) -> None:
        nc = self.nc
        if nc is None:
            return
        size = len(data)
        self.publishing += size
        if self.publishing > PUBLISH_BACKLOG_BYTES:
            self._publish_room.clear()
        task = asyncio.get_running_loop().create_task(nc.publish(subject, data))

        def done(t: asyncio.Task[None]) -> None:
            self.publishing -= size
            if self.publishing <= PUBLISH_BACKLOG_BYTES:
                self._publish_room.set()
            _log_failure(t)

        task.add_done_callback(done)

    async def publish_room(self) -> None:
        """Wait while more than :data:`PUBLISH_BACKLOG_BYTES` wait to be published: a gateway's
        forwarding awaits it, so clients that send faster than the broker takes their frames are
        read no faster (a reviewer's one client, pipelining 900 KB frames, grew a gateway to 5 GB
        in 20 s: the home answered each before its publish was done, so nothing slowed it)."""
        if not self._publish_room.is_set():
            await self._publish_room.wait()

    async def _on_heartbeat(self, msg: Msg) -> None:
        beat = wire.unpack_stream(msg.data)
        first = next(beat)
        node_id, epoch = first[:2]
        if len(first) > 2 and first[2] == wire.RELEASED:  # that home gave its lease back
            next(beat, 0)
            sent = next(beat, None)  # its last counts of what it sent: checked as a heartbeat's are
            if not self.is_home and self.gateway is not None and self.gateway.home_went(
                    node_id, epoch, released=True, sent=sent):
                self._contest_now.set()
            return
        links = next(beat, 0)  # (none from a home of the previous version)
        sent = next(beat, None)  # (the same)
        if next(beat, None) == wire.WRITES_COUNTED:  # (the same)
            self._counted_epoch = max(self._counted_epoch, epoch)
        if not self.is_home and (differ := settings.differing(settings.digests(self.app.cfg), next(beat, None))):
            self._settings_errors.log(
                log, logging.ERROR, "the home %s enforces other settings than this node's config in [%s]: the "
                "service's rules would change if this node took over; give every node the same config",
                node_id, "], [".join(differ))
        if self.is_home:
            if self.home is not None and epoch > self.home.epoch:
                self._lose(f"node {node_id} holds the home lease at a later epoch ({epoch})")
            elif node_id == self.node_id:
                self.heard_own = time.monotonic()  # its own, back through NATS: the link works
            return
        self.ahead.heard_home(epoch)
        if self.gateway is not None:
            self.gateway.on_heartbeat(node_id, epoch, links, sent)

    async def _disconnected(self) -> None:
        if self._closing:  # (a stop: the node drains and closes the connection itself)
            return
        log.warning("disconnected from NATS; reconnecting")
        if self.cut_since is None:
            self.cut_since = time.monotonic()

    def _broker_now(self) -> str:
        """The NATS server this node is connected to (one of a NATS cluster's, when there are several)."""
        url = self.nc.connected_url if self.nc is not None else None
        return shown_url(url.geturl()) if url is not None else "(none)"

    async def _reconnected(self) -> None:
        self._broker_errors.clear()
        log.info("reconnected to NATS at %s", self._broker_now())
        self.cut_since = None
        if self.is_home and self.home is not None:
            self.home.reconnections += 1  # (the next heartbeat says so: the gateways re-register)
        elif self.gateway is not None:
            self.gateway.reconnected()

    async def _error(self, err: Exception) -> None:
        if not isinstance(err, SlowConsumerError):
            # Each failed (re)connection attempt, every 0.5 s while NATS is out of reach: the first,
            # then one every 30 s with a count. Cleared on (re)connecting.
            self._broker_errors.log(log, logging.WARNING, "NATS at %s: %s", self._brokers, err)
            return
        log.warning("NATS: %s", err)
        # The client dropped messages this node did not take in time: as after a cut from NATS,
        # the gateways re-register (see Gateway.reconnected), once per heartbeat or tick.
        if self.is_home and self.home is not None:
            if err.subject == self.subjects.home_in:
                self.home.reconnections += 1
        elif self.gateway is not None and err.subject == self.subjects.node(self.node_id):
            self.gateway.messages_lost = True

    # -- the lease -------------------------------------------------------------------------------------
    async def _lease_loop(self) -> None:
        """Take the lease (gateway), then keep it (home).

        A gateway contests the lease every lease_seconds/6 while it hears no home. While a home
        heartbeats, it contests only a lease it has seen expired for a whole lease period with the
        database answering (a home alive on NATS that can no longer renew): after a database
        outage, the home, which renews every lease_seconds/4, renews first. The home renews every
        lease_seconds/4 from the moment it took the lease, also while it loads the state. It stops
        only when another node holds the lease: while the database is unreachable nobody can take
        it, and the home's writes fail alone (fenced, or refused by the store), so riding out an
        outage of any length is safe, and the home carries on when the database is back.
        """
        ttl = self.cfg.lease_seconds
        epoch: int | None = None
        stale_since: float | None = None  # a home is heard, but its lease was seen expired since then
        while epoch is None:
            if self.stopping or self._lease_over:
                return
            self._contest_now.clear()  # (first: a set() from now on, during the take too, is kept for the wait)
            if self.nc is None or not self.nc.is_connected:
                # Cut off from NATS: as the home, this node could serve no gateway (it would give
                # the lease up again, see _tick), so it leaves the lease to a node that is on NATS.
                stale_since = None
                contest = False
            elif self.gateway is not None and self.gateway.home_alive:
                # Contest a heard home only once its lease has stayed expired for a whole lease
                # while the database answered: after a database outage the home renews first.
                stale_since = await self._stale_lease(stale_since)
                contest = stale_since is not None and time.monotonic() - stale_since >= ttl
            else:
                stale_since = None
                contest = True
            gone = self._gone_epoch
            if (gone is not None and self.gateway is not None and gone == self.gateway.home_epoch
                    and self.nc is not None and self.nc.is_connected):
                contest = True  # (its process ended: its lease is taken now, see _watch_home)
            else:
                gone = None
            if contest and not await self._broker_answers(ttl / 6):
                contest = False
            if contest and (skew := await self._clock_skew(ttl / 6)) is not None and abs(skew) > MAX_CLOCK_SKEW_S:
                # (checked at the start too; a clock stepped since, by NTP, a person or a resumed machine,
                # made a home that stamped a day ahead and stored a retry of a message twice)
                self._skew_errors.log(log, logging.ERROR, "not taking the home lease: %s; set the time right",
                                      _skewed(skew))
                contest = False
            if contest:
                # The database gives up waiting behind the old home's writes before this node does
                # (lock_wait): a take abandoned here would otherwise commit there later, unknown.
                lock_wait = ttl * 0.35
                try:
                    if gone is not None:
                        epoch = await asyncio.wait_for(
                            self.leases.steal_lease(wire.HOME_LEASE, self.holder, ttl, gone, lock_wait), ttl / 2)
                    if epoch is None:
                        epoch = await asyncio.wait_for(
                            self.leases.take_lease(wire.HOME_LEASE, self.holder, ttl, lock_wait), ttl / 2)
                except Exception as err:
                    log.debug("home lease not taken: %r", err)
                    epoch = await self._taken_after_all()
            if epoch is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._contest_now.wait(),
                                           ttl / 6 if not (self.gateway and self.gateway.home_alive) else ttl / 2)
        self._taken_epoch = epoch
        if self.stopping or self._lease_over:
            # Taken as the stop began: given back at once (a node that serves takes it now), not
            # once this node's connections have closed.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.leases.release_lease(wire.HOME_LEASE, self.holder, epoch), ttl / 2)
                self._taken_epoch = None
            return
        promoting = asyncio.create_task(self._promote(epoch), name="cluster-promote")
        promoting.add_done_callback(self._promoted)
        self._tasks.append(promoting)
        failing_since: float | None = None
        while True:
            await asyncio.sleep(ttl / 4)
            if self._lease_over:
                return
            asked = time.time()
            try:
                ok = await asyncio.wait_for(self.leases.renew_lease(wire.HOME_LEASE, self.holder, epoch, ttl), ttl / 4)
            except Exception as err:
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.warning("home lease not renewed (%r); the home carries on, its writes fail meanwhile", err)
                continue
            if not ok:
                self._lose("another node took the home lease (or the database was given another cluster name)")
                return
            if failing_since is not None:
                log.info("home lease renewed again after %.1f s", time.monotonic() - failing_since)
                failing_since = None
            # (by the database's clock the renewal read: no second statement on the lease connection,
            # whose time would come out of the renewals' own)
            database_us = getattr(self.leases, "renewed_clock_us", None)
            skew = None if database_us is None else (asked + time.time()) / 2 - database_us / 1e6
            if skew is not None and abs(skew) > MAX_CLOCK_SKEW_S and not self._giving_up and not self.lost.is_set():
                # Handed over as a home cut off from NATS does; a node whose clock agrees takes it (the
                # lease loop goes on renewing until the hand-over ends it), and this one, restarted,
                # is refused at its start until its clock is set right.
                self._giving_up = True
                self._tasks.append(asyncio.create_task(
                    self._hand_over_and_lose(f"{_skewed(skew)}; set the time right"), name="cluster-clock-skew"))

    async def _clock_skew(self, timeout: float) -> float | None:
        """How far this machine's clock is ahead of the database's now, in seconds (negative: behind);
        None when the database does not answer within ``timeout`` (a take or renewal fails then
        anyway, and a home rides out an outage)."""
        asked = time.time()
        try:
            database_us = await asyncio.wait_for(self.leases.clock_us(), timeout)
        except Exception:
            return None
        return (asked + time.time()) / 2 - database_us / 1e6

    async def _broker_answers(self, timeout: float) -> bool:
        """Whether NATS answers a ping now, asked before this node contests the lease.

        A link that drops packets without a reset leaves ``is_connected`` true until the NATS
        client's own pings miss (seconds to minutes); such a gateway hears no home, so it would
        contest, and as the home it would serve no other gateway until it noticed that its own
        heartbeats do not come back (see ``_tick``). Not answered, it leaves the lease to a node
        NATS can reach, and asks again at the next contest."""
        if self.nc is None:
            return False
        # The ping is never cancelled, only waited for: nats-py answers its pings in order from a list,
        # and a ping whose wait was cancelled stayed in it, so its late PONG ended the client's read
        # loop (an InvalidStateError it takes for a broken connection), and the node heard nothing
        # more from NATS while it still said "connected". This one may wait as long as the client's
        # own stale-link check takes to reconnect (which empties that list): one unanswered after
        # that is abandoned harmlessly. A ping still out at the next contest is waited on again.
        # (A ping sent before the client reconnected is abandoned: the reconnect dropped it.)
        reconnects = self.nc.stats.get("reconnects", 0)
        if self._ping is None or self._ping.done() or self._ping_reconnects != reconnects:
            interval = max(1, round(self.cfg.lease_seconds))
            self._ping_reconnects = reconnects
            self._ping = asyncio.ensure_future(self.nc.flush(timeout=PING_GIVE_UP_INTERVALS * interval))
            self._ping.add_done_callback(lambda f: f.cancelled() or f.exception())  # (retrieved: no warning)
        ping = self._ping
        await asyncio.wait({ping}, timeout=timeout)
        if not ping.done() or ping.cancelled() or ping.exception() is not None:
            if not self._broker_silent:
                self._broker_silent = True
                why = "no answer" if not ping.done() else "cancelled" if ping.cancelled() else repr(ping.exception())
                log.warning("NATS did not answer a ping within %.1f s (%s): not contesting the home lease "
                            "until it does", timeout, why)
            return False
        if self._broker_silent:
            self._broker_silent = False
            log.info("NATS answers again")
        return True

    async def _watch_home(self) -> None:
        """A gateway's quick way to learn that the home's process ended (a crash, ``kill -9``), so
        that the service is served again within a second or two plus the state load, not after
        the lease has expired (up to ``lease_seconds`` later).

        The home holds a lock in PostgreSQL for its epoch for as long as its process lives
        (``hold_home_life``); the gateway waits for that lock. Getting it says only that the
        home's database session ended, which a restart of PostgreSQL or a reset link does too,
        so the gateway then asks the home over NATS. Only when NATS says at once that nobody
        listens for the home, and says so again :data:`GONE_CONFIRM_SECONDS` later with the lock
        still free (longer than the home takes to reconnect to either after both links were
        reset), is the home taken for gone: its lease is taken now (``steal_lease``, which like
        every takeover waits for the old home's writes in flight; the fence refuses any later
        one). An answer, or none in time, leaves the lease to run its course. A home that holds
        no such lock (an earlier version, or one that could not take it) is never taken over this
        way, nor is one whose host vanishes without closing its connections (power lost, cut
        off): those takeovers wait for the lease to expire, as before."""
        ttl = self.cfg.lease_seconds
        lockless = 0  # the epoch of the last home found holding no lock (logged once)
        while not self._loops_ended:
            gw = self.gateway
            if self.is_home:
                # (Nothing to watch while this node is the home, so no quick polling; once it is
                # not, the next home heard is watched within one such pause.)
                await asyncio.sleep(ttl / 12)
                continue
            if gw is None or not gw.home_alive or self.nc is None or not self.nc.is_connected or self.stopping:
                # (a home heard is watched at once; a node that is stopping takes over nothing)
                await asyncio.sleep(0.1)
                continue
            epoch, node_id = gw.home_epoch, gw.home_node
            waiting = asyncio.ensure_future(self.leases.home_ended(epoch, ttl))
            try:
                # (Given up when another home is heard meanwhile, or this node takes the lease.)
                while not waiting.done() and not self.is_home and gw.home_epoch == epoch:
                    await asyncio.wait({waiting}, timeout=ttl / 12)
            finally:
                if not waiting.done():
                    waiting.cancel()
                    await asyncio.gather(waiting, return_exceptions=True)
            if waiting.cancelled():
                continue
            if (err := waiting.exception()) is not None:
                log.debug("could not wait for the home's lock: %r", err)
                await asyncio.sleep(ttl / 2)
                continue
            if not waiting.result():
                # No lock held: a home of an earlier version, one that could not take it, or one that
                # died before this watch began (its lease then expires within a lease period). Not
                # taken for gone this way; looked at again a lease period later.
                if lockless != epoch:
                    lockless = epoch
                    log.info("the home node %s holds no lock of its life now (a node of an earlier version, or "
                             "it is taking its lock again): a crash of it is noticed when its lease expires", node_id)
                await self._pause(ttl, epoch)
                continue
            if self.is_home or not gw.home_alive or gw.home_epoch != epoch:
                continue  # (a newer home meanwhile, or this node took the lease)
            if self._counted_epoch == epoch:
                self.ahead.start(epoch)  # while this node makes sure (server/cluster/ahead.py)
            alive = await self._home_alive_after_all(epoch)
            if alive is not None:
                # Alive (its database session was reset): its lease runs its course; it takes its
                # lock again with its claim. Look again in a while.
                self.ahead.drop()
                log.info("the home node %s let its lock of its life go, but %s: it keeps its lease", node_id, alive)
                await self._pause(ttl, epoch)
                continue
            if gw.home_went(node_id, epoch, released=False):
                if self.ahead.another_node_loads():
                    # That node holds the state already: it takes the lease first, as a rule; this
                    # one contests a moment later, in case it cannot. The moment covers that node's
                    # making sure at its slowest: its first ask on NATS may go to the dead home's
                    # subscription, which NATS has not dropped yet, and wait its whole timeout
                    # (lease/6); with GONE_CONFIRM_SECONDS alone this node took the lease first
                    # and the state loaded ahead went unused (seen once in CI).
                    await self._pause(GONE_CONFIRM_SECONDS + ttl / 6, epoch)
                    if self.is_home or gw.home_epoch != epoch:
                        continue
                self._gone_epoch = epoch
                self._contest_now.set()

    async def _pause(self, seconds: float, epoch: int) -> None:
        """Wait ``seconds``, or less if another home is heard meanwhile (watched at once) or this node becomes it."""
        until = time.monotonic() + seconds
        while time.monotonic() < until and not self.is_home and self.gateway is not None \
                and self.gateway.home_epoch == epoch:
            await asyncio.sleep(0.1)

    async def _home_alive_after_all(self, epoch: int) -> str | None:
        """After the home's lock was let go: the sign of life the home shows, an answer on NATS now, or
        an answer on NATS or its lock held again a moment later; None when there is none. The second
        look's failure for another reason (no answer in time, the link) counts as a sign: it is no
        proof that the home is gone."""
        if (answer := await self._home_answers()) == ANSWERS:
            return answer
        # (No answer in time is no proof of life either: NATS may not yet have noticed the closed
        # connection of a process that died a moment ago, and delivered the request to it.)
        await asyncio.sleep(GONE_CONFIRM_SECONDS)
        try:
            if await asyncio.wait_for(self.leases.holds_home_life(epoch), self.cfg.lease_seconds / 2):
                return "it holds its lock again"
        except Exception as err:
            return f"its lock could not be looked at ({err!r})"
        return await self._home_answers()

    async def _home_answers(self) -> str | None:
        """How a home answers on NATS (an empty group page request); None only when NATS says nobody
        listens for it."""
        assert self.nc is not None
        try:
            await self.nc.request(self.subjects.info, b"", timeout=self.cfg.lease_seconds / 6)
        except NoRespondersError:
            return None
        except Exception as err:  # (no answer in time, or the link: not proof that it is gone)
            return f"asking it on NATS failed ({err!r})"
        return ANSWERS

    async def _taken_after_all(self) -> int | None:
        """After a take that failed without an answer (its time ran out waiting behind the old
        home's write, or the connection went): the take may have committed all the same. Then this
        node holds the lease without knowing it, and nobody would be the home until it expired:
        its epoch, to go on as the home; otherwise None."""
        try:
            held = await asyncio.wait_for(self.leases.lease_holder(wire.HOME_LEASE), self.cfg.lease_seconds / 2)
        except Exception as err:
            log.debug("could not read the home lease: %r", err)
            return None
        if held is not None and held[0] == self.holder and held[2]:
            log.info("the home lease was taken after all (epoch %d)", held[1])
            return held[1]
        return None

    async def _stale_lease(self, since: float | None) -> float | None:
        """When the home lease was first seen expired (and still is), or None: not expired, or
        the database cannot tell now."""
        try:
            held = await asyncio.wait_for(self.leases.lease_holder(wire.HOME_LEASE), self.cfg.lease_seconds / 2)
        except Exception:
            return None
        if held is None or held[2]:
            return None
        return since if since is not None else time.monotonic()

    def _promoted(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("could not become the home node", exc_info=task.exception())
            self._lose(f"could not become the home node: {task.exception()}")

    async def _take_home_life(self, epoch: int) -> None:
        """Take the home's lock of its life (see ``hold_home_life``), waiting for it half a lease at
        most. Not cancelled when slower: it goes on, and keeps trying every second if the lock is not
        free (cancelled at the wait's end, it never tried again, and a crash of this home was noticed
        only when its lease expired, for the whole of its life as the home)."""
        life = asyncio.create_task(self.leases.hold_home_life(epoch), name="cluster-home-life")
        self._tasks.append(life)
        if not (await asyncio.wait({life}, timeout=self.cfg.lease_seconds / 2))[0]:
            log.warning("the home's lock of its life was not taken in time (still trying): until it is, a crash "
                        "of this home is noticed when its lease expires")

    async def _promote(self, epoch: int) -> None:
        """Become the home: fence, load the state, take over this node's own connections, subscribe."""
        app = self.app
        assert self.nc is not None and self.gateway is not None
        log.info("node %s takes the home lease (epoch %d)", self.node_id, epoch)
        took = time.monotonic()
        self.leases.set_fence(wire.HOME_LEASE, epoch)
        self.leases.on_fenced = lambda: self._lose("a write was refused: another node holds the home lease")
        # Before the first heartbeat: a gateway that hears this home waits for this lock (_watch_home).
        await self._take_home_life(epoch)
        self.gateway.home_alive = False  # our own connections' requests are answered `internal` meanwhile
        # (Whether the home before may have left changes unsent, as a gateway judges it: see resync_notice.)
        lost = previous_lost(self.gateway.home_epoch, epoch, self.gateway.home_released)
        self.gateway.home_epoch = epoch
        # The identity keys again, as at a start: the home may have rotated the key since this node
        # started. With a key ring that can no longer open the data, this node refuses to be the
        # home as it would refuse to start (see _promoted), rather than seal under the retired key.
        await app.vault.bind(app.store, app.now_ms())
        app.store.set_record_key(app.vault.record_key())
        bound = time.monotonic()
        # The previous home's last messages, read with the state, before this home writes any
        # message (see Tail): a gateway's connections get those they never got as events when
        # they re-register, and so do this node's own, below.
        window = wire.catch_up_seconds(self.cfg.lease_seconds)

        async def load() -> bool:
            """The state loaded ahead if it is still the database's (then True), or loaded now."""
            ahead = await self.ahead.take(epoch)
            await app.load_home(ahead)
            return ahead is not None

        ahead, recent = await asyncio.gather(
            load(),
            app.store.recent_messages(app.now_ms() - int(window * 1000), wire.CATCH_UP_PER_GROUP))
        loaded = time.monotonic()
        from server.app import tune_gc

        tune_gc()  # the state just loaded lives for the whole run: no collection walks it again
        home = Home(app, self._publish, self.subjects, epoch, self.gateway.max_bytes, self.nc.max_payload,
                    me=(self.node_id, self.instance, self.started))
        home.on_twin = self._twin_home
        tail = home.start_catch_up(Tail(app, recent, time.monotonic() + window))
        relayed = self.gateway.relayed_groups()
        # Our own logged-in connections are attached here as the previous home knew them, with no
        # await before is_home (a frame meanwhile would find neither a gateway entry nor a home);
        # their tokens are checked again just after, as a new home checks a gateway's.
        taken = self.gateway.take_logged_in()
        resync = resync_notice() if lost else None
        for conn in taken:
            user = app.state.users.get(conn.user_id or "")
            if user is not None and user.active and not conn.sess.closing and conn.token_hash is not None:
                app.attach(conn.sess, user, conn.token_hash)
                if conn.since is not None:  # (what it was owed, before anything new can reach it)
                    for _, ev in tail.owed(user, relayed, conn.since):
                        METRICS.queued(event_name(MessageEvent), conn.sess.push(ev))
                # (the other events of those last moments: read them again)
                if resync is not None:
                    METRICS.queued(event_name(Notice), conn.sess.push(resync))
            else:
                conn.sess.close(1008, "log in again")
        self.home = home
        self.heard_own = time.monotonic()
        self.is_home = True
        self.relayed.clear()  # (a home relays nothing: its downloads read its own folder)
        await self.nc.subscribe(self.subjects.home_in, cb=_logged(home.on_message))
        await self.nc.subscribe(self.subjects.admin, cb=_logged(home.on_admin))
        await self.nc.subscribe(self.subjects.info, cb=_logged(home.on_info))
        await self.nc.subscribe(self.subjects.media, cb=_logged(home.on_media))
        app.start_jobs()
        self._beat()
        log.info("node %s is the home node (%.2f s after it took the lease: identity keys %.2f s, state %.2f s%s)",
                 self.node_id, time.monotonic() - took, bound - took, loaded - bound,
                 ", loaded ahead" if ahead else "")
        await recheck_tokens(app, taken)

    async def _give_up(self, seconds: float) -> None:
        """Cut off from NATS for several lease periods: no gateway hears this home, and none can take
        a lease it keeps renewing, so the whole service would wait for this node's link to heal.
        Hand the lease over (a node on NATS takes it at once) and stop, as a home that lost it does."""
        await self._hand_over_and_lose(f"cut off from NATS for {seconds:.1f} s: no other node could reach this home")

    def _beat(self) -> None:
        if self.home is not None and self.nc is not None:
            self._publish(self.subjects.heartbeat, self.home.heartbeat(self.node_id))

    def _ended(self, task: asyncio.Task[None]) -> None:
        """The lease loop and the tick run for the node's whole life: one that ends by a bug would
        leave a home renewing its lease with no heartbeat (every gateway waiting on it), or a node
        that never takes the lease. Crash-only: the node stops, its supervisor starts it again."""
        if task.cancelled():
            return
        err = task.exception()
        if err is None and (self.lost.is_set() or self.stopping or self._lease_over):
            return  # (it ended because it was told to, or the node is going anyway: no bug)
        if self.lost.is_set() or self.stopping:
            # (going anyway: said, and no more; a loop that dies while the home closes its last
            # requests must not go unseen)
            log.error("the task %s ended (%r) as the node stops", task.get_name(), err, exc_info=err)
            return
        log.error("the task %s ended (%r): this node stops", task.get_name(), err, exc_info=err)
        self._lose(f"its task {task.get_name()} ended: {err!r}")

    def _lose(self, why: str) -> None:
        self.app.store.fenced_out = True  # (the orphan sweep removes no shared file meanwhile)
        if self.lost.is_set():
            return  # (said once: every heartbeat of the new home arriving before the exit said it again)
        log.error("stopping: %s", why)
        self.lost_why = why
        self.lost.set()

    async def _tick(self) -> None:
        """Heartbeats (home) or liveness and request deadlines (gateway), several times a second."""
        ttl = self.cfg.lease_seconds
        every = min(0.5, ttl / 6)
        n = 0
        while not self._loops_ended:
            await asyncio.sleep(every)
            n += 1
            if self.is_home:
                self._beat()
                if self.home is not None and n % 4 == 0:
                    self.home.sweep(ttl)
                cut = self.cut_since
                if cut is None and time.monotonic() - self.heard_own > CUT_OFF_LEASES * ttl:
                    cut = self.heard_own  # connected, yet none of its heartbeats came back: cut off all the same
                if cut is not None and time.monotonic() - cut > CUT_OFF_LEASES * ttl and not self._giving_up:
                    self._giving_up = True
                    self._tasks.append(asyncio.create_task(self._give_up(time.monotonic() - cut),
                                                           name="cluster-give-up"))
            elif self.gateway is not None:
                self.gateway.check()
                if n % 2 == 0:
                    self.gateway.alive()
            # (a relayed file past its time leaves memory though nobody asks for it; on a home too, for
            # a read that ended after this node took the lease)
            self.relayed.sweep()


def _logged(cb: Callable[[Msg], Awaitable[None]]) -> Callable[[Msg], Awaitable[None]]:
    """``cb`` for a NATS subscription, its failures logged with their traceback: nats-py hands a
    callback's exception to the error callback, which took it for the broker being out of reach."""
    async def handle(msg: Msg) -> None:
        try:
            await cb(msg)
        except Exception:
            log.exception("handling a NATS message on %s failed", msg.subject)
    return handle


def shown_url(url: str) -> str:
    """A NATS url for the log: without the password or token it may carry, as every url the
    config shows (a token with a raw / in it, cut there by a URL parser, was logged whole)."""
    return url_without_password(url)


PUBLISH_BACKLOG_BYTES = 16 * 1024 * 1024  # what a node lets wait for NATS before its gateway stops reading clients


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("NATS publish failed: %s", task.exception())




