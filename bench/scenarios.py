"""The scenarios, and running one of them against one server.

(a) 1 group x 10 members, (b) 1 x 500, (c) 1 x 2,000, (d) 200 groups x 10
members all talking, (e) 10,000 idle authenticated connections, (f) (c) with 5
members that stop reading, (g) (a)'s group with one sender keeping 10 messages
in flight (small-room latency: the time from frame-in to ack-out). Each is bounded in time (fixed phase lengths) and
in count (fixed sizes and windows).

A messaging scenario has two phases on the same connections:

1. saturation: every sender keeps ``window`` messages in flight (see
   :mod:`bench.loadgen`); after ``warmup`` seconds, deliveries and messages are
   counted for ``saturation`` seconds, with the server's and the generator's CPU;
2. latency: the senders are paced at a fixed rate (half the baseline's
   saturating messages/s in the same scenario), and after ``lat_warmup``
   seconds the end-to-end latency of every delivery is recorded for
   ``latency`` seconds.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any

import msgpack

from bench.loadgen import Load, RawConn, client_frame, percentile
from bench.population import Population
from bench.servers import Meters, ServerProc, tcp_backlogs


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    groups: int = 0
    members: int = 0  # per group, owner included
    senders: int = 0  # per group
    slow: int = 0  # members per group that stop reading (f)
    idle: int = 0  # idle authenticated connections (e)
    window: int = 0  # messages in flight per sender; 0: window_for's default

    @property
    def shape(self) -> str:
        """Groups of the same shape are shared: (f) reuses (c)'s group."""
        return f"{self.groups}x{self.members}" if self.groups else ""

    def group_members(self) -> list[list[int]]:
        m = self.members
        return [list(range(m * j, m * j + m)) for j in range(self.groups)]

    @property
    def users(self) -> int:
        return max(self.groups * self.members, self.idle)


@dataclass(frozen=True)
class Timing:
    warmup: float
    saturation: float
    lat_warmup: float
    latency: float
    slow_extra: float  # (f): extra saturated seconds so non-readers' backlog can reach the outbox limit
    slow_wait: float  # (f): after the phases, how long the non-readers get to find their close frame


FULL = {
    "a": Scenario("a", "1 group x 10 members", groups=1, members=10, senders=10),
    "b": Scenario("b", "1 group x 500 members", groups=1, members=500, senders=10),
    "c": Scenario("c", "1 group x 2,000 members", groups=1, members=2000, senders=10),
    "d": Scenario("d", "200 groups x 10 members, all talking", groups=200, members=10, senders=10),
    "e": Scenario("e", "10,000 idle authenticated connections", idle=10_000),
    "f": Scenario("f", "(c) with 5 members that stop reading", groups=1, members=2000, senders=10, slow=5),
    "g": Scenario("g", "1 group x 10 members, one sender with 10 in flight", groups=1, members=10, senders=1,
                  window=10),
}
QUICK = {
    "a": Scenario("a", "1 group x 3 members", groups=1, members=3, senders=3),
    "b": Scenario("b", "1 group x 6 members", groups=1, members=6, senders=3),
    "c": Scenario("c", "1 group x 8 members", groups=1, members=8, senders=3),
    "d": Scenario("d", "3 groups x 3 members, all talking", groups=3, members=3, senders=3),
    "e": Scenario("e", "20 idle authenticated connections", idle=20),
    "f": Scenario("f", "(c) with 2 members that stop reading", groups=1, members=8, senders=3, slow=2),
    "g": Scenario("g", "1 group x 3 members, one sender with 10 in flight", groups=1, members=3, senders=1,
                  window=10),
}
FULL_TIMING = Timing(warmup=1.0, saturation=4.0, lat_warmup=0.5, latency=4.0, slow_extra=3.0, slow_wait=3.0)
QUICK_TIMING = Timing(warmup=0.2, saturation=0.6, lat_warmup=0.1, latency=0.6, slow_extra=0.3, slow_wait=0.5)

