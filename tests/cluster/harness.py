"""A cluster of real ``python -m server serve`` processes for the tests (server/cluster/).

The nodes of one :class:`Cluster` share a fresh PostgreSQL database (tests/pgtools.py), one
identity key file, one SMS outbox file and a NATS, under a cluster name of their own (``t`` + 8 hex
digits), so clusters of tests running at the same time (pytest -n 3) never hear each other. Each
node has its own working directory (its admin socket is there).

Also here: a private nats-server a test can kill and start again, and a TCP relay to PostgreSQL a
test can cut, both on free ports.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed

from client_demo.client import Client
from server.cluster.gateway import EVENTS_LOST
from tests import pgtools
from tests.e2e.harness import FAST_CONFIG, ServerProcess, open_group
from tests.e2e.ops_helpers import free_port

BROKER_HOST, BROKER_PORT = "127.0.0.1", 4222
# The machine's NATS (with JetStream), shared by every cluster test but the one that restarts its own.
BROKER = f"nats://{BROKER_HOST}:{BROKER_PORT}"
NATS_SERVER = "/usr/sbin/nats-server"


def nats_unavailable(host: str = BROKER_HOST, port: int = BROKER_PORT) -> str | None:
    """Why no NATS answers at host:port, or None when one does (it greets with an INFO line)."""
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            s.settimeout(3)
            greeting = s.recv(4096)
    except OSError as exc:
        return f"NATS is not reachable at {host}:{port} ({exc!r})"
    if not greeting.startswith(b"INFO "):
        return f"the server at {host}:{port} is not NATS (it said {greeting[:40]!r})"
    return None


def unavailable() -> str | None:
    """Why the cluster tests cannot run here (PostgreSQL or NATS unreachable), or None."""
    return pgtools.unavailable() or nats_unavailable()


class Node(ServerProcess):
    """One node: a :class:`ServerProcess` whose config is the cluster's and whose SMS codes are in
    the cluster's shared outbox."""

    def __init__(self, cluster: Cluster, node_id: str, config: str, learn_id: bool = False) -> None:
        workdir = cluster.root / node_id
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(workdir)  # writes a single-node config: replaced just below
        self.config.write_text(config, encoding="utf-8")
        self.backend = "postgresql"  # db_rows goes to the cluster's database; cleanup() drops nothing
        self.pg_url = cluster.pg_url
        self.cluster = cluster
        self.node_id = node_id  # with learn_id: the node's own default, read from its log once started
        self.learn_id = learn_id

    def start(self) -> Node:
        super().start()
        if self.learn_id:
            found = re.search(r"cluster node (\S+) \(service", self.log())
            assert found is not None, self.log()
            self.node_id = found[1]
        return self

    def last_code(self, phone: str) -> str:
        return self.cluster.last_code(phone)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return "".join(self.output)

    def ready(self) -> bool:
        """/readyz says 200: this node is the home, or a gateway that hears a home."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False


class Cluster:
    """``size`` nodes ``n1``..``nN``; ``start()`` starts n1 first (so n1 is the first home), then the rest.

    ``pg_host_port`` lets the nodes reach PostgreSQL another way (through a relay the test can cut);
    the test itself always uses the database directly.
    """

    def __init__(self, root: Path, size: int = 3, *, broker_url: str = BROKER, lease_seconds: float = 3.0,
                 request_timeout_seconds: float = 10.0, extra_config: str = "",
                 pg_host_port: tuple[str, int] | None = None, default_ids: bool = False) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.name = "t" + secrets.token_hex(4)
        self.lease_seconds = lease_seconds
        # A database with the schema in it (a copy of the migrated template, or one an earlier test
        # of this process used, emptied): the nodes apply no migration, which had cost each cluster
        # test a third of a second of PostgreSQL's time and the first node's start.
        self.pg_db, self.pg_url = pgtools.create_migrated_db()
        node_pg_url = self.pg_url
        if pg_host_port is not None:
            parts = urlsplit(self.pg_url)
            host, port = pg_host_port
            node_pg_url = self.pg_url.replace(f"@{parts.hostname}:{parts.port}", f"@{host}:{port}")
            assert node_pg_url != self.pg_url, self.pg_url
        self.key_file = root / "identity.key"
        self.key_file.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
        self.outbox = root / "sms.jsonl"
        base = FAST_CONFIG.format(auth_timeout=10.0, require_id_to_create="false", joins_per_minute=0)
        shared = base.replace('sms_outbox = "sms.jsonl"', f'sms_outbox = "{self.outbox}"\nkey_file = "{self.key_file}"')
        assert shared != base, "FAST_CONFIG no longer names sms_outbox: update the cluster harness"
        self.nodes: list[Node] = []
        for i in range(1, size + 1):
            config = shared + extra_config + (
                f'\n[storage]\nurl = "{node_pg_url}"\n'
                f'\n[cluster]\nbroker_url = "{broker_url}"\n'
                + ("" if default_ids else f'node_id = "n{i}"\n')
                + f'name = "{self.name}"\n'
                f"lease_seconds = {lease_seconds}\nrequest_timeout_seconds = {request_timeout_seconds}\n"
            )
            self.nodes.append(Node(self, f"n{i}", config, learn_id=default_ids))

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> Cluster:
        first, rest = self.nodes[0], self.nodes[1:]
        first.start()
        self.wait_home(timeout)
        with ThreadPoolExecutor(len(rest) or 1) as pool:
            list(pool.map(lambda n: n.start(), rest))
        self.wait_ready(timeout)
        return self

    def cleanup(self) -> None:
        """Stop every node, give the database back (emptied for the next test, or dropped: tests/pgtools.py);
        print each node's output (shown when a test failed)."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda n: n.stop(), self.nodes))
        for n in self.nodes:
            print(f"----- {n.node_id} ({self.name}) -----\n{n.log()}")
        pgtools.release_db(self.pg_db)

    def wait_ready(self, timeout: float = 10.0, nodes: list[Node] | None = None) -> None:
        """Until every (live) node answers /readyz with 200."""
        nodes = nodes if nodes is not None else [n for n in self.nodes if n.alive]
        deadline = time.monotonic() + timeout
        while not all(n.ready() for n in nodes):
            if time.monotonic() > deadline:
                raise AssertionError("not ready: " + ", ".join(n.node_id for n in nodes if not n.ready()))
            time.sleep(0.05)

    # -- who is the home -------------------------------------------------------------------------
    def lease(self) -> tuple[str, int, bool] | None:
        """(holder node id, epoch, still valid) of the home lease in the database, or None."""
        rows = self.db_rows("SELECT holder, epoch, expires_at > now() FROM cluster_leases WHERE name = 'home'")
        if not rows:
            return None
        holder, epoch, valid = rows[0]
        return str(holder).split("/", 1)[0], int(epoch), bool(valid)

    def home_now(self) -> Node | None:
        """The node that holds a valid lease and has said it is the home node (its state is loaded)."""
        lease = self.lease()
        if lease is None or not lease[2]:
            return None
        node = self.node(lease[0])
        if node.alive and f"node {node.node_id} is the home node" in node.log():
            return node
        return None

    def wait_home(self, timeout: float = 10.0, not_: Node | None = None) -> Node:
        deadline = time.monotonic() + timeout
        while True:
            home = self.home_now()
            if home is not None and home is not not_:
                return home
            if time.monotonic() > deadline:
                raise AssertionError(f"no home node after {timeout:g} s (lease: {self.lease()})")
            time.sleep(0.05)

    def wait_log(self, text: str, timeout: float = 10.0, nodes: list[Node] | None = None) -> Node:
        """The first node (of ``nodes``) whose output has a line containing ``text``."""
        nodes = nodes if nodes is not None else self.nodes
        deadline = time.monotonic() + timeout
        while True:
            for n in nodes:
                if text in n.log():
                    return n
            if time.monotonic() > deadline:
                raise AssertionError(f"no node logged {text!r} within {timeout:g} s")
            time.sleep(0.02)

    def home(self) -> Node:
        home = self.home_now()
        assert home is not None, f"no home node (lease: {self.lease()})"
        return home

    def gateways(self) -> list[Node]:
        home = self.home()
        return [n for n in self.nodes if n is not home and n.alive]

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.node_id == node_id)

    # -- shared files and the database -------------------------------------------------------------
    def last_code(self, phone: str) -> str:
        code = None
        for line in self.outbox.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry["phone"] == phone:
                code = entry["code"]
        assert code is not None, f"no code sent to {phone}"
        return str(code)

    def db_rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return pgtools.query(self.pg_url, sql, *params)


