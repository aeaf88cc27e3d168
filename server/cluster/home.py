"""The home node's side of the cluster: it runs every forwarded request and answers through NATS.

The home subscribes to ``<name>.home.in`` only while it holds the lease. Frames of one connection
are handled one after another, in the order the gateway received them (as on a local
connection), by the same :meth:`server.app.App.on_frame` a local connection uses: the home does
not know which of its sessions are remote beyond this module and :mod:`server.cluster.remote`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protocol.codec import EncodedOnce, Encoding
from protocol.errors import ContractError
from server.cluster import settings, wire
from server.cluster.remote import Frame, NodeLink, RemoteSession, Seen
from server.handlers.accounts import check_connection_slot, standing_token_owner
from server.handlers.message_extras import event_of, message_obj
from server.media.uploads import is_sha256, media_file
from server.metrics import METRICS
from server.session import CLOSE_POLICY, CLOSE_TRY_AGAIN

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from server.app import App
    from server.state import User
    from server.storage.base import HistoryRow

log = logging.getLogger("qunguan.cluster")
# Frames one gateway connection may have waiting at the home (four times what a gateway lets it have
# unanswered: see Home._enqueue).
MAX_INBOX = 4 * 64

# A gateway unheard of this many lease periods is gone: its connections are let go here.
GATEWAY_SILENCE_LEASES = 3
# A gateway instance replaced by a newer one with its node id is remembered this long: were it to
# talk again meanwhile, two running nodes share that node id (a live gateway talks every second).
TWIN_MEMORY_SECONDS = 60.0
TWIN_STOP_EVERY = 5.0  # how often a refused instance that still talks is told again to stop


MEDIA_PIECE_MAX = 8 * 1024 * 1024  # a piece of a file asked by a gateway: at most this (a NATS message holds less)


def _piece(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


class Reattach:
    """A connection that was logged in under the previous home, re-registered with this one."""

    __slots__ = ("user_id", "token_hash")

    def __init__(self, user_id: str, token_hash: bytes) -> None:
        self.user_id = user_id
        self.token_hash = token_hash


def nothing_owed(gid: str, seq: int) -> None:
    """``Context.forget_owed`` while no takeover's catch-up is under way."""


class Tail:
    """The previous home's last messages, read once when this home takes over, before it writes
    anything (so each group's are exactly the previous home's: every seq up to the one loaded),
    for the gateways' connections that never got them as ``message`` events: a home killed after
    committing messages and before publishing their events (its last instants) leaves them unsent.

    Only what the previous home sent as ``message`` events and members still see as sent: not a
    message held for review (still held, rejected, or released: that one went out as
    ``message_released``), nor a deleted one; an edited one as it reads now. The messages of the
    last ``wire.catch_up_seconds`` only, at most ``wire.CATCH_UP_PER_GROUP`` per group; kept as
    long (``until``) for the gateways to re-register. Each event is encoded once for everyone
    (built on first use), as the previous home's fan-out would have.
    """

    __slots__ = ("app", "groups", "until", "_events")

    def __init__(self, app: App, rows: list[tuple[str, HistoryRow]], until: float) -> None:
        self.app = app
        self.groups: dict[str, list[HistoryRow]] = {}
        for gid, row in rows:  # (by group, ascending seq)
            self.groups.setdefault(gid, []).append(row)
        self.until = until
        self._events: dict[tuple[str, int], EncodedOnce] = {}

    def forget(self, gid: str, seq: int) -> None:
        """Message ``seq`` of ``gid`` changed after the takeover (edited, recalled, removed): a
        connection re-attached later must not get it as it read then, nor miss the change, which
        went only to the connections attached by then. It is not sent at all: the connection sees
        the gap in seq and reads ``history``, which has it as it is now."""
        rows = self.groups.get(gid)
        if rows is not None:
            self.groups[gid] = [r for r in rows if r.seq != seq]
        self._events.pop((gid, seq), None)

    def _event(self, gid: str, row: HistoryRow) -> EncodedOnce:
        key = (gid, row.seq)
        ev = self._events.get(key)
        if ev is None:
            ev = self._events[key] = EncodedOnce(event_of(message_obj(self.app, gid, row)))
        return ev

    def owed(self, user: User, relayed: Mapping[str, int], since: int) -> Iterator[tuple[str, EncodedOnce]]:
        """The ``message`` events of these messages that a connection of ``user`` would have had
        from the previous home and did not: in a live group of the user's, after their join
        point; after the last seq of the group its node relayed (``relayed``: the events of a
        group reach a node in ascending seq, so none after it arrived); and sent at ``since`` or
        later, when the connection was logged in (the home's clock, ms: one sent before it logged
        in it may have read with ``history``). Each group's in ascending seq, with its group."""
        mine = user.groups
        tail = self.groups
        if not mine or not tail:
            return
        gids = [gid for gid in tail if gid in mine] if len(tail) < len(mine) else [gid for gid in mine if gid in tail]
        groups = self.app.state.groups
        for gid in gids:
            g = groups.get(gid)
            m = g.members.get(user.user_id) if g is not None and g.alive else None
            if m is None:
                continue
            after = max(relayed.get(gid, 0), m.joined_seq)
            for row in tail[gid]:
                if row.seq > after and row.ts >= since:
                    yield gid, self._event(gid, row)


