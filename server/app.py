"""The running server: listener, connection loop, dispatch, lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import http
import logging
import os
import secrets
import signal
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse
from websockets.protocol import State as WsState
from websockets.typing import Subprotocol

from governance.codes import CodeBook
from governance.ratelimit import AddressCount, AddressWindow, WindowCounter
from protocol.codec import SUBPROTOCOLS, Encoding
from protocol.errors import ContractError, FrameError
from protocol.messages import OP_TYPES, RequestCode, decode_request
from protocol.requests import UNAUTHENTICATED_OPS, error_reply, ok_reply
from server import fdlimit, gcpolicy, infopage, limits, netlog, operations, proxy, record, retention, sdnotify
from server.admission import HandshakeGate
from server.answer_writes import close_scope, open_scope, settled
from server.cluster.remote import Answering, HomeUnreachable
from server.config import Config, file_problems
from server.content import build_filter
from server.handlers import DEFERRED, load_all
from server.handlers.common import MANAGING_OPS, GroupClosed, count_managing, still_active
from server.logs import Repeats
from server.loopmon import LoopMonitor
from server.media import cleanup as media_cleanup
from server.media import web as media_web
from server.media.service import MediaService
from server.metrics import METRICS
from server.operator import OperatorChannel, freeze_upkeep
from server.providers import make_id_verifier, sms_wait_seconds
from server.security import Passwords, vault_for
from server.session import CLOSE_POLICY, CLOSE_TRY_AGAIN, Session
from server.sms import make_sms
from server.state import NO_AGREEMENT, Agreement, State, User
from server.storage.base import Store, open_store
from server.storage.changes import PurgeCodes
from server.web import routes as web_routes

if TYPE_CHECKING:
    from server.cluster.node import ClusterNode

log = logging.getLogger("qunguan")
# What a request that could not read the database is told (an outage, a restart, a lock held too long):
# not a fault in the server, so no traceback; the client may try again.
UNREADABLE = "the database could not be reached; try again shortly"
STORAGE_FULL = "the server's storage is full; try again later"
TOO_MANY_NOT_LOGGED_IN = "too many connections from this address are not logged in: log in on one, or try again later"

HOUR = 3600.0
# A background job ended though it runs for the server's whole life (a bug): the server stops, after
# its usual drain, with this status (EX_SOFTWARE) so that its supervisor starts it again.
JOB_ENDED_STATUS = 70
STALL_LOG_MS = 50.0  # a loop iteration longer than this is logged with the monitor's verdict
CLOSE_TIMEOUT = 2.0  # seconds a peer has to answer our close frame; and, at a stop, to finish its opening handshake


def wall_ms() -> int:
    return int(time.time() * 1000)


class App:
    """Everything a handler needs: config, store, in-memory state, clocks, providers."""

    def __init__(self, cfg: Config, clock: Callable[[], int] = wall_ms) -> None:
        self.cfg = cfg
        self.now_ms = clock
        self.randbelow: Callable[[int], int] = secrets.randbelow
        self.store: Store = open_store(cfg)
        self._unreadable = Repeats(30.0)  # (see UNREADABLE)
        self.vault = vault_for(cfg)
        self.passwords = Passwords(cfg.identity.argon2_time_cost, cfg.identity.argon2_memory_kib,
                                   cfg.rate_limits.password_checks_per_ip, cfg.rate_limits.ipv6_prefix_length,
                                   cfg.rate_limits.spare_loopback)
        self.sms = make_sms(cfg.identity)
        self.id_verifier = make_id_verifier(cfg.identity)  # awaited by verify_identity
        self.sms_wait = sms_wait_seconds(cfg.identity)  # the longest sending a code may take
        # A code is kept as a MAC under the lookup key, so the store may hold it (server/limits.py).
        self.codes = CodeBook(mac=lambda phone_key, code: self.vault.lookup("sms_code", f"{phone_key}:{code}"))
        rl = cfg.rate_limits
        self.codes_per_phone = WindowCounter(rl.code_requests_per_phone_per_hour, HOUR)
        # The limits per client address count its network (an IPv6 address by its prefix), inside
        # the counters themselves: every path (handlers, the handshake, a cluster home's counting,
        # the restore at start) hands them the full address, which the network log keeps.
        v6 = rl.ipv6_prefix_length
        self.codes_per_ip = AddressWindow(rl.code_requests_per_ip_per_hour, HOUR, v6)
        self.codes_per_service = WindowCounter(rl.code_requests_per_hour, HOUR)  # one key: SERVICE_WIDE
        self.failed_logins_per_ip = AddressWindow(rl.failed_logins_per_ip_per_hour, HOUR, v6)
        self.failed_codes_per_ip = AddressWindow(rl.failed_logins_per_ip_per_hour, HOUR, v6)
        self.failed_logins_per_user = WindowCounter(rl.failed_logins_per_ip_per_hour, HOUR)
        self.failed_logins_per_account = WindowCounter(rl.failed_logins_per_account,
                                                       rl.failed_logins_per_account_window_minutes * 60.0)
        self.logins_per_account = WindowCounter(rl.logins_per_account_per_hour, HOUR)
        spare = rl.spare_loopback
        self.connections_per_ip = AddressWindow(rl.connections_per_ip_per_minute, 60.0, v6, spare_loopback=spare)
        self.pre_auth = AddressCount(rl.unauthenticated_connections_per_ip, v6, spare)  # the sockets held here
        self.handshakes = HandshakeGate(cfg.server.handshakes_per_ip_per_second, cfg.server.handshakes_per_second, v6)
        self.reports_per_user = WindowCounter(rl.reports_per_hour, HOUR)
        self.reports_when_mostly_rejected = WindowCounter(rl.reports_per_hour_when_mostly_rejected, HOUR)
        self.appeals_per_user = WindowCounter(rl.appeals_per_day, 24 * HOUR)
        self.mention_all_per_group = WindowCounter(rl.mention_all_per_group_per_hour, HOUR)
        self.renames_per_user = WindowCounter(rl.renames_per_hour, HOUR)
        self.joins_per_user = WindowCounter(rl.joins_per_minute, 60.0)
        self.managing_per_user = WindowCounter(rl.managing_per_minute, 60.0)
        self.managing_types = frozenset(OP_TYPES[op] for op in MANAGING_OPS)
        self.sessions: set[Session] = set()
        self.forget_owed: Callable[[str, int], None] = lambda gid, seq: None  # (see Context; a cluster home's catch-up)
        self.handlers = load_all()
        # Dispatch on the request's type: decoding already named the op.
        self.dispatch = {OP_TYPES[op]: fn for op, fn in self.handlers.items()}
        self.op_names: dict[type, str] = {t: op for op, t in OP_TYPES.items()}
        self.open_types = frozenset(OP_TYPES[op] for op in UNAUTHENTICATED_OPS)
        self.state = State()  # loaded from the store by start()
        self.agreement: Agreement | None = None
        self.content = build_filter(cfg)
        self.media = MediaService(cfg, self.vault.media_url_key)
        self._server: Server | None = None
        self.freeze_at_start = False  # run() sets it: see start()
        self._jobs: list[asyncio.Task[None]] = []
        self._stopping = False
        self.job_ended = asyncio.Event()  # a background job ended unexpectedly: run() stops the server
        self.job_ended_why = ""
        self._record_open = False
        self.monitor = LoopMonitor(STALL_LOG_MS, self.store.in_flight, cfg.server.loop_monitor_tick_ms / 1000)
        self.quiet_connections = netlog.QuietConnections()
        self.purge_refused: str | None = None
        self.purges_by_hand = 0
        self.orphans_swept_at: float | None = None
        self.operator: OperatorChannel | None = None
        # operations (server/operations.py): real client IPs, TLS, readiness, metrics
        self.trusted = proxy.parse_networks(cfg.server.trusted_proxies)
        self.connection_class = proxy.connection_class(self.trusted, cfg.server.proxy_protocol,
                                                       cfg.server.handshake_timeout_seconds)
        self.ssl_context = operations.tls_context(cfg)
        self.readiness = operations.Readiness(self.store.ping)
        self.store.set_commit_observer(METRICS.observe_commit)
        METRICS.search_backlog.set_function(self.store.search_index_backlog)
        METRICS.writes_queued.set_function(self.store.queued)
        self.metrics_port: int | None = None
        # In a cluster (server/cluster/) this node runs the logic only while it is the home node;
        # until then it forwards its connections' frames to the node that is.
        self.cluster: ClusterNode | None = None
        if cfg.cluster.enabled:
            from server.cluster.node import ClusterNode

            self.cluster = ClusterNode(self)
            self.readiness.checks.append(self.cluster.ready)

    # -- lifecycle ---------------------------------------------------------
    async def start(self) -> None:
        self.open_files_limit = fdlimit.raise_limit()  # (before the store and the sockets open files)
        unwritable = file_problems(self.cfg)
        if unwritable:
            raise ValueError("; ".join(str(p) for p in unwritable))
        # The claim first: a server refused beside another must not migrate or checkpoint its store.
        await self.store.claim(cluster=self.cfg.cluster.name if self.cluster is not None else None)
        async with sdnotify.extending("opening the store (an upgrade's migrations may take a while)"):
            await self.store.open()
        await self.vault.bind(self.store, self.now_ms())
        self.store.set_record_key(self.vault.record_key())
        if self.cluster is None:
            await self.load_home()
        # What the load made is collected and frozen before the listener opens (run() tunes the
        # collector from there): done after it, the full collection held the loop 145-229 ms just as
        # the reconnections after a restart came in. Only for the process's own server: an App
        # started in another's process (a test's) would freeze, and keep, everything alive there.
        if self.freeze_at_start:
            gcpolicy.GcPolicy.freeze_all()
        s = self.cfg.server
        self._server = await serve(
            self._connection,
            s.host,
            s.port,
            subprotocols=[Subprotocol(p) for p in SUBPROTOCOLS],
            select_subprotocol=_select_subprotocol,
            process_request=self._process_request,
            process_response=_sniff_proof,
            create_connection=self.connection_class,
            ssl=self.ssl_context,
            max_size=s.max_frame_bytes,
            compression="deflate" if s.compression else None,
            ping_interval=30,
            ping_timeout=30,
            close_timeout=CLOSE_TIMEOUT,  # a peer that ignores our close frame is dropped after this
            backlog=s.listen_backlog,  # (asyncio's default, 100, overflowed under bursts of reconnects)
            open_timeout=s.handshake_timeout_seconds,  # the bound; each connection draws its own (server/admission.py)
        )
        self.operator = OperatorChannel(self, self.cfg.admin.socket)
        await self.operator.start()
        self.monitor.start()
        self.start_job(self.quiet_connections.run_forever(self), "netlog-quiet")
        self.start_job(fdlimit.watch(self.open_files_limit), "open-files")
        if self.cfg.metrics.port:  # every node: its own connections, loop and store
            try:
                self.metrics_port = METRICS.serve(self.cfg.metrics.host, self.cfg.metrics.port)
            except OSError as err:  # (the bare errno named neither the key nor the address)
                raise ValueError(f"metrics.port = {self.cfg.metrics.port} on {self.cfg.metrics.host}: "
                                 f"{err.strerror or err}") from err
        # The store is probed first: /readyz then says what a node is waiting for while it connects
        # to NATS (which it keeps trying while the broker is out of reach), not "store not probed yet".
        await self.readiness.probe_once()
        self.start_job(self.readiness.run(), "readiness")
        if self.cluster is None:
            self.start_jobs()
        else:
            await self.cluster.start()

    async def load_home(self, ahead: State | None = None) -> None:
        """Load what the logic needs: the state, the agreement (and a word in the log if the record
        has an entry without a MAC: never sealed here, see server/record.py; a warning while no
        agreement is published). On one node at start; in a cluster when this node becomes the home
        node, where ``ahead`` is the state it loaded while it made sure the home was gone, checked
        to be the database's still (server/cluster/ahead.py)."""
        await record.report_unsealed(self)
        self._record_open = True
        if ahead is not None:
            self.state = ahead
        else:
            # Loading allocates millions of objects that all live on: a collection during the load
            # would walk them again and again (about 3x slower for a million users). tune_gc follows.
            gc.disable()
            try:
                self.state = await self.store.load_state(self.now_ms(), self.cfg.groups.activity_window_days)
            finally:
                gc.enable()
        await limits.restore(self)  # the codes and rate-limit windows of the process before
        self.agreement, accepted = await self.store.load_agreement()
        for uid in accepted:
            user = self.state.users.get(uid)
            if user is not None and self.agreement is not None:
                user.accepted_version = self.agreement.version
        if self.agreement is None:
            log.warning(NO_AGREEMENT)
        self._warn_of_owners_blacklisted_before()

    def _warn_of_owners_blacklisted_before(self) -> None:
        """A live group whose owner is blacklisted: left by a blacklisting from before groups were
        handed on with it (an upgrade reviewer's find: nobody could run such a group). Said at each
        start until the operator settles it; operations.md "Upgrading" says how."""
        users = self.state.users
        stuck = sorted(g.group_id for g in self.state.groups.values()
                       if g.alive and (owner := users.get(g.owner_id)) is not None and owner.blacklisted)
        if stuck:
            listed = ", ".join(stuck[:20]) + (", ..." if len(stuck) > 20 else "")
            log.warning("%d live group(s) owned by a blacklisted account, from a blacklisting before groups were "
                        "handed on with it: %s; close them (qunguan admin close-group), or lift that blacklist "
                        "sanction (qunguan admin lift) and blacklist again, which hands them on", len(stuck), listed)

    def start_jobs(self) -> None:
        """The background jobs: once per service, so in a cluster only on the home node."""
        self.start_job(self._housekeeping(), "housekeeping")
        self.start_job(self._age_sent_ids(), "sent-ids")
        self.start_job(retention.run_forever(self), "retention")
        self.start_job(media_cleanup.run_forever(self), "media-cleanup")
        self.start_job(record.run_checkpoints(self), "record-checkpoints")
        self.start_job(freeze_upkeep.run_forever(self), "freeze-upkeep")
        if self.cfg.metrics.port:  # the review queues are the service's: counted by the home only
            self.start_job(operations.refresh_queue_gauges(self), "queue-gauges")

    def start_job(self, job: Coroutine[None, None, None], name: str) -> None:
        """Run a background job for the server's whole life, watched by :meth:`_job_done`."""
        task = asyncio.create_task(job, name=name)
        task.add_done_callback(self._job_done)
        self._jobs.append(task)

    def _job_done(self, task: asyncio.Task[None]) -> None:
        """A background job never ends by itself: each catches the errors it expects and tries again
        later. One that ends anyway (a bug) would leave the server running without it, unnoticed:
        no more checkpoints of the record, no retention purge, a stale /readyz. Crash-only, as a
        cluster node whose lease or tick task ends: logged with its traceback, and the server stops
        (:func:`run`: the usual drain, then exit status ``JOB_ENDED_STATUS``) to be started again."""
        if task.cancelled() or self._stopping:
            return
        err = task.exception()
        what = f"ended with {err!r}" if err is not None else "returned"
        self.job_ended_why = f"the background job {task.get_name()} {what}"
        log.error("%s: the server stops (exit status %d)", self.job_ended_why, JOB_ENDED_STATUS, exc_info=err)
        self.job_ended.set()

    def reload(self) -> None:
        """SIGHUP: every key that can change at run time (server/operations.py)."""
        operations.reload(self)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self._stopping = True  # (the jobs are cancelled below: that is no unexpected end)
        self.readiness.stopping = True
        if self.cluster is not None:
            self.cluster.begin_stop()  # (it takes no home lease while its connections close)
        METRICS.stop()
        await self.monitor.stop()
        self.handshakes.stop()  # a handshake waiting for its turn is answered 503 now
        for job in self._jobs:
            job.cancel()
        if self.operator is not None:
            await self.operator.stop()
        if self._server is not None:
            self._server.close()  # stops accepting, closes open connections with 1001
            await self._closed(self._server)
        self.quiet_connections.flush(self)  # (the connections closed above are counted by now)
        if self.cluster is not None:
            # Those rows stored before the home lets its lease go: a gateway takes it at once after
            # the release, and a write of this node's after that is fenced (refused, and taken for a
            # lost lease). (A write queued before this one is committed before it.)
            if self.cluster.is_home:  # (only a home's writes are fenced; and its store is open)
                with contextlib.suppress(Exception):
                    await self.store.apply()
            await self.cluster.stop()
        if self._record_open:  # leave the record's head outside the database
            try:
                await record.checkpoint(self)
            except Exception:
                log.exception("the final enforcement-record checkpoint could not be written")
        await self.store.close()
        await self.sms.aclose()
        await self.id_verifier.aclose()

    async def _closed(self, server: Server) -> None:
        """Wait until every connection has ended. websockets closes the open ones (each within its
        close timeout) but leaves those still in their opening handshake (a request sent in part, a
        page being answered) to finish or to time out, up to ``server.handshake_timeout_seconds``:
        the stop, and the final checkpoint and commit after it, would wait that long and be cut off by
        the service manager's own timeout. They get ``CLOSE_TIMEOUT``, as an open connection gets
        to answer its close frame, and are then dropped unanswered."""
        try:
            await asyncio.wait_for(asyncio.shield(server.wait_closed()), CLOSE_TIMEOUT)
            return
        except TimeoutError:
            pass
        dropped = proxy.abort_opening(self.connection_class)
        if dropped:
            log.info("dropped %d connections still in their opening handshake", dropped)
        await server.wait_closed()

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(60)
            now = self.now_ms()
            self.codes.prune(now / 1000)
            try:
                await self.store.apply(PurgeCodes(now))
            except Exception:
                log.exception("expired SMS codes could not be removed from the store")

    async def _age_sent_ids(self) -> None:
        """Once a second, move the last minutes' client_msg_ids to their digests and free the
        expired ones, a slice per loop iteration (server/sent_ids.py)."""
        while True:
            await asyncio.sleep(1)
            try:
                while self.state.sent_ids.age(self.now_ms()):
                    await asyncio.sleep(0)
                while self.state.sent_ids.free_some():
                    await asyncio.sleep(0)
            except Exception:  # a bug here must not end the job: memory would grow from then on
                log.exception("aging the client_msg_ids failed; trying again in a second")

    # -- HTTP side -----------------------------------------------------------
    def _process_request(
        self, conn: ServerConnection, request: HttpRequest
    ) -> HttpResponse | Coroutine[None, None, HttpResponse | None] | None:
        path = request.path.split("?", 1)[0]
        if not web_routes.host_allowed(request.headers.get_all("Host"), self.cfg.server.hostnames):
            return web_routes.misdirected()  # DNS rebinding: see server/web/routes.py
        if path == "/ws":
            refused = web_routes.refuse_foreign_origin(conn, request, self.cfg.server.allowed_origins)
            if refused is not None:  # cross-site WebSocket hijacking: see server/web/routes.py
                return refused
            ip = self._client_ip(conn, request)
            if self.connections_per_ip.hit(ip, time.monotonic()) > 0:
                METRICS.rate_limited("connections_per_ip")
                return conn.respond(http.HTTPStatus.TOO_MANY_REQUESTS, "too many connections\n")
            turn = self.handshakes.admit(ip)
            return None if turn is None else _after(conn, turn)
        if request.method not in web_routes.METHODS:  # the library passes every method on (server/web/routes.py)
            return web_routes.method_not_allowed()
        if (path == "/qr.svg" or path.startswith("/groups/")) and \
                self.connections_per_ip.hit(self._client_ip(conn, request), time.monotonic()) > 0:
            # Each request is a connection of its own; a QR code costs the node a drawing, and a
            # group page on a gateway a round trip to the home, so one address walking through
            # group ids is held to the pace of its connections.
            METRICS.rate_limited("connections_per_ip")
            return _not_kept(conn.respond(http.HTTPStatus.TOO_MANY_REQUESTS, "too many requests\n"))
        return web_routes.finish(self._http_answer(conn, request, path), head=request.method == "HEAD",
                                 tls=self.cfg.server.tls_cert is not None)

    def _http_answer(
        self, conn: ServerConnection, request: HttpRequest, path: str
    ) -> HttpResponse | Coroutine[None, None, HttpResponse]:
        """The answer to a plain-HTTP GET (or HEAD) of ``path``."""
        if path == "/healthz":
            return conn.respond(http.HTTPStatus.OK, "ok\n")
        if path == "/readyz":
            why = self.readiness.why_not()
            if why is None:
                return conn.respond(http.HTTPStatus.OK, "ready\n")
            return conn.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, f"not ready: {why}\n")
        if path.startswith(media_web.PREFIX):  # a signed, expiring media URL (server/media/web.py)
            return media_web.serve(self, request, conn, self._client_ip(conn, request))
        if path.startswith("/groups/"):
            return self._info_page(conn, path.removeprefix("/groups/"))
        page = web_routes.static_response(request)  # the web client: /, /app.js, ...
        if page is not None:
            return page
        return conn.respond(http.HTTPStatus.NOT_FOUND, "not found\n")

    def _client_ip(self, conn: ServerConnection, request: HttpRequest) -> str:
        """The real client: the PROXY header's or X-Forwarded-For's, only from a trusted proxy (server/proxy.py)."""
        ip = getattr(conn, "client_ip", None) or proxy.peer_ip(conn)
        if self.trusted and getattr(conn, "forwarded_trusted", True) and "X-Forwarded-For" in request.headers:
            forwarded, named = proxy.forwarded_client(ip, request.headers.get_all("X-Forwarded-For"), self.trusted)
            if named:  # (also when it names the peer's own address: the peer's port is the proxy's)
                conn.client_port = None  # type: ignore[attr-defined]  # the header names no port
            ip = forwarded
        conn.client_ip = ip  # type: ignore[attr-defined]  # a proxy.ClientConnection
        return ip

    def _info_page(self, conn: ServerConnection, gid: str) -> HttpResponse | Coroutine[None, None, HttpResponse]:
        if self.cluster is not None and not self.cluster.is_home:  # the home node knows the groups
            return self._remote_info_page(conn, gid)
        return self._info_response(conn, self.info_page_html(gid))

    async def _remote_info_page(self, conn: ServerConnection, gid: str) -> HttpResponse:
        assert self.cluster is not None
        try:
            html = await self.cluster.info_page(gid)
        except HomeUnreachable:  # (a failover: try again in a moment)
            resp = _not_kept(conn.respond(http.HTTPStatus.SERVICE_UNAVAILABLE,
                                          "the service is changing over; try again\n"))
            resp.headers["Retry-After"] = "5"
            return resp
        return self._info_response(conn, html)

    async def media_from_home(self, sha256: str, size: int) -> bytes | None:
        """See Context: a gateway reads a stored file its own [media] path lacks from the home."""
        if self.cluster is None or self.cluster.is_home:
            return None
        return await self.cluster.media_bytes(sha256, size)

    def info_page_html(self, gid: str) -> str | None:
        """A group's public page (Art. 6), or None when it has none."""
        g = self.state.groups.get(gid)
        if g is None or not g.alive or g.member_count() < self.cfg.groups.info_page_min_members:
            return None
        owner = self.state.users.get(g.owner_id)
        return infopage.render(g, owner.display_name if owner else "")

    @staticmethod
    def _info_response(conn: ServerConnection, html: str | None) -> HttpResponse:
        if html is None:  # (a group that grows to the page's size has one from then on)
            return _not_kept(conn.respond(http.HTTPStatus.NOT_FOUND, "no public information for this group\n"))
        return web_routes.html_page(html)

    # -- WebSocket side --------------------------------------------------------
    async def _connection(self, ws: ServerConnection) -> None:
        ip = getattr(ws, "client_ip", None) or proxy.peer_ip(ws)
        if not self.pre_auth.take(ip):
            # Counted per node, over the sockets it holds: a gateway knows which of them are logged in.
            METRICS.rate_limited("unauthenticated_connections_per_ip")
            await ws.close(CLOSE_TRY_AGAIN, TOO_MANY_NOT_LOGGED_IN)
            return
        sess = Session(ws, Encoding.for_subprotocol(ws.subprotocol), ip, self.cfg.server.max_outbox_bytes)
        self.sessions.add(sess)
        METRICS.connections_opened.inc()
        METRICS.pre_auth.inc()
        opened_ms, opened = self.now_ms(), time.monotonic()
        self.arm_auth_timer(sess)
        if self.cluster is not None:
            self.cluster.opened(sess)
        expected = True
        try:
            async for data in ws:
                if ws.protocol.state is not WsState.OPEN:
                    # The client is gone (or closing): the requests it had queued have nobody to
                    # answer. Handled, they held the reads of everyone else: a reviewer's 300
                    # connections that each sent 10 my_groups and dropped kept another user's
                    # history waiting 7-8 s for a minute. (One already running finishes.)
                    break
                await self.on_frame(sess, data)
        except ConnectionClosed:  # the client went away without a close frame: routine
            log.debug("connection from %s ended without a close handshake", ip)
        except Exception:  # anything else is a bug worth a traceback
            expected = False
            log.warning("connection ended with an error", exc_info=True, extra={"ip": ip})
        finally:
            try:
                sess.cancel_timer()
                self.sessions.discard(sess)
                if self.cluster is not None and not self.cluster.is_home:
                    netlog.closed(self, sess, opened_ms, self.cluster.logged_in_as(sess))
                else:
                    netlog.closed(self, sess, opened_ms)
                if self.cluster is not None:
                    self.cluster.closed(sess)
                operations.access(sess, opened, expected)
                METRICS.closed(ws.close_code)
            finally:  # (whatever failed above, the connection leaves its user and its address's count)
                self.detach(sess)
                METRICS.pre_auth.dec()
                self.pre_auth.drop(ip)

    def arm_auth_timer(self, sess: Session, req: object = None, extra: float = 0.0) -> bool:
        """(Re)start the time a connection has to sign in. A ``request_code`` adds the longest the
        SMS provider may take: closed while the code is still being sent, the client would ask
        again and be sent a second one. ``extra``: more time still (a gateway: until the home can
        have taken this frame, after the provider calls of this connection's frames before it)."""
        extra = max(extra, self.sms_wait if isinstance(req, RequestCode) else 0.0)
        # Each request restarts the timer (the contract), but a connection stays without a login at
        # most max_unauthenticated_seconds in all: one asking something every nine seconds held a
        # socket, and a place among its address's unauthenticated ones, for good.
        now = time.monotonic()
        if sess.signed_out_since is None:  # (opened, or logged out: frames as small as a login's again)
            sess.signed_out_since = now
            sess.limit_frames(self.cfg.server.frame_bytes_before_login)
        left = sess.signed_out_since + self.cfg.server.max_unauthenticated_seconds - now
        if left <= 0:  # (and the request that came now is not run: a login then would end unanswered)
            sess.close(CLOSE_POLICY, "authentication timeout")
            return False
        sess.arm_timer(
            min(self.cfg.server.auth_timeout_seconds + extra, left),
            lambda: sess.close(CLOSE_POLICY, "authentication timeout"),
        )
        return True

    async def on_frame(self, sess: Session, data: bytes | str, forward: int | None = None) -> None:
        """Handle one frame of ``sess``. ``forward``: on a cluster's home, the number a gateway gave
        the frame (server/cluster/home.py): the request's id then carries it (``Answering``), so an
        answer given later, from a commit, still names the request it answers."""
        if sess.closing:
            # Closed by the server (a logout or blacklisting elsewhere, a kick of the connection):
            # nothing more is done for it, however long the client takes to answer the close.
            return
        cluster = self.cluster
        if cluster is not None and not cluster.is_home:
            await cluster.forward(sess, data)  # (waits while the home has too many of its requests)
            return
        enc = Encoding.JSON if isinstance(data, str) else Encoding.MSGPACK
        scope, token = open_scope()
        try:
            reply = await self._answer(sess, data, enc, forward)
            if reply is None:
                return
            await settled(scope)  # (the records the request queued: server/answer_writes.py)
            try:
                sess.send(reply, enc)
            except Exception:  # (a reply that cannot be encoded: a bug, answered as any other)
                METRICS.internal_errors.inc()
                log.exception("internal error encoding a reply", extra={"rid": reply.get("re"), "ip": sess.ip})
                sess.send(error_reply(reply.get("re"), ContractError("internal", "internal server error")), enc)
        finally:
            close_scope(scope, token)  # (what waited for the answer goes: a penalty's notice)

    async def _answer(self, sess: Session, data: bytes | str, enc: Encoding, forward: int | None,
                      ) -> dict[str, Any] | None:
        """The reply to one frame of ``sess`` (:meth:`on_frame`), or None: none now (a deferred one, a
        connection closed for taking too long to log in)."""
        rid = None
        req = None
        try:
            req = decode_request(data, self.cfg.server.max_frame_bytes)
            rid = req.rid
            if forward is not None:
                rid = Answering(rid, forward)
                req = msgspec.structs.replace(req, rid=rid)
            user = sess.user
            if user is None:
                if not self.arm_auth_timer(sess, req):
                    return None  # (closed: too long without a login)
                if type(req) not in self.open_types:
                    raise ContractError("unauthenticated", "log in or authenticate first")
            else:  # cancelled or blacklisted on another connection meanwhile
                still_active(user)
                if type(req) in self.managing_types:
                    count_managing(self, user)
            result = await self.dispatch[type(req)](self, sess, req, enc)
            if result is DEFERRED:  # (a deferred reply counts itself, with its outcome: a send's commit)
                return None
            METRICS.op(self.op_names[type(req)], "ok").inc()
            return ok_reply(rid, result)
        except FrameError as err:
            METRICS.op("(undecodable)", err.code).inc()
            return error_reply(err.rid if forward is None or err.rid is None else Answering(err.rid, forward), err)
        except ContractError as err:
            if isinstance(err, GroupClosed):  # (the operator's reason: for the group's members only)
                err = err.for_user(sess.user.user_id if sess.user is not None else None)
            op = self.op_names.get(type(req), "(undecodable)")
            METRICS.op(op, err.code).inc()
            if err.code == "rate_limited":
                METRICS.rate_limited(op)
            return error_reply(rid, err)
        except Exception as err:
            METRICS.internal_errors.inc()
            op = self.op_names.get(type(req), "(undecodable)")
            METRICS.op(op, "internal").inc()
            if self.store.unreachable(err):
                full = self.store.storage_full(err)
                self._unreadable.log(log, logging.WARNING, "a request (%s) could not %s and was answered internal: "
                                     "%s: %s", op, "be stored, the disk is full" if full else "reach the database",
                                     type(err).__name__, err)
                return error_reply(rid, ContractError("internal", STORAGE_FULL if full else UNREADABLE))
            log.exception("internal error handling a request", extra={
                "rid": rid, "op": op, "user_id": sess.user.user_id if sess.user else None, "ip": sess.ip,
                "outcome": "internal"})
            return error_reply(rid, ContractError("internal", "internal server error"))

    # -- sessions and users ------------------------------------------------------
    def attach(self, sess: Session, user: User, token_hash: bytes) -> None:
        """Bind an authenticated user (and the token it used) to a connection and to its groups' live sets."""
        if sess.user is not user:
            self.detach(sess)
        sess.token_hash = token_hash
        if sess.user is user:
            sess.identity_changed()  # the same user with another token
            return
        sess.signed_in(self.cfg.server.max_frame_bytes)
        sess.user = user
        sess.last_user_id = user.user_id
        if sess.HELD_HERE:
            self.logged_in_here(sess)
        user.add_session(sess)
        groups = self.state.groups
        for gid in user.groups:  # (live groups, all in memory: an end takes itself out of its members' lists)
            groups[gid].online.add(sess)
        accounts = self.state.accounts
        for aid in user.subscriptions:
            accounts[aid].online.add(sess)
        sess.identity_changed()

    def detach(self, sess: Session) -> None:
        user = sess.user
        if user is None:
            return
        user.drop_session(sess)
        groups = self.state.groups
        for gid in user.groups:
            g = groups.get(gid)
            if g is not None:
                g.online.discard(sess)
        accounts = self.state.accounts
        for aid in user.subscriptions:
            a = accounts.get(aid)
            if a is not None:
                a.online.discard(sess)
        self.state.leaves_account(sess)
        sess.user = None
        sess.token_hash = None
        sess.identity_changed()
        if sess.HELD_HERE:
            self.logged_out_here(sess)

    def logged_in_here(self, sess: Session) -> None:
        """A connection whose socket this node holds is logged in now (here or, on a gateway, at
        the home): it leaves this node's count of connections not logged in."""
        self.pre_auth.drop(sess.ip)
        METRICS.logged_in()

    def logged_out_here(self, sess: Session) -> None:
        """... and is not any more (a logout, a cancellation, a close): counted again, past the
        limit if need be (only a new connection is refused for it)."""
        self.pre_auth.add(sess.ip)
        METRICS.logged_out()