WINDOW = 32  # messages in flight per sender, at most...
MAX_GROUP_BACKLOG = 64_000  # ...and deliveries in flight per group (about a second of fan-out work)...
MAX_TOTAL_WINDOW = 4096  # ...and messages in flight over all senders ((d) has 2,000 senders)


def window_for(sc: Scenario) -> int:
    """Per-sender window: 32 for small groups, 3 in (c) and (f), 2 in (d)."""
    if not sc.groups:
        return 0
    if sc.window:
        return sc.window
    return max(2, min(WINDOW, MAX_GROUP_BACKLOG // (sc.senders * sc.members),
                      MAX_TOTAL_WINDOW // (sc.groups * sc.senders)))


def paced_cap(window: int) -> int:
    """In-flight bound per sender in the latency phase: the same window. A server that
    cannot keep up with the paced rate builds at most a window's queue (its latency is
    then mostly that queue) and the sends it could not take are counted as skipped."""
    return window


# --------------------------------------------------------------------------- connecting


def _auth_frame(token: str) -> bytes:
    return client_frame(msgpack.packb({"op": "auth", "rid": 1, "token": token}))


def _check_auth(reply: bytes) -> None:
    r = msgpack.unpackb(reply)
    if not r.get("ok"):
        raise RuntimeError(f"auth failed: {r.get('code')}: {r.get('reason')}")


def _check_joined(reply: bytes) -> None:
    if reply != b"joined":
        raise RuntimeError(f"baseline did not confirm the room: {reply[:40]!r}")


def room_id(i: int) -> str:
    """Baseline room names look like qunguan group ids, so frames have the same size."""
    return str(1_000_000_000 + i)


async def connect_groups(load: Load, sc: Scenario, pop: Population | None, server: ServerProc | None = None
                         ) -> tuple[list[str], list[list[RawConn]]]:
    """Every member's connection; ``server.port_for`` picks each one's node (``--cluster``)."""
    groups = sc.group_members()
    if load.kind == "qunguan":
        assert pop is not None
        gids = pop.groups[sc.shape]
        hellos = [_auth_frame(pop.tokens[u]) for members in groups for u in members]
        check = _check_auth
    else:
        gids = [room_id(j) for j in range(len(groups))]
        hellos = [client_frame(gids[j].encode()) for j, members in enumerate(groups) for _ in members]
        check = _check_joined
    ports = None
    if server is not None:
        n = min(sc.senders, sc.members)
        ports = [server.port_for(k, n) for members in groups for k in range(len(members))]
    conns = await load.open_many(hellos, check, ports=ports)
    per_group, i = [], 0
    for members in groups:
        per_group.append(conns[i : i + len(members)])
        i += len(members)
    return gids, per_group


# --------------------------------------------------------------------------- measuring


async def settle(server: ServerProc, max_s: float, every: float = 0.5, quiet: float = 0.10) -> float:
    """Wait until the server uses under ``quiet`` of a core over ``every`` seconds; return the wait.

    After a connection storm a server may still be busy (qunguan writes a
    network-log row per connection and per login); measuring then would
    charge that to the next phase.
    """
    t0 = time.monotonic()
    last = (server.cpu_seconds(), t0)
    while time.monotonic() - t0 < max_s:
        await asyncio.sleep(every)
        now = (server.cpu_seconds(), time.monotonic())
        busy = (now[0] - last[0]) / (now[1] - last[1])
        last = now
        if busy < quiet:
            break
    return time.monotonic() - t0


class RssSampler:
    """The server's RSS every ``every`` seconds while running."""

    def __init__(self, server: ServerProc, every: float = 0.25) -> None:
        self.server = server
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self._task: asyncio.Task | None = None
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.samples.append((round(time.monotonic() - self._t0, 2), self.server.rss_kib()))
            await asyncio.sleep(self.every)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self.samples.append((round(time.monotonic() - self._t0, 2), self.server.rss_kib()))


def _ms(ns: float) -> float | None:
    return None if ns != ns else round(ns / 1e6, 3)  # NaN (no samples) -> None


async def run_messaging(sc: Scenario, load: Load, server: ServerProc, pop: Population | None,
                        timing: Timing, paced_rate: float | None) -> dict[str, Any]:
    """One messaging scenario against one server; ``paced_rate`` None = half this server's own rate."""
    t_setup = time.monotonic()
    gids, per_group = await connect_groups(load, sc, pop, server)
    window = window_for(sc)
    sid = 0
    slow: list[RawConn] = []
    for gid, conns in zip(gids, per_group, strict=True):
        sid = load.add_room(gid, conns, min(sc.senders, len(conns)), window, sid)
        if sc.slow:
            for c in conns[-sc.slow :]:
                assert c.sender is None and c.probe_of is None
                c.pause()
                slow.append(c)
    connect_s = time.monotonic() - t_setup
    t_paused = time.monotonic()
    settle_s = await settle(server, max(1.0, 3 * timing.saturation))

    sat_cpu = Meters(server.pid, parts=server.parts)
    rss = RssSampler(server)
    rss.start()
    rss_start = server.rss_kib()

    # Phase 1: saturation.
    load.start_saturation()
    await asyncio.sleep(timing.warmup + (timing.slow_extra if sc.slow else 0.0))
    d0, m0, t0 = load.deliveries(), load.messages(), time.monotonic()
    sat_cpu.start()
    await asyncio.sleep(timing.saturation)
    d1, m1, t1 = load.deliveries(), load.messages(), time.monotonic()
    sat_cpu.stop()
    load.stop_saturation()
    drained = await load.drain()
    rss_sat = server.rss_kib()
    dt = t1 - t0
    deliveries_per_s = (d1 - d0) / dt
    msgs_per_s = (m1 - m0) / dt

    # Phase 2: latency at a paced rate.
    rate = paced_rate if paced_rate is not None else 0.5 * msgs_per_s
    rate = max(rate, 1.0)
    paced_cpu = Meters(server.pid, parts=server.parts)
    paced_cpu.start()
    paced = await load.paced(rate, timing.latency, timing.lat_warmup, cap=paced_cap(window))
    paced_cpu.stop()
    drained = await load.drain() and drained
    lats = sorted(paced.pop("latencies_ns"))
    await rss.stop()

    out: dict[str, Any] = {
        "deliveries_per_s": round(deliveries_per_s, 1),
        "msgs_per_s": round(msgs_per_s, 1),
        "fanout": round(deliveries_per_s / msgs_per_s, 2) if msgs_per_s else 0.0,
        "senders": len(load.senders),
        "window": window,
        "paced_cap": paced_cap(window),
        **sat_cpu.result,
        "rss_mib": round(rss_sat / 1024, 1),
        "paced_msgs_per_s": round(rate, 1),
        "paced_achieved_msgs_per_s": round(paced["achieved_msgs_per_s"], 1),
        "paced_skipped": paced["skipped"],
        "paced_unfinished": paced["unfinished"],
        **{"paced_" + k: v for k, v in paced_cpu.result.items()},
        "latency_samples": len(lats),
        "p50_ms": _ms(percentile(lats, 0.50)),
        "p99_ms": _ms(percentile(lats, 0.99)),
        "max_ms": _ms(lats[-1]) if lats else None,
        "drained": drained,
        # Connections that should have stayed open but were closed (by the server, e.g. 1013).
        "readers_closed": sum(1 for c in load.conns if c not in slow and (c.lost.done() or c.close_code)),
        "send_errors": dict(load.errors),
        "connect_s": round(connect_s, 2),
        "settle_s": round(settle_s, 1),
    }
    if sc.slow:
        rss_vals = [v for _, v in rss.samples]
        out["rss_samples_kib"] = rss.samples
        out["rss_start_mib"] = round(rss_start / 1024, 1)
        out["rss_max_mib"] = round(max(rss_vals) / 1024, 1)
        out["rss_end_mib"] = round(rss_vals[-1] / 1024, 1)
        out["rss_growth_mib"] = round((max(rss_vals) - rss_start) / 1024, 1)
        # Where the non-readers' backlog is: in the kernel (their receive buffers, then the
        # server's send buffers) long before any of it waits in the server's outbox.
        ports = {c.transport.get_extra_info("sockname")[1] for c in slow if c.transport is not None}
        queues = tcp_backlogs(server.port, ports)
        paused_s = time.monotonic() - t_paused
        n = max(1, len(queues))
        out["slow_client_rx_kib"] = round(sum(rx for _, rx in queues.values()) / n / 1024, 1)
        out["slow_server_tx_kib"] = round(sum(tx for tx, _ in queues.values()) / n / 1024, 1)
        out["slow_backlog_kib_per_s"] = round(
            sum(tx + rx for tx, rx in queues.values()) / n / 1024 / paused_s, 1)
        # Let the non-readers read again: a closed one finds its close frame (1013) after the backlog.
        for c in slow:
            c.resume()
        deadline = time.monotonic() + timing.slow_wait
        while time.monotonic() < deadline and any(c.close_code is None and not c.lost.done() for c in slow):
            await asyncio.sleep(0.05)
        codes = [c.close_code for c in slow]
        out["slow_members"] = len(slow)
        out["slow_close_codes"] = codes
        # "close CODE": a close frame came; "dropped": the TCP connection ended without one;
        # "open": neither within slow_wait.
        out["slow_outcomes"] = [f"close {c.close_code}" if c.close_code is not None
                                else ("dropped" if c.lost.done() else "open") for c in slow]
        out["slow_closed_1013"] = sum(1 for c in codes if c == 1013)
    return out


async def run_idle(sc: Scenario, load: Load, server: ServerProc, pop: Population | None,
                   hold: float, settle_max: float) -> dict[str, Any]:
    n = sc.idle
    if load.kind == "qunguan":
        assert pop is not None
        hellos = [_auth_frame(pop.tokens[u]) for u in range(n)]
        check = _check_auth
    else:
        hellos = [client_frame(room_id(i // 10).encode()) for i in range(n)]
        check = _check_joined
    await asyncio.sleep(min(0.5, hold))  # let the previous scenario's connections finish closing
    rss0 = server.rss_kib()
    t0 = time.monotonic()
    await load.open_many(hellos, check)
    connect_s = time.monotonic() - t0
    settle_s = await settle(server, settle_max)
    cpu = Meters(server.pid)
    cpu.start()
    await asyncio.sleep(hold)
    cpu.stop()
    rss1 = server.rss_kib()
    return {
        "connections": n,
        "connect_s": round(connect_s, 2),
        "connects_per_s": round(n / connect_s, 1) if connect_s else None,
        "settle_s": round(settle_s, 1),
        "rss_before_mib": round(rss0 / 1024, 1),
        "rss_mib": round(rss1 / 1024, 1),
        "rss_per_conn_kib": round((rss1 - rss0) / n, 2),
        "closed_during_hold": sum(1 for c in load.conns if c.lost.done() or c.close_code),
        **cpu.result,
    }


async def run_scenario(sc: Scenario, kind: str, server: ServerProc, pop: Population | None,
                       timing: Timing, paced_rate: float | None) -> dict[str, Any]:
    load = Load(kind, server.host, server.port)
    try:
        if sc.idle:
            return await run_idle(sc, load, server, pop, hold=max(0.3, timing.saturation / 2),
                                  settle_max=max(1.0, 5 * timing.saturation))
        return await run_messaging(sc, load, server, pop, timing, paced_rate)
    finally:
        await load.close_all()
        await asyncio.sleep(0.3)  # let the server finish closing before the next measurement


def describe(sc: Scenario) -> dict[str, Any]:
    d = asdict(sc)
    d["window"] = window_for(sc) if sc.groups else None
    return d