# How long a stopping home lets the requests it is handling finish (Home.close): a write's own
# bound is the store's statement timeout, and a stop must not wait on a database that is gone.
CLOSE_GRACE_SECONDS = 10.0


class Home:
    def __init__(self, app: App, publish: Callable[[str, bytes], None], subjects: wire.Subjects, epoch: int,
                 max_bytes: int, max_reply: int | None = None, me: tuple[str, str, int] | None = None) -> None:
        self.app = app
        # This home's own node id, instance and start stamp (see wire.STAMP): a gateway with the
        # same node id is its twin (see _twin_of_home). None: not known (a test's bare home).
        self.me = me
        # Called once when this home is the newer of it and a gateway twin: it must go (node.py).
        self.on_twin: Callable[[str], None] = lambda why: None
        self.twin_found = False
        self._publish = publish
        self.subjects = subjects
        self.epoch = epoch
        self.max_bytes = max_bytes
        self.max_reply = max_reply or max_bytes  # the broker's payload limit: one request-reply answer
        self.links: dict[str, NodeLink] = {}  # gateway instance -> its link
        self.reconnections = 0  # to NATS, told in the heartbeat: the gateways then re-register
        # Instances of a node id that a later-heard instance replaced: instance -> (node id, the
        # one that replaced it, when, that one's start stamp or None).
        self.replaced: dict[str, tuple[str, str, float, int | None]] = {}
        # Instances refused as the twin of a running node with the same id: instance -> (node id,
        # when it was last told to stop, when it was last heard).
        self.refused: dict[str, tuple[str, float, float]] = {}
        # The connections counted here in the connections per address within the last window
        # (gateway instance, connection number) -> when: each once, even when a gateway's link is
        # dropped and made again (a re-registration then names them again).
        self.counted: dict[tuple[str, int], float] = {}
        # Of those, the ones a LIVE named while their address was unknown (a frame made their
        # session, their OPEN was lost) -> when they opened: put in the connections per address
        # when their address is known (see _place), never under "".
        self.unplaced: dict[tuple[str, int], float] = {}
        # The previous home's last messages (set by node._promote; None: gone, see sweep).
        self.tail: Tail | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False  # (close: requests arriving from then on are not started)

    # -- inbound ---------------------------------------------------------------------------
    async def on_message(self, msg: Msg) -> None:
        items = wire.unpack_stream(msg.data)
        node_id, instance = next(items)
        first = next(items, None)
        started: int | None = None  # (not said by a gateway of the previous version)
        if first is not None and first[0] == wire.STAMP:
            epoch = first[1]
            if len(first) > 2 and isinstance(first[2], int):
                started = first[2]
        else:  # a gateway of the previous version (a rolling restart): no stamp
            epoch = self.epoch
            items = itertools.chain([first] if first is not None else [], items)
        if epoch > self.epoch:
            # The gateway has heard a newer home: this one lost its lease (it stops as soon as it
            # hears that home too). What it would run now could not be written anyway (fenced),
            # but its other effects (an SMS code sent, an answer read from a stale state) would
            # be real, and the new home runs the same frame.
            return
        link = self.links.get(instance)
        if link is None:
            if self.me is not None and node_id == self.me[0] and not self._twin_of_home(instance, started):
                return  # (this run of the node itself, or a twin this home gives way to)
            if instance in self.refused or self._twin_talks(node_id, instance, started):
                self._refuse_again(instance)
                return
            link = self._new_link(node_id, instance, started)
        link.last_heard = time.monotonic()
        for item in link.assembler.items(items):
            kind = item[0]
            if kind == wire.REQ and epoch < self.epoch:
                # Sent to the previous home: this gateway has not heard this one yet, and has not
                # re-registered the connection (logged in or not). It answers the request
                # `internal` itself when it hears this home; run here, it would find no login.
                continue
            if kind == wire.REQ:
                rs = link.sessions.get(item[1])
                if rs is not None and rs.closing:
                    rs.close_again()
                    continue
                if rs is None:  # its OPEN was lost (the home changed in between): the address is unknown
                    enc = Encoding.JSON if isinstance(item[2], str) else Encoding.MSGPACK
                    rs = self._session(link, item[1], "", enc, None)
                # (A gateway of the previous version sends no forward number.)
                self._enqueue(rs, Frame(item[2], item[3] if len(item) > 3 else None))
            elif kind == wire.OPEN:
                _, conn, ip, enc, again, port = item
                self._opened(link, conn, ip, wire.encoding_of(enc), again, port)
            elif kind == wire.GONE:
                self._gone(link, item[1])
            elif kind == wire.LIVE:
                live = set(item[1])
                for conn in [c for c in link.sessions if c not in live]:
                    self._gone(link, conn)
                if len(item) > 2 and isinstance(item[2], list):  # (a previous version's gateway: no ages)
                    self._count_live(link, item[1], item[2])
            elif kind == wire.SEEN:
                # Re-registering after a takeover (the gateway last heard an older home): what it
                # relayed from that one, for the catch-up of each connection as it is re-attached.
                if item[1] < self.epoch and self.tail is not None:
                    link.seen = Seen(dict(item[2]), {conn: at for conn, at in item[3]})
            elif kind == wire.REATTACH:
                _, conn, ip, enc, user_id, token_hash, port = item
                rs = link.sessions.get(conn)
                if rs is None:
                    rs = self._session(link, conn, ip, wire.encoding_of(enc), port)
                elif rs.closing:
                    rs.close_again()
                    continue
                else:  # (made by a frame whose OPEN was lost: its address was unknown)
                    rs.ip, rs.port = ip, port
                    self._place(link, conn, ip)
                self._enqueue(rs, Reattach(user_id, token_hash))

    def _new_link(self, node_id: str, instance: str, started: int | None) -> NodeLink:
        # A gateway restarted under the same node id: the old instance's connections are gone.
        for old in [lk for lk in self.links.values() if lk.node_id == node_id]:
            self._drop_link(old)
            self.replaced[old.instance] = (node_id, instance, time.monotonic(), started)
        subject = self.subjects.node(node_id)
        link = NodeLink(node_id, instance, lambda: self.epoch, lambda data: self._publish(subject, data),
                        self.max_bytes, self.app.now_ms)
        self.links[instance] = link
        log.info("gateway %s (instance %s) joined", node_id, instance)
        return link

    def _twin_talks(self, node_id: str, instance: str, started: int | None) -> bool:
        """Whether ``instance`` is one another instance of its node id replaced, still talks, and
        is the newer of the two (it is then refused: the caller tells it to stop). A restarted
        node's old run is gone and says nothing; one that talks again means two nodes run with
        one node id, which would replace each other's link at their every message, their clients
        closed with 1013 over and over. The newer one is refused (told to stop, then ignored).

        Newer is the later start stamp (``started``: the database's clock when the node started,
        in every message it sends; the instance ids break a tie), not the order this home heard
        them in: a home that took over hears the two in any order, and must refuse the same one
        as the home before it (which may have died before its STOP arrived). Without stamps (a
        node of the previous version), the one heard later is taken for the newer, as before."""
        known = self.replaced.pop(instance, None)
        if known is None:
            return False
        _, other, _, other_started = known
        if started is not None and other_started is not None:
            talking_is_newer = (started, instance) > (other_started, other)
        else:
            talking_is_newer = False
        newer, older = (instance, other) if talking_is_newer else (other, instance)
        log.error("two running nodes use the node id %s (instances %s and %s): the newer one (%s) is "
                  "told to stop; give every node its own cluster.node_id", node_id, older, newer, newer)
        self.refused[newer] = (node_id, 0.0, time.monotonic())
        if talking_is_newer:
            return True  # (the older one keeps its link)
        link = self.links.get(newer)
        if link is not None:
            self._drop_link(link)
        self._refuse_again(newer)
        return False

    def _twin_of_home(self, instance: str, started: int | None) -> bool:
        """A gateway with this home's own node id talks: whether to carry on with it (True: it
        is refused, the caller tells it to stop). Its link would never replace one of this home's
        (the home has none for itself), so _twin_talks cannot see it; without this, the two would
        run side by side for good, both answering ``<name>.id.<node_id>`` and sharing one
        subject, and a restart of either would be refused as a twin of the other.

        Of the two, the newer by the same rule as _twin_talks (the later ``(started, instance)``;
        a gateway without a stamp, of the previous version, is taken for the newer: this home
        was running first) is the one that goes: the gateway is told to stop, or this home is
        (``on_twin``, once), which hands the lease over and stops as a refused node does."""
        assert self.me is not None
        node_id, mine, my_start = self.me
        if instance == mine:
            return False  # (an echo of what this node sent as a gateway, before it became the home)
        if instance in self.refused:
            return True
        home_is_newer = started is not None and (my_start, mine) > (started, instance)
        newer, older = (mine, instance) if home_is_newer else (instance, mine)
        if home_is_newer:
            if not self.twin_found:
                self.twin_found = True
                log.error("two running nodes use the node id %s (instances %s and %s): this home (%s) is the "
                          "newer one and stops; give every node its own cluster.node_id", node_id, older, newer,
                          newer)
                self.on_twin(f"another running node uses the node id {node_id} (instance {older}, started "
                             "before this one); give every node its own cluster.node_id")
            return False
        log.error("two running nodes use the node id %s (instances %s and %s): the newer one (%s), a gateway "
                  "beside this home, is told to stop; give every node its own cluster.node_id",
                  node_id, older, newer, newer)
        self.refused[instance] = (node_id, 0.0, time.monotonic())
        return True

    def _refuse_again(self, instance: str) -> None:
        node_id, told, _ = self.refused[instance]
        now = time.monotonic()
        if now - told >= TWIN_STOP_EVERY:
            told = now
            why = (f"another running node uses the node id {node_id}; give every node its own "
                   "cluster.node_id")
            # Not on a link (nothing numbered): the instance's connections are not served here any more.
            self._publish(self.subjects.node(node_id), wire.pack([self.epoch, instance]) + wire.pack([wire.STOP, why]))
        self.refused[instance] = (node_id, told, now)

    def _session(self, link: NodeLink, conn: int, ip: str, encoding: Encoding, port: int | None) -> RemoteSession:
        rs = link.sessions[conn] = RemoteSession(link, conn, ip, encoding, port)
        self.app.sessions.add(rs)  # every connection of the service, for notices to everyone
        self._place(link, conn, ip)  # (a LIVE may have counted it before: a link made again)
        return rs

    def _opened(self, link: NodeLink, conn: int, ip: str, encoding: Encoding, again: bool, port: int | None) -> None:
        rs = link.sessions.get(conn)
        if rs is not None:
            if rs.closing:
                rs.close_again()
                return
            # Made by a frame whose OPEN was lost, its address was unknown till now (the gateway
            # holds the socket: the address it says is the one).
            rs.ip, rs.port = ip, port
            self._place(link, conn, ip)
        else:
            rs = self._session(link, conn, ip, encoding, port)
        # Re-registered (`again`): admitted when it opened, by the home then; it is counted here by
        # the LIVE that follows (see _count_live). A connection that opened while there was no
        # home is sent as new (see Gateway._reattach_all): counted and judged now.
        key = (link.instance, conn)
        if again or key in self.counted:
            return
        now = time.monotonic()
        self.counted[key] = now
        if self.app.connections_per_ip.hit(ip, now) > 0:  # counted service-wide, here
            METRICS.rate_limited("connections_per_ip")
            rs.close(CLOSE_POLICY, "too many connections")

    def _count_live(self, link: NodeLink, conns: list[int], ages: list[float]) -> None:
        """A gateway's re-registration: count each of its connections not counted here yet, as of
        when it opened, without refusing it (a home admitted it then, or the gateway thought one
        did: its OPEN may have died with that home). The previous home's count is not known here,
        so every connection that exists after a takeover is counted once by the new home, and the
        connections an address opens next are judged with them."""
        now = time.monotonic()
        window = self.app.connections_per_ip
        for conn, age in zip(conns, ages, strict=False):
            if not isinstance(conn, int):
                continue
            rs = link.sessions.get(conn)
            key = (link.instance, conn)
            if rs is None or key in self.counted or not isinstance(age, (int, float)):
                continue
            at = now - max(0.0, float(age))
            if at > now - window.window:  # (older ones have left the window: nothing to count)
                self.counted[key] = at
                if rs.ip:
                    window.record(rs.ip, at, now)
                else:  # its OPEN was lost: counted under its address once that is known
                    self.unplaced[key] = at

    def _place(self, link: NodeLink, conn: int, ip: str) -> None:
        """A connection whose address was unknown when a LIVE counted it (see _count_live) now has
        one: it is counted there, once, as of when it opened."""
        if not ip:
            return
        at = self.unplaced.pop((link.instance, conn), None)
        if at is not None:
            self.app.connections_per_ip.record(ip, at, time.monotonic())

    def _gone(self, link: NodeLink, conn: int) -> None:
        link.closed.discard(conn)
        rs = link.sessions.pop(conn, None)
        if rs is not None:
            rs.closing = True
            rs.inbox.clear()
            self.app.sessions.discard(rs)
            self.app.detach(rs)

    def _drop_link(self, link: NodeLink) -> None:
        for conn in list(link.sessions):
            self._gone(link, conn)
        link.drop()
        self.links.pop(link.instance, None)
        log.info("gateway %s (instance %s) left", link.node_id, link.instance)

    def sweep(self, lease_seconds: float) -> None:
        """Let go of gateways not heard from for a while (killed nodes send no GONE)."""
        now = time.monotonic()
        if self.tail is not None and now > self.tail.until:
            self.tail = None  # (gateways re-register within a lease period or two of the takeover)
            self.app.forget_owed = nothing_owed
            for link in self.links.values():
                link.seen = None
        cutoff = now - GATEWAY_SILENCE_LEASES * lease_seconds
        for link in [lk for lk in self.links.values() if lk.last_heard < cutoff]:
            self._drop_link(link)
        horizon = now - self.app.connections_per_ip.window
        for key in [k for k, when in self.counted.items() if when <= horizon]:
            del self.counted[key]
            self.unplaced.pop(key, None)
        forget = now - TWIN_MEMORY_SECONDS
        for instance in [i for i, (_, _, when, _) in self.replaced.items() if when < forget]:
            del self.replaced[instance]
        for instance in [i for i, (_, _, heard) in self.refused.items() if heard < forget]:
            del self.refused[instance]

    # -- one connection's requests, in order -------------------------------------------------
    def _enqueue(self, rs: RemoteSession, item: Any) -> None:
        if self._closing:
            return  # (not started: its gateway answers it when the next home is heard, see close)
        if len(rs.inbox) >= MAX_INBOX:
            # The gateway lets a connection have MAX_WAITING requests unanswered, and answers those
            # past their deadline itself, freeing room for more: a home slower than that (a slow
            # database) would queue without end. The client reconnects and asks again.
            if not rs.closing:
                log.warning("connection %s of %s has %d frames waiting at the home: closed", rs.conn,
                            rs.link.node_id, len(rs.inbox))
                rs.close(CLOSE_TRY_AGAIN, "too many requests waiting; reconnect")
            rs.inbox.clear()
            return
        rs.inbox.append(item)
        if not rs.busy:
            rs.busy = True
            task = asyncio.get_running_loop().create_task(self._drain(rs))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _drain(self, rs: RemoteSession) -> None:
        try:
            while rs.inbox:
                item = rs.inbox.popleft()
                if isinstance(item, Reattach):
                    try:
                        await self._reattach(rs, item)
                    except Exception:  # (the token's read failed: a database going away as the home changed)
                        # The gateway takes it as logged in and would send its frames on to a home
                        # that does not: closed, so the client connects and logs in again.
                        log.exception("re-attaching connection %s of %s failed", rs.conn, rs.link.node_id)
                        rs.close(CLOSE_TRY_AGAIN, "reconnect")
                        rs.inbox.clear()
                else:  # (whatever answers it, then or later, names its forward number: see Answering)
                    rs.handling = item.number
                    try:
                        await self.app.on_frame(rs, item.data, item.number)
                    finally:
                        rs.handling = None
        finally:
            rs.busy = False
            if rs.link.sessions.get(rs.conn) is not rs:
                # Gone while a handler ran (see _gone): a login it finished after is undone, as
                # one node detaches a connection once its last frame is handled.
                self.app.detach(rs)

    async def _reattach(self, rs: RemoteSession, r: Reattach) -> None:
        """Log a connection in again with the token it used, if that token still stands."""
        app = self.app
        if rs.user is not None and rs.user.user_id == r.user_id and rs.token_hash == r.token_hash:
            return
        uid = await standing_token_owner(app, r.token_hash)  # (a logout meanwhile: None)
        user = app.state.users.get(uid) if uid == r.user_id else None
        if user is None or not user.active or rs.closing:
            rs.close(CLOSE_POLICY, "log in again")
            return
        try:  # (the account's other connections may have taken every slot while this one was cut off)
            check_connection_slot(app, rs, user)
        except ContractError:
            rs.close(CLOSE_POLICY, "log in again")  # (and that login is refused with its cause, to say why)
            return
        app.attach(rs, user, r.token_hash)  # (no await since the check: the slot cannot be taken meanwhile)
        self.catch_up(rs)  # (no await since the attach: no new message of its groups came first)

    def start_catch_up(self, tail: Tail) -> Tail:
        """Keep ``tail`` (the previous home's last messages) for the connections re-attached
        until it expires; a message changed meanwhile is left out of it (``Context.forget_owed``)."""
        self.tail = tail
        self.app.forget_owed = tail.forget
        return tail

    def catch_up(self, rs: RemoteSession) -> None:
        """Send a connection re-attached after a takeover the previous home's last messages it
        never got (see Tail), before any new message of those groups can reach it."""
        seen, tail, user = rs.link.seen, self.tail, rs.user
        if seen is None or tail is None or user is None:
            return
        since = seen.since.pop(rs.conn, None)
        if since is None:
            return
        link, enc, conn = rs.link, rs.encoding, rs.conn
        last: dict[str, int] = {}  # group -> the position of its previous item (see NodeLink.catch_up)
        for gid, ev in tail.owed(user, seen.relayed, since):
            last[gid] = link.catch_up(ev, enc, conn, last.get(gid, -1))

    # -- operator commands from other nodes ------------------------------------------------------
    async def on_admin(self, msg: Msg) -> None:
        """Each command in a task of its own: the NATS client hands a subscription its messages one
        at a time, and a long command (an export) must not hold up those typed after it, as on the
        home's own operator socket, where they run side by side."""
        if self._closing:
            # Not started at a stop, as a request; said at once, not after the gateway's whole wait
            # for an answer (up to 120 s) with "did not answer", which would leave it unsure whether it ran.
            with contextlib.suppress(Exception):  # (NATS going away too: the gateway's wait ends it)
                await msg.respond(wire.pack({"ok": False, "error": (
                    "the home node is stopping; the command did not run: try again in a few seconds")}))
            return
        task = asyncio.get_running_loop().create_task(self._admin(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _admin(self, msg: Msg) -> None:
        from server.operator.channel import CURRENT, Operator, forwarded_operator

        name, role, uid, named, line = wire.unpack_stream(msg.data).__next__()
        operator = self.app.operator
        who = forwarded_operator(tuple(self.app.cfg.operators), Operator(name, role, uid, named))
        if operator is None:
            reply: dict[str, Any] = {"ok": False, "error": "the home node is starting; try again"}
        elif isinstance(who, str):
            log.warning("operator command from a gateway refused: %s", who)
            reply = {"ok": False, "error": who}
        else:
            CURRENT.set(who)
            reply = await operator.run(line)
        data = wire.pack(reply)
        if len(data) > self.max_reply:  # NATS would refuse it: the gateway would wait, then say "no answer"
            data = wire.pack({"ok": False, "error": (
                f"the command ran on the home node, but its result ({len(data)} bytes) is over the "
                f"broker's message limit ({self.max_reply} bytes): run it with qunguan admin on the home node "
                "to see it")})
        await msg.respond(data)

    async def on_media(self, msg: Msg) -> None:
        """A piece of a stored file for a gateway whose own media folder lacks it (Node.media_bytes):
        ``[sha256, offset, length]`` in, the bytes out (none for a file not here, or a bad request).
        Awaited in the subscription's own callback, never in a task of its own (as on_admin's are):
        NATS hands it one request at a time, so the home reads one piece and holds one open file
        whatever the number of downloads on however many gateways; that is its bound, in place of
        the read semaphore a node's own downloads take (each gateway's take its own node's limits,
        server/media/web.py). tests/server/test_cluster_media_relay.py."""
        sha256, offset, length = "", 0, 0
        try:
            sha256, offset, length = next(wire.unpack_stream(msg.data))
            ok = (is_sha256(sha256) and type(offset) is int
                  and type(length) is int and offset >= 0 and 0 < length <= MEDIA_PIECE_MAX)
        except (ValueError, TypeError, StopIteration):
            ok = False
        data = b""
        if ok:
            try:
                data = await asyncio.to_thread(_piece, media_file(self.app.cfg.media.path, sha256), offset, length)
            except OSError:
                data = b""
        await msg.respond(data)

    async def on_info(self, msg: Msg) -> None:
        html = self.app.info_page_html(msg.data.decode(errors="replace"))
        await msg.respond((html or "").encode())

    def heartbeat(self, node_id: str, released: bool = False) -> bytes:
        """This home's heartbeat; ``released``: its last, once it has given the lease back."""
        sent = {link.instance: [link.stream, link.sent] for link in self.links.values()}
        first = [node_id, self.epoch, wire.RELEASED] if released else [node_id, self.epoch]
        return (wire.pack(first) + wire.pack(self.reconnections) + wire.pack(sent) + wire.pack(wire.WRITES_COUNTED)
                + wire.pack(settings.digests(self.app.cfg)))

    async def close(self, grace: float = CLOSE_GRACE_SECONDS) -> bool:
        """Stop starting requests and let those being handled finish, their writes and the events
        that follow them included, for up to ``grace`` seconds; then cancel what is left. True when
        nothing was left: only then may the gateways take the hand-over as clean (RELEASED, no
        ``resync``). A handler cancelled at its ``await commit`` had its write carried out all the
        same, after this home's last heartbeat, and the events it would have published after it
        never went: members would go on seeing what changed (a member who left, a role) until
        they reloaded. Requests not started are dropped; their gateways answer them."""
        self._closing = True
        for link in self.links.values():
            for rs in link.sessions.values():
                rs.inbox.clear()  # (each drain ends with the request it is handling)
        left = set(self._tasks)
        if left:
            _, left = await asyncio.wait(left, timeout=grace)
        for task in left:
            task.cancel()
        if left:
            await asyncio.gather(*left, return_exceptions=True)
        return not left