def _sniff_proof(conn: ServerConnection, request: HttpRequest, response: HttpResponse) -> None:
    """``nosniff`` on every plain-HTTP answer, also those that do not go through the web routes: the
    refusals of a handshake (403, 429, 503) and those websockets makes itself (400, 426). What its
    request parser refuses (414, 431) never reaches this hook: server/proxy.py's ``_sniff_proof``."""
    if response.status_code != http.HTTPStatus.SWITCHING_PROTOCOLS and "X-Content-Type-Options" not in response.headers:
        response.headers["X-Content-Type-Options"] = "nosniff"


async def _after(conn: ServerConnection, turn: asyncio.Future[bool]) -> HttpResponse | None:
    """Wait for the handshake's turn (server/admission.py), then let websockets accept it; 503 when
    the server stops meanwhile. If the handshake times out first, this is cancelled and so is
    ``turn``: it gives up its place."""
    if await turn:
        return None
    return conn.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "server is shutting down\n")


def _select_subprotocol(conn: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    """MessagePack when nothing is offered; 400 when only unknown ones are offered."""
    if not offered:
        return None
    for proto in offered:
        if proto in SUBPROTOCOLS:
            return proto
    raise NegotiationError("none of the offered subprotocols is supported")


def tune_gc() -> gcpolicy.GcPolicy:
    """Keep the cyclic garbage collector off the hot path (server/gcpolicy.py).

    Everything loaded at start (users, groups, members) lives for the whole
    run: freezing it means no collection ever walks it again. Every message
    allocates a few short-lived dicts, so with the default gen-0 threshold
    (700) collections ran constantly; in the benchmark's 200-groups scenario
    they took a third of the server's time (the threshold is 50,000). What
    is made later is collected young on a 0.25 s clock and its survivors are
    frozen too, so no pass walks the connections of a flood.
    """
    return gcpolicy.install()


def _not_kept(resp: HttpResponse) -> HttpResponse:
    """An answer about a group's page that caches must not keep: it changes as the group does."""
    resp.headers["Cache-Control"] = "no-store"
    return resp


# A cluster node says it listens once it serves, or after three lease periods (a lease to wait out) and
# this long for the state's load, whichever comes first.
SERVING_LOAD_SECONDS = 10.0


class CannotStart(Exception):
    """The server did not start (exit status 2): what stopped it, in one line. What goes wrong once
    it runs is not this: it ends the process with its traceback (status 1), or its own status."""


async def run(cfg: Config) -> int:
    """Serve until SIGTERM or SIGINT (0) or a background job's unexpected end (``JOB_ENDED_STATUS``),
    each after the drain; the exit status. A store that failed for good and a cluster home that lost
    its lease exit at once (``os._exit``), without the drain."""
    try:
        app = App(cfg)
    except (ValueError, OSError) as err:
        raise CannotStart(str(err)) from err
    # A SIGHUP during the start (migrations, a cluster node waiting for its broker) would end the
    # process by the signal's default action: it is held, and the reload runs once started.
    loop = asyncio.get_running_loop()
    held_reload = asyncio.Event()
    loop.add_signal_handler(signal.SIGHUP, held_reload.set)
    app.freeze_at_start = True
    try:
        await app.start()
    except (ValueError, OSError) as err:  # (a key that does not fit, a port in use, a database refused)
        await app.stop()
        raise CannotStart(str(err)) from err
    except BaseException:
        await app.stop()
        raise
    tune_gc()
    # Signals first: whoever sees the "listening" line or READY=1 may send SIGHUP at once.
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, app.reload)
    if held_reload.is_set():
        app.reload()
    lost = app.cluster.lost if app.cluster is not None else asyncio.Event()
    if app.cluster is not None:
        # Listening, said once the node serves: the home, or a gateway that hears it (a lease taken
        # over from a node gone waits out its lease; a large state takes seconds to load). Past the
        # wait it is said all the same: the node answers as a gateway, `internal` until a home is up.
        waited = 3 * app.cfg.cluster.lease_seconds + SERVING_LOAD_SECONDS
        if not await app.cluster.serving(waited):
            log.warning("no home node serves the cluster %.0f s after this node started: listening all the "
                        "same (requests are answered `internal` until one does)", waited)
    tls = "s" if app.ssl_context is not None else ""
    print(f"listening on ws{tls}://{cfg.server.host}:{app.port}/ws", flush=True)
    print(f"web client: open http{tls}://{cfg.server.host}:{app.port}/ in a browser", flush=True)
    if app.metrics_port is not None:
        print(f"metrics on http://{cfg.metrics.host}:{app.metrics_port}/metrics", flush=True)
    sdnotify.ready(f"listening on port {app.port}")
    await asyncio.wait([asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait()),
                        asyncio.ensure_future(app.store.fatal.wait()), asyncio.ensure_future(app.job_ended.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    _exit_if_fatal(app, lost)
    status = 0
    if app.job_ended.is_set() and not stop.is_set():
        log.critical("qunguan: stopping (exit status %d): %s", JOB_ENDED_STATUS, app.job_ended_why)
        status = JOB_ENDED_STATUS
    sdnotify.stopping()
    app.readiness.stopping = True  # /readyz says 503 from now on; load balancers drain us
    grace = app.cfg.server.shutdown_grace_seconds  # the running config: a reload may have changed it
    log.info("shutting down" + (f" in {grace:g} s" if grace else ""))
    if grace:
        # (Serving meanwhile: a store failure or a lost lease during the grace ends it at once, as
        # before it, with its own status; so does one at the stop's last commits.)
        await asyncio.wait([asyncio.ensure_future(lost.wait()), asyncio.ensure_future(app.store.fatal.wait())],
                           timeout=grace, return_when=asyncio.FIRST_COMPLETED)
        _exit_if_fatal(app, lost)
    await app.stop()
    # (The store's last commits only: the stop itself releases the home lease, after which a write
    # is fenced as a matter of course.)
    _exit_if_fatal(app, None)
    return status


def _exit_if_fatal(app: App, lost: asyncio.Event | None) -> None:
    """Exit at once, with the status that says why, when the store can no longer tell what it holds or
    (``lost``, when given) this node lost the home lease: crash-only, nothing more may happen here."""
    if app.store.fatal.is_set():
        # The store can no longer tell what it holds (a failed fsync of the WAL or COMMIT on SQLite,
        # 74; on PostgreSQL a batch whose outcome could not be learned, 75): crash-only, as
        # PostgreSQL panics. Every write waiting failed, none was acknowledged; the restart loads
        # memory from what the store holds. (The store logged CRITICAL what happened and what to check.)
        log.critical("qunguan: stopping (exit status %d): %s", app.store.fatal_status, app.store.fatal_why)
        logging.shutdown()
        os._exit(app.store.fatal_status)
    if lost is not None and lost.is_set():  # a cluster's home that lost its lease
        assert app.cluster is not None
        if app.cluster.exit_status == 3:
            log.critical("this node lost the home lease (%s); exiting so that it restarts as a gateway",
                         app.cluster.lost_why)
        else:  # (a gateway refused: another running node has its node id)
            log.critical("qunguan: stopping: %s", app.cluster.lost_why)
        logging.shutdown()
        os._exit(app.cluster.exit_status)