class NatsServer:
    """A private nats-server on a free port (plain core NATS, which is all the cluster uses).

    With ``routes`` it is one server of a NATS cluster: it listens for routes on ``route_port`` and
    connects to the others' (see :func:`nats_cluster`); ``monitor_port`` serves its ``/connz``.
    """

    def __init__(self, route_port: int | None = None, routes: list[int] | None = None,
                 config_file: Path | None = None) -> None:
        self.config_file = config_file  # nats-server's own settings, ``-c`` (max_payload has no flag)
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.route_port = route_port
        self.routes = routes
        self.monitor_port = free_port() if routes is not None else None

    def _cluster_args(self) -> list[str]:
        if self.route_port is None or self.routes is None:
            return []
        routes = ",".join(f"nats-route://127.0.0.1:{p}" for p in self.routes if p != self.route_port)
        return ["--cluster_name", "qg", "--cluster", f"nats://127.0.0.1:{self.route_port}", "--routes", routes,
                "-m", str(self.monitor_port)]

    def client_names(self) -> list[str]:
        """The names of the clients connected to this server now (a node's is ``node_id/instance``)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/connz?limit=1000", timeout=5) as r:
            return [c.get("name", "") for c in json.load(r).get("connections", [])]

    def routed(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/routez", timeout=5) as r:
            return int(json.load(r).get("num_routes", 0))

    @staticmethod
    def missing() -> str | None:
        return None if shutil.which(NATS_SERVER) else f"{NATS_SERVER} is not installed"

    def start(self, timeout: float = 10.0) -> NatsServer:
        conf = ["-c", str(self.config_file)] if self.config_file is not None else []
        self.proc = subprocess.Popen([NATS_SERVER, *conf, "-a", "127.0.0.1", "-p", str(self.port),
                                      *self._cluster_args()], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while nats_unavailable("127.0.0.1", self.port) is not None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nats-server did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


def nats_cluster(size: int = 3, timeout: float = 10.0) -> list[NatsServer]:
    """``size`` private nats-servers routed to each other: one NATS cluster, running when this returns."""
    ports = [free_port() for _ in range(size)]
    servers = [NatsServer(route_port=port, routes=ports) for port in ports]
    for server in servers:
        server.start()
    deadline = time.monotonic() + timeout
    while any(server.routed() < size - 1 for server in servers):
        if time.monotonic() > deadline:
            raise RuntimeError("the private NATS servers did not route to each other")
        time.sleep(0.05)
    return servers


class CuttableRelay:
    """A TCP relay to PostgreSQL, on its own event loop in a thread, that the test can cut (every link
    aborted, new connections refused) and restore on the same port. Like the relay of
    tests/server/test_store_postgres.py, but the server processes use it, so it must keep relaying
    while the test's own loop is blocked (a node starting, a kill)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.stalled = False  # see stall()
        self._flowing = asyncio.Event()  # see hold() (set on the relay's loop only)
        self.loop.call_soon_threadsafe(self._flowing.set)

    def _call(self, coro: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro(), self.loop).result(10)

    def open(self) -> None:
        async def start() -> None:
            self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port, reuse_address=True)

        self._call(start)

    def cut(self) -> None:
        async def cut() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._links):
                w.transport.abort()
            self._links.clear()
            if self._server is not None:
                await self._server.wait_closed()
                self._server = None

        self._call(cut)

    def cut_for(self, seconds: float) -> threading.Event:
        """Cut now and open again after ``seconds``, timed on the relay's own loop (the test's may lag);
        the event is set once it is open again."""
        reopened = threading.Event()

        async def reopen() -> None:
            self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port, reuse_address=True)
            reopened.set()

        self.cut()
        self.loop.call_soon_threadsafe(self.loop.call_later, seconds,
                                       lambda: self.loop.create_task(reopen()))
        return reopened

    def stall(self) -> None:
        """From now on drop every byte both ways, keeping the connections open: a link that loses
        packets without a reset (a firewall's drop, a detached network), which neither end notices
        by itself."""
        self.stalled = True

    def hold(self) -> None:
        """From now on keep every byte both ways until :meth:`release`: a link that delays, as a
        congested one does, rather than loses."""
        self.loop.call_soon_threadsafe(self._flowing.clear)

    def release(self) -> None:
        self.loop.call_soon_threadsafe(self._flowing.set)

    def unstall(self) -> None:
        """Relay again what comes from now on (what was dropped stays lost, as on a real link)."""
        self.stalled = False

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    async def _link(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            sr, sw = await asyncio.open_connection(*self.target)
        except OSError:
            cw.close()
            return
        self._links |= {cw, sw}
        await pgtools.splice(cr, cw, sr, sw, dropping=lambda: self.stalled, flowing=self._flowing)


def broker_through_relay(node: Node) -> CuttableRelay:
    """A relay, open, between ``node`` (not started yet) and the machine's NATS, for the test to cut."""
    relay = CuttableRelay(BROKER_HOST, BROKER_PORT)
    relay.open()
    config = node.config.read_text(encoding="utf-8")
    node.config.write_text(config.replace(BROKER, f"nats://127.0.0.1:{relay.port}"), encoding="utf-8")
    return relay


# -- client helpers -------------------------------------------------------------------------------
async def members_on(nodes: list[Node], gid: str, per_node: int = 1, encodings: tuple[str, ...] = ("msgpack",)
                     ) -> list[Client]:
    """``per_node`` new users on each node (encodings taken in turn), each a member of ``gid``."""
    async def one(node: Node, k: int) -> Client:
        c = await node.user(encoding=encodings[k % len(encodings)])
        c.node = node  # type: ignore[attr-defined]
        await c.request("join_group", group_id=gid)
        return c

    jobs = [one(node, i * per_node + j) for i, node in enumerate(nodes) for j in range(per_node)]
    return list(await asyncio.gather(*jobs))


async def resumed(c: Client) -> Client:
    """What a client closed with 1013 does: connect again (to the same node) and log in with its
    token, again after a moment while the node answers `internal` (it hears no home yet), and on a
    new connection when one is closed 1013 again (an `auth` it was told to retry went through after
    all at the home: the CI failure of test_broker_restart_mid_chat at dfb71c14)."""
    node: Node = c.node  # type: ignore[attr-defined]
    assert c.token is not None
    fresh = await node.client(encoding=c.encoding.value)
    deadline = time.monotonic() + 15.0
    while True:
        try:
            reply = await fresh.call("auth", token=c.token)
        except ConnectionClosed as closed:
            if closed.rcvd is None or closed.rcvd.code != 1013 or time.monotonic() > deadline:
                raise
            fresh = await node.client(encoding=c.encoding.value)
            continue
        if reply["ok"] or reply["code"] != "internal" or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert reply["ok"], reply
    fresh.user_id, fresh.token = reply["user_id"], c.token
    fresh.node = node  # type: ignore[attr-defined]
    return fresh


async def full_history(c: Client, gid: str) -> list[dict[str, Any]]:
    """Every message of ``gid`` that ``history`` shows, ascending, page by page."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        page = (await c.request("history", group_id=gid, after_seq=after, limit=500))["messages"]
        out += page
        if len(page) < 500:
            return out
        after = page[-1]["seq"]


async def message_events(c: Client, gid: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The next ``count`` ``message`` events of ``gid`` on ``c`` (fails if they do not come in time)."""
    got: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(got) < count:
        try:
            ev = await c.next_event("message", timeout=max(0.0, deadline - loop.time()))
        except TimeoutError:
            raise AssertionError(f"{len(got)} of {count} message events came within {timeout:g} s") from None
        if ev["group_id"] == gid:
            got.append(ev)
    return got


def messages_events_so_far(c: Client, gid: str) -> list[dict[str, Any]]:
    """The ``message`` events of ``gid`` queued on ``c`` now (other events are dropped)."""
    return [ev for ev in c.drain_events() if ev.get("ev") == "message" and ev.get("group_id") == gid]


def assert_in_seq_order(events: list[dict[str, Any]]) -> None:
    seqs = [ev["seq"] for ev in events]
    assert seqs == sorted(set(seqs)), f"message events out of order or repeated: {seqs}"


def wait_stopped(pid: int, timeout: float = 5.0) -> None:
    """Until the process is in the stopped state (SIGSTOP delivered)."""
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
        assert time.monotonic() < deadline, "the process did not stop"
        time.sleep(0.005)


class Sender:
    """Sends numbered messages (client_msg_id = text) one after another until told to stop; a send
    refused with an error is sent again with the same client_msg_id, as the protocol allows."""

    def __init__(self, client: Client, gid: str, name: str) -> None:
        self.c, self.gid, self.name = client, gid, name
        self.acked: dict[str, int] = {}
        self.errors: list[tuple[str, str, float]] = []  # (code, reason, when)
        self.silent: list[str] = []  # requests that got no answer at all (within `timeout`)
        self.died = False  # its connection was closed (its node died)
        self.resumed = 0  # times its node had it resume (1013: events lost on the way), and it did
        self.first_ok_after: float | None = None  # first ack of a send written after `since`
        self.since = float("inf")

    async def run(self, stop: asyncio.Event, timeout: float = 8.0) -> None:
        k = 0
        while not stop.is_set():
            cmid = f"{self.name}-{k}"
            sent_at = time.monotonic()
            try:
                r = await self.c.call("send", timeout=timeout, group_id=self.gid, text=cmid, client_msg_id=cmid)
            except TimeoutError:
                self.silent.append(cmid)
                return
            except (ConnectionError, ConnectionClosed):
                if self.c.ws.close_code == 1013 and getattr(self.c, "node", None) is not None:
                    self.c = await resumed(self.c)  # the same send again, as a client resumes
                    self.resumed += 1
                    continue
                self.died = True
                return
            if r["ok"]:
                self.acked[cmid] = int(r["seq"])
                if sent_at > self.since and self.first_ok_after is None:
                    self.first_ok_after = time.monotonic()
                k += 1
                await asyncio.sleep(0.005)
            else:
                self.errors.append((r["code"], r.get("reason", ""), time.monotonic()))
                await asyncio.sleep(0.05)


@dataclass
class Chat:
    """A group with a sender and a receiver on every node, the senders running (for outage tests)."""

    owner: Client
    gid: str
    chatters: list[Client]
    receivers: list[Client]
    senders: list[Sender]
    stop: asyncio.Event
    tasks: list[asyncio.Task[None]]

    @classmethod
    async def start(cls, c: Cluster) -> Chat:
        owner = await c.gateways()[0].user()
        gid = await open_group(owner)
        chatters = await members_on(c.nodes, gid, per_node=1, encodings=("msgpack", "json"))
        receivers = await members_on(c.nodes, gid, per_node=1, encodings=("json", "msgpack"))
        senders = [Sender(cl, gid, f"s{i}") for i, cl in enumerate(chatters)]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(s.run(stop, timeout=12.0)) for s in senders]
        await asyncio.sleep(0.7)
        assert all(s.acked for s in senders), "the chat did not get going"
        return cls(owner, gid, chatters, receivers, senders, stop, tasks)

    async def back(self, since: float, what: str) -> float:
        """Wait until every sender had a send written after ``since`` acknowledged (at most 15 s), stop
        them, check none went silent, died or was refused but ``internal``; the seconds it took."""
        senders = self.senders
        for s in senders:
            s.since = since
        deadline = since + 15
        while not all(s.first_ok_after is not None for s in senders) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        self.stop.set()
        await asyncio.gather(*self.tasks)
        back = max(s.first_ok_after or float("inf") for s in senders) - since
        print(f"{what}: every node's sender acknowledged again {back:.2f} s later; "
              f"acked {sum(len(s.acked) for s in senders)}; "
              f"refused meanwhile: {sorted({reason for s in senders for _, reason, _ in s.errors})}")
        for s in senders:
            assert not s.silent and not s.died, (s.name, s.silent, s.died)
            assert {code for code, _, _ in s.errors} <= {"internal"}, s.errors
            assert s.first_ok_after is not None, f"{s.name}: no send got through after {what}"
        return back

    async def close(self) -> None:
        for cl in [self.owner, *self.chatters, *(s.c for s in self.senders), *self.receivers]:
            await cl.close()


