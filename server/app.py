"""The running server: listener, connection loop, dispatch, lifecycle."""

from __future__ import annotations

import asyncio
import gc
import http
import logging
import secrets
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import NegotiationError
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse
from websockets.typing import Subprotocol

from governance.codes import CodeBook
from governance.ratelimit import WindowCounter
from governance.retention import DAY_MS
from protocol.codec import SUBPROTOCOLS, Encoding
from protocol.errors import ContractError, FrameError
from protocol.messages import OP_TYPES, decode_request
from protocol.requests import UNAUTHENTICATED_OPS, error_reply, ok_reply
from server import infopage, netlog, record, retention
from server.config import Config
from server.content import build_filter, reload_filter
from server.handlers import DEFERRED, load_all
from server.operator import OperatorChannel
from server.security import KEY_FILE_NAME, IdentityVault, Passwords
from server.session import CLOSE_POLICY, Session
from server.sms import make_sms
from server.state import Agreement, State
from server.storage.base import Store, open_store

log = logging.getLogger("qunguan")

HOUR = 3600.0


def wall_ms() -> int:
    return int(time.time() * 1000)


class App:
    """Everything a handler needs: config, store, in-memory state, clocks, providers."""

    def __init__(self, cfg: Config, clock: Callable[[], int] = wall_ms) -> None:
        self.cfg = cfg
        self.now_ms = clock
        self.randbelow: Callable[[int], int] = secrets.randbelow
        if cfg.identity.id_verifier != "checksum":
            raise ValueError("identity.id_verifier: only 'checksum' is available in this build")
        self.store: Store = open_store(cfg)
        self.vault = IdentityVault.from_config(
            cfg.identity.key_file, cfg.identity.key_env, cfg.identity.dev_mode,
            [cfg.base_dir / p for p in cfg.identity.old_key_files],
        )
            default_key_file=(cfg.storage.sqlite_file.parent if cfg.storage.sqlite_file else cfg.base_dir)
            / KEY_FILE_NAME,
        self.passwords = Passwords(cfg.identity.argon2_time_cost, cfg.identity.argon2_memory_kib)
        self.sms = make_sms(cfg.identity.sms_provider, cfg.identity.sms_outbox)
        self.codes = CodeBook()
        rl = cfg.rate_limits
        self.codes_per_phone = WindowCounter(rl.code_requests_per_phone_per_hour, HOUR)
        self.codes_per_ip = WindowCounter(rl.code_requests_per_ip_per_hour, HOUR)
        self.failed_logins_per_ip = WindowCounter(rl.failed_logins_per_ip_per_hour, HOUR)
        self.connections_per_ip = WindowCounter(rl.connections_per_ip_per_minute, 60.0)
        self.reports_per_user = WindowCounter(rl.reports_per_hour, HOUR)
        self.reports_when_mostly_rejected = WindowCounter(rl.reports_per_hour_when_mostly_rejected, HOUR)
        self.sessions: set[Session] = set()
        self.handlers = load_all()
        # Dispatch on the request's type: decoding already named the op.
        self.dispatch = {OP_TYPES[op]: fn for op, fn in self.handlers.items()}
        self.open_types = frozenset(OP_TYPES[op] for op in UNAUTHENTICATED_OPS)
        self.state = State()  # loaded from the store by start()
        self.agreement: Agreement | None = None
        self.content = build_filter(cfg)
        self._server: Server | None = None
        self._jobs: list[asyncio.Task[None]] = []
        self.operator: OperatorChannel | None = None
        self._record_open = False

    # -- lifecycle ---------------------------------------------------------
    async def start(self) -> None:
        await self.store.open()
        await self.vault.bind(self.store, self.now_ms())
        self.state = await self.store.load_state(self.now_ms(), self.cfg.groups.activity_window_days)
        self.store.set_record_key(self.vault.record_key())
        await record.seal(self)
        self._record_open = True
        self.agreement, accepted = await self.store.load_agreement()
        for uid in accepted:
            user = self.state.users.get(uid)
            if user is not None and self.agreement is not None:
                user.accepted_version = self.agreement.version
        s = self.cfg.server
        self._server = await serve(
            self._connection,
            s.host,
            s.port,
            subprotocols=[Subprotocol(p) for p in SUBPROTOCOLS],
            select_subprotocol=_select_subprotocol,
            process_request=self._process_request,
            max_size=s.max_frame_bytes,
            compression="deflate" if s.compression else None,
            ping_interval=30,
            ping_timeout=30,
            close_timeout=2,  # a peer that ignores our close frame is dropped after this
        )
        self.operator = OperatorChannel(self, self.cfg.admin.socket)
        await self.operator.start()
        self._jobs.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        self._jobs.append(asyncio.create_task(retention.run_forever(self), name="retention"))

        self._jobs.append(asyncio.create_task(record.run_checkpoints(self), name="record-checkpoints"))
    def reload_content(self) -> None:
        """SIGHUP: rebuild the word-list filter from the config file; keep the old one on error."""
        fresh = reload_filter(self.cfg)
        if fresh is not None:
            _, self.content = fresh

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for job in self._jobs:
            job.cancel()
        if self.operator is not None:
            await self.operator.stop()
        if self._server is not None:
            self._server.close()  # stops accepting, closes connections with 1001
            await self._server.wait_closed()
        await self.store.close()
        if self._record_open:  # leave the record's head outside the database
            try:
                await record.checkpoint(self)
            except Exception:
                log.exception("the final enforcement-record checkpoint could not be written")

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(60)
            now = self.now_ms()
            self.codes.prune(now / 1000)
            stale = [k for k, v in self.state.sent.items() if v.committed and now - v.ts > DAY_MS]
            for k in stale:
                del self.state.sent[k]

    # -- HTTP side -----------------------------------------------------------
    def _process_request(self, conn: ServerConnection, request: HttpRequest) -> HttpResponse | None:
        path = request.path.split("?", 1)[0]
        if path == "/ws":
            ip = _peer_ip(conn)
            if self.connections_per_ip.hit(ip, time.monotonic()) > 0:
                return conn.respond(http.HTTPStatus.TOO_MANY_REQUESTS, "too many connections\n")
            return None
        if path == "/healthz":
            return conn.respond(http.HTTPStatus.OK, "ok\n")
        if path.startswith("/groups/"):
            return self._info_page(conn, path.removeprefix("/groups/"))
        return conn.respond(http.HTTPStatus.NOT_FOUND, "not found\n")

    def _info_page(self, conn: ServerConnection, gid: str) -> HttpResponse:
        g = self.state.groups.get(gid)
        if g is None or not g.alive or len(g.members) < self.cfg.groups.info_page_min_members:
            return conn.respond(http.HTTPStatus.NOT_FOUND, "no public information for this group\n")
        owner = self.state.users.get(g.owner_id)
        response = conn.respond(http.HTTPStatus.OK, infopage.render(g, owner.display_name if owner else ""))
        response.headers["Content-Type"] = "text/html; charset=utf-8"
        return response

    # -- WebSocket side --------------------------------------------------------
    async def _connection(self, ws: ServerConnection) -> None:
        sess = Session(
            ws, Encoding.for_subprotocol(ws.subprotocol), _peer_ip(ws), self.cfg.server.max_outbox_bytes
        )
        self.sessions.add(sess)
        opened_ms = self.now_ms()
        netlog.opened(self, sess)
        self.arm_auth_timer(sess)
        try:
            async for data in ws:
                await self.on_frame(sess, data)
        except Exception:  # connection errors end the loop; the finally cleans up
            log.warning("connection ended with an error", exc_info=True)
        finally:
            sess.cancel_timer()
            self.sessions.discard(sess)
            netlog.closed(self, sess, opened_ms)
            self.detach(sess)

    def arm_auth_timer(self, sess: Session) -> None:
        sess.arm_timer(
            self.cfg.server.auth_timeout_seconds,
            lambda: sess.close(CLOSE_POLICY, "authentication timeout"),
        )

    async def on_frame(self, sess: Session, data: bytes | str) -> None:
        enc = Encoding.JSON if isinstance(data, str) else Encoding.MSGPACK
        rid = None
        try:
            req = decode_request(data, self.cfg.server.max_frame_bytes)
            rid = req.rid
            user = sess.user
            if user is None:
                self.arm_auth_timer(sess)
                if type(req) not in self.open_types:
                    raise ContractError("unauthenticated", "log in or authenticate first")
            elif not user.active:  # cancelled or blacklisted on another connection meanwhile
                raise ContractError("blacklisted" if user.blacklisted else "unauthenticated",
                                    "this account is closed" if user.blacklisted else "this account is cancelled")
            result = await self.dispatch[type(req)](self, sess, req, enc)
            if result is not DEFERRED:
                sess.send(ok_reply(rid, result), enc)
        except FrameError as err:
            sess.send(error_reply(err.rid, err), enc)
        except ContractError as err:
            sess.send(error_reply(rid, err), enc)
        except Exception:
            log.exception("internal error handling a request")
            sess.send(error_reply(rid, ContractError("internal", "internal server error")), enc)

    # -- sessions and users ------------------------------------------------------
    def attach(self, sess: Session, user: Any) -> None:
        """Bind an authenticated user to a connection and to its groups' live sets."""
        if sess.user is user:
            return
        self.detach(sess)
        sess.cancel_timer()
        sess.user = user
        user.sessions.add(sess)
        groups = self.state.groups
        for gid in user.groups:
            groups[gid].online.add(sess)

    def detach(self, sess: Session) -> None:
        user = sess.user
        if user is None:
            return
        user.sessions.discard(sess)
        groups = self.state.groups
        for gid in user.groups:
            g = groups.get(gid)
            if g is not None:
                g.online.discard(sess)
        sess.user = None


def _select_subprotocol(conn: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    """MessagePack when nothing is offered; 400 when only unknown ones are offered."""
    if not offered:
        return None
    for proto in offered:
        if proto in SUBPROTOCOLS:
            return proto
    raise NegotiationError("none of the offered subprotocols is supported")


def _peer_ip(conn: ServerConnection) -> str:
    addr = conn.remote_address
    return str(addr[0]) if addr else "?"


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the hot path.

    Everything loaded at start (users, groups, members) lives for the whole
    run: freezing it means no collection ever walks it again. Every message
    allocates a few short-lived dicts, so with the default gen-0 threshold
    (700) collections ran constantly; in the benchmark's 200-groups scenario
    they took a third of the server's time.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)


GC_GEN0_THRESHOLD = 50_000


async def run(cfg: Config) -> None:
    app = App(cfg)
    try:
        await app.start()
    except BaseException:
        await app.stop()
        raise
    tune_gc()
    print(f"listening on ws://{cfg.server.host}:{app.port}/ws", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, app.reload_content)
    await stop.wait()
    log.info("shutting down")
    await app.stop()