async def check_after_broker_outage(c: Cluster, gid: str, home: Node, senders: list[Sender],
                                    receivers: list[Client]) -> None:
    """After NATS went away mid-chat and the nodes are on it again: no receiver left open missed an
    event, those whose gateway lost events resumed, history holds every acknowledged message with no
    gap, and sends from every node reach receivers on every node again (``receivers`` is updated)."""
    # A gateway that lost events meanwhile (published by the home before the gateway was back on
    # NATS) has its clients resume: closed with 1013, they connect again and read history. It may
    # learn of the loss only from the home's heartbeats, a lease period after the fact.
    await asyncio.sleep(c.lease_seconds + 1.0)
    live_events = [messages_events_so_far(rcv, gid) for rcv in receivers]  # (some lost with the broker)
    for i, rcv in enumerate(receivers):
        if not rcv.closed:  # then it missed nothing: its node would have had it resume otherwise
            seqs = [ev["seq"] for ev in live_events[i]]
            missed = sorted(set(range(seqs[0], seqs[-1] + 1)) - set(seqs))
            assert not missed, f"a connection left open missed {len(missed)} events, from seq {missed[:1]}"
        else:
            assert (rcv.ws.close_code, rcv.ws.close_reason) == (1013, EVENTS_LOST), (rcv.ws.close_code,
                                                                                    rcv.ws.close_reason)
            assert rcv.node is not home  # type: ignore[attr-defined]  # (the home loses nothing)
            receivers[i] = await resumed(rcv)

    # History: every acknowledged message, and no gap.
    history = await full_history(receivers[1], gid)
    stored = {m["seq"]: m["text"] for m in history}
    acked = {cmid: seq for s in senders for cmid, seq in s.acked.items()}
    assert {cmid: seq for cmid, seq in acked.items() if stored.get(seq) != cmid} == {}
    assert list(stored) == list(range(1, len(history) + 1)), "history has a gap"
    assert len(set(stored.values())) == len(stored), "a message is stored twice"
    assert c.db_rows("SELECT seq, text FROM messages WHERE group_id = ? ORDER BY seq", gid) == list(stored.items())
    for events in live_events:
        assert_in_seq_order(events)
        assert all(stored.get(ev["seq"]) == ev["text"] for ev in events)

    # Sends work across nodes again: one from each node reaches the receivers on every node.
    for i, cl in enumerate(s.c for s in senders):  # (a sender that resumed has a new connection)
        await cl.send(gid, f"after-{i}")
        for rcv in receivers:
            [ev] = await message_events(rcv, gid, 1, timeout=5.0)
            assert ev["text"] == f"after-{i}"
