"""Two modes of ``python -m bench`` about the tail rather than the throughput.

``--tail``: paced tail latency. A saturation phase first grows qunguan's WAL
(every sender of both groups keeps a window of messages in flight), then
rounds of a paced phase: a group of 10 and a group of 100, each at ``rate``
messages/s (500 by default) at the same time, for ``measure`` seconds (60).
Each round runs on the baseline and then on qunguan, so the two are
interleaved in the same run. Per group and round: p50, p99 and max latency;
per qunguan round: the stalls its loop monitor logged (the server's
``event loop stalled N ms: <verdict>`` lines, read from its log), the longest
with its verdict. The generator watches its own loop the same way
(``gen_max_lag_ms``): a late generator also looks like latency, so a stall
that shows on both sides at once is the machine's, not the server's.

``--flood``: connection floods. A group of 100 chats at a paced rate, first
alone (its unloaded p99), then while a helper process (:mod:`bench.flood`)
holds ``unauth`` connections that never authenticate (reopening each one the
server closes at its auth timeout) and ``idle`` authenticated connections.
Reported: the group's p99 loaded / unloaded, the server's RSS before, at the
end and its peak, and how many flood connections were open and reopened. The
baseline runs the same way (its "unauthenticated" connections never name a
room).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import msgpack

from bench.loadgen import Load, RawConn, client_frame, percentile
from bench.population import Population, populate
from bench.servers import Meters, ServerProc, cpu_seconds

STALL_LINE = re.compile(r"event loop stalled (\d+) ms: (.*)$")


@dataclass(frozen=True)
class TailPlan:
    rate: float = 500.0  # messages/s into each group
    measure: float = 60.0
    warmup: float = 2.0
    rounds: int = 2
    saturation: float = 20.0  # seconds of saturated sending first, to grow the WAL
    small: int = 10
    large: int = 100
    senders: int = 10
    window: int = 32


QUICK_TAIL = TailPlan(rate=200.0, measure=1.0, warmup=0.2, rounds=1, saturation=0.5, small=3, large=6, senders=3)


@dataclass(frozen=True)
class FloodPlan:
    members: int = 100
    senders: int = 10
    rate: float = 200.0  # messages/s into the group
    measure: float = 120.0  # past server.handshake_timeout_seconds (60): the flood's churn in its steady state
    warmup: float = 1.0
    unauth: int = 10_000
    idle: int = 10_000
    window: int = 32


QUICK_FLOOD = FloodPlan(members=6, senders=3, rate=100.0, measure=1.0, warmup=0.2, unauth=20, idle=20)


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _ms(ns: float) -> float | None:
    return None if ns != ns else round(ns / 1e6, 3)


# --------------------------------------------------------------------------- what happened meanwhile


class StallLog:
    """The server's ``event loop stalled`` lines written since :meth:`mark`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pos = 0

    def mark(self) -> None:
        try:
            self.pos = self.path.stat().st_size
        except OSError:
            self.pos = 0

    def read(self) -> list[tuple[float, str]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return []
        out = []
        for line in text.splitlines():
            m = STALL_LINE.search(line.rstrip('"}'))
            if m:
                out.append((float(m[1]), m[2].strip()))
        return out


def stall_summary(stalls: list[tuple[float, str]]) -> dict[str, Any]:
    if not stalls:
        return {"stalls": 0, "longest_stall_ms": None, "longest_stall_verdict": None}
    ms, verdict = max(stalls)
    return {"stalls": len(stalls), "longest_stall_ms": ms, "longest_stall_verdict": verdict,
            "stall_list": [f"{m:.0f} ms: {v}" for m, v in stalls[:20]]}


def cpu_pressure_us() -> int | None:
    """Linux PSI: microseconds in which some runnable task waited for a CPU (``/proc/pressure/cpu``)."""
    try:
        with open("/proc/pressure/cpu", encoding="ascii") as f:
            return int(f.readline().rsplit("total=", 1)[1])
    except (OSError, ValueError, IndexError):
        return None


class LagProbe:
    """The generator's own event-loop lag (a 10 ms tick), the same measure as the server's monitor,
    and the machine's CPU pressure over the same time (the share of time in which some runnable
    task, in any process, waited for a CPU: the stalls no process causes itself)."""

    def __init__(self) -> None:
        self.max_ms = 0.0
        self.over_50 = 0
        self._task: asyncio.Task | None = None
        self._psi: tuple[int | None, float] = (None, 0.0)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        expected = loop.time() + 0.01
        while True:
            await asyncio.sleep(max(0.0, expected - loop.time()))
            now = loop.time()
            lag = (now - expected) * 1000
            self.max_ms = max(self.max_ms, lag)
            if lag > 50:
                self.over_50 += 1
            expected = now + 0.01

    def start(self) -> None:
        self.max_ms, self.over_50 = 0.0, 0
        self._psi = (cpu_pressure_us(), time.monotonic())
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, Any]:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        out: dict[str, Any] = {"gen_max_lag_ms": round(self.max_ms, 1), "gen_stalls_over_50ms": self.over_50}
        psi0, t0 = self._psi
        psi1 = cpu_pressure_us()
        if psi0 is not None and psi1 is not None and time.monotonic() > t0:
            out["cpu_pressure_pct"] = round((psi1 - psi0) / 1e4 / (time.monotonic() - t0), 1)
        return out


def wal_mib(server: ServerProc) -> float | None:
    wal = server.dir / "qunguan.db-wal"
    return round(wal.stat().st_size / 2**20, 1) if wal.exists() else None


# --------------------------------------------------------------------------- rooms


def _auth_frame(token: str) -> bytes:
    return client_frame(msgpack.packb({"op": "auth", "rid": 1, "token": token}))


def _check_auth(reply: bytes) -> None:
    r = msgpack.unpackb(reply)
    if not r.get("ok"):
        raise RuntimeError(f"auth failed: {r.get('code')}: {r.get('reason')}")


def _check_joined(reply: bytes) -> None:
    if reply != b"joined":
        raise RuntimeError(f"baseline did not confirm the room: {reply[:40]!r}")


async def open_room(load: Load, pop: Population | None, room: str, users: list[int], senders: int,
                    window: int) -> list[RawConn]:
    """Connect ``users`` into ``room`` (a qunguan group id, or a baseline room name); make senders."""
    if load.kind == "qunguan":
        assert pop is not None
        conns = await load.open_many([_auth_frame(pop.tokens[u]) for u in users], _check_auth)
    else:
        conns = await load.open_many([client_frame(room.encode()) for _ in users], _check_joined)
    load.add_room(room, conns, senders, window, 0)
    return conns


def _room_name(i: int) -> str:
    return str(1_000_000_000 + i)


async def paced_raw(load: Load, rate: float, measure: float, warmup: float, cap: int) -> dict[str, Any]:
    """The paced phase; the latencies are summarised later (:func:`summarise`), since sorting
    millions of them takes the generator's loop long enough to show as its own stall."""
    r = await load.paced(rate, measure, warmup, cap=cap)
    await load.drain()
    return r


def summarise(r: dict[str, Any]) -> dict[str, Any]:
    arrived = r.pop("latencies_ns")
    lats = sorted(arrived)
    rate = r["target_msgs_per_s"]
    # p99 of each tenth of the phase (the samples in arrival order): a burst shows as one high window
    tenth = max(1, len(arrived) // 10)
    windows = [_ms(percentile(sorted(arrived[i:i + tenth]), 0.99)) for i in range(0, tenth * 10, tenth)] \
        if len(arrived) >= 10 else []
    return {
        "p99_by_tenth_ms": windows,
        "rate": rate,
        "achieved_msgs_per_s": round(r["achieved_msgs_per_s"], 1),
        "skipped": r["skipped"],
        "unfinished": r["unfinished"],
        "samples": len(lats),
        "p50_ms": _ms(percentile(lats, 0.50)),
        "p99_ms": _ms(percentile(lats, 0.99)),
        "p999_ms": _ms(percentile(lats, 0.999)),
        "max_ms": _ms(lats[-1]) if lats else None,
        "over_15ms": sum(1 for x in lats if x > 15_000_000),
    }


# --------------------------------------------------------------------------- --tail


async def run_tail(baseline: ServerProc, qunguan: ServerProc, plan: TailPlan) -> dict[str, Any]:
    small = list(range(plan.small))
    large = list(range(plan.small, plan.small + plan.large))
    _log(f"tail setup: {plan.small + plan.large} users, groups of {plan.small} and {plan.large}")
    pop = await populate(qunguan.host, qunguan.port, qunguan.dir / "sms.jsonl", plan.small + plan.large,
                         {"small": [small], "large": [large]})
    servers = {"baseline": baseline, "qunguan": qunguan}
    rooms: dict[str, dict[str, Load]] = {}
    for kind, srv in servers.items():
        rooms[kind] = {}
        for j, (name, users) in enumerate((("small", small), ("large", large))):
            load = Load(kind, srv.host, srv.port)
            room = pop.groups[name][0] if kind == "qunguan" else _room_name(j)
            await open_room(load, pop if kind == "qunguan" else None, room, users,
                            min(plan.senders, len(users)), plan.window)
            rooms[kind][name] = load
    stall_log = StallLog(qunguan.dir / "qunguan.log")
    out: dict[str, Any] = {"plan": asdict(plan), "saturation": {}, "rounds": []}
    try:
        # Saturation: grow the WAL (and warm both servers up).
        for kind, srv in servers.items():
            _log(f"tail: saturation on {kind} for {plan.saturation:.0f} s")
            loads = rooms[kind].values()
            stall_log.mark()
            m0 = sum(ld.messages() for ld in loads)
            cpu = Meters(srv.pid)
            cpu.start()
            for ld in loads:
                ld.start_saturation()
            await asyncio.sleep(plan.saturation)
            for ld in loads:
                ld.stop_saturation()
            cpu.stop()
            drained = all([await ld.drain() for ld in loads])
            entry = {"msgs": sum(ld.messages() for ld in loads) - m0, "drained": drained, **cpu.result}
            if kind == "qunguan":
                entry["wal_mib"] = wal_mib(srv)
                entry.update(stall_summary(stall_log.read()))
            out["saturation"][kind] = entry
        for rnd in range(1, plan.rounds + 1):
            for kind, srv in servers.items():
                _log(f"tail: round {rnd}/{plan.rounds} on {kind}: {plan.rate:.0f} msgs/s into each group "
                     f"for {plan.measure:.0f} s")
                await asyncio.sleep(0.5)
                stall_log.mark()
                probe = LagProbe()
                probe.start()
                cpu = Meters(srv.pid)
                cpu.start()
                raw = await asyncio.gather(*(paced_raw(ld, plan.rate, plan.measure, plan.warmup, plan.window)
                                             for ld in rooms[kind].values()))
                cpu.stop()
                lag = await probe.stop()
                res = [summarise(r) for r in raw]
                entry = {"round": rnd, "kind": kind, **dict(zip(rooms[kind], res, strict=True)),
                         **cpu.result, **lag, "rss_mib": round(srv.rss_kib() / 1024, 1)}
                if kind == "qunguan":
                    entry.update(stall_summary(stall_log.read()))
                    entry["wal_mib"] = wal_mib(srv)
                out["rounds"].append(entry)
                _log("  " + json.dumps({k: ({kk: vv for kk, vv in v.items() if kk.endswith("_ms")}
                                            if isinstance(v, dict) else v)
                                        for k, v in entry.items() if k != "stall_list"}))
    finally:
        for loads in rooms.values():
            for ld in loads.values():
                await ld.close_all()
    out["summary"] = tail_summary(out)
    return out


def tail_summary(out: dict[str, Any]) -> dict[str, Any]:
    s: dict[str, Any] = {}
    for kind in ("baseline", "qunguan"):
        rows = [r for r in out["rounds"] if r["kind"] == kind]
        for g in ("small", "large"):
            vals = [r[g] for r in rows if g in r]
            if vals:
                s[f"{kind}_{g}_p50_ms"] = max(v["p50_ms"] or 0 for v in vals)
                s[f"{kind}_{g}_p99_ms"] = max(v["p99_ms"] or 0 for v in vals)
                s[f"{kind}_{g}_max_ms"] = max(v["max_ms"] or 0 for v in vals)
        s[f"{kind}_others_cpu_pct_max"] = max((r.get("others_cpu_pct", 0) for r in rows), default=0)
        s[f"{kind}_gen_max_lag_ms"] = max((r.get("gen_max_lag_ms", 0) for r in rows), default=0)
    q = [r for r in out["rounds"] if r["kind"] == "qunguan"]
    stalls = [(r["longest_stall_ms"], r["longest_stall_verdict"]) for r in q if r.get("longest_stall_ms")]
    s["qunguan_stalls"] = sum(r.get("stalls", 0) for r in q)
    s["qunguan_longest_stall_ms"] = max(stalls)[0] if stalls else None
    s["qunguan_longest_stall_verdict"] = max(stalls)[1] if stalls else None
    for g in ("small", "large"):
        b, v = s.get(f"baseline_{g}_p99_ms"), s.get(f"qunguan_{g}_p99_ms")
        if b and v:
            s[f"{g}_p99_ratio"] = round(v / b, 2)
    return s


def tail_targets(out: dict[str, Any]) -> list[dict[str, Any]]:
    s = out["summary"]
    rows = []
    for g in ("small", "large"):
        v = s.get(f"qunguan_{g}_p99_ms")
        if v is not None:
            rows.append({"target": f"paced, group of {out['plan'][g]}: p99 <= 15 ms (worst round)", "value": v,
                         "met": v <= 15})
    longest = s.get("qunguan_longest_stall_ms") or 0.0
    rows.append({"target": "longest loop stall <= 50 ms (none logged)", "value": longest, "met": longest <= 50})
    return rows


def tail_table(out: dict[str, Any]) -> str:
    lines = [("| round | server | group | msgs/s | p50 ms | p99 ms | max ms | > 15 ms | server CPU % "
              "| others CPU % | CPU pressure % | gen max lag ms | stalls (longest: verdict) |"),
             "|" + "---|" * 13]
    for r in out["rounds"]:
        for g in ("small", "large"):
            v = r[g]
            stall = ""
            if r["kind"] == "qunguan" and g == "small":
                stall = (f"{r['stalls']} ({r['longest_stall_ms']:.0f} ms: {r['longest_stall_verdict']})"
                         if r.get("stalls") else "0")
            lines.append(f"| {r['round']} | {r['kind']} | {out['plan'][g]} | {v['achieved_msgs_per_s']:,.0f} "
                         f"| {v['p50_ms']} | {v['p99_ms']} | {v['max_ms']} | {v['over_15ms']} "
                         f"| {r.get('server_cpu_pct', 0):.0f} | {r.get('others_cpu_pct', 0):.0f} "
                         f"| {r.get('cpu_pressure_pct', '–')} | {r.get('gen_max_lag_ms', 0):.0f} | {stall} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- --flood


class FloodHelper:
    """The flood's connections, held by a helper process (each process may hold ~20,000 descriptors)."""

    def __init__(self, server: ServerProc, kind: str, unauth: int, tokens: list[str], workdir: Path) -> None:
        self.server = server
        self.kind = kind
        self.unauth = unauth
        self.tokens_file = workdir / f"flood-{kind}-tokens.txt"
        self.tokens_file.write_text("\n".join(tokens) + ("\n" if tokens else ""), encoding="utf-8")
        self.n_idle = len(tokens)
        self.proc: asyncio.subprocess.Process | None = None
        self.status: dict[str, Any] = {}
        self._ready: asyncio.Future[dict[str, Any]] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, timeout: float) -> dict[str, Any]:
        """Start the helper; return its first status with ``ready`` (every connection opened once)."""
        from bench.servers import ROOT

        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.flood", "--host", self.server.host, "--port", str(self.server.port),
            "--kind", self.kind, "--unauth", str(self.unauth), "--tokens", str(self.tokens_file),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
        )
        self._ready = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        return await asyncio.wait_for(asyncio.shield(self._ready), timeout)

    async def _read(self) -> None:
        """Keep the newest status line (the helper writes one a second)."""
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                if not self._ready.done():
                    self._ready.set_exception(RuntimeError("the flood helper exited"))
                return
            self.status = json.loads(line)
            if self._ready.done():
                continue
            if self.status.get("error"):
                self._ready.set_exception(RuntimeError(f"flood helper: {self.status['error']}"))
            elif self.status.get("ready"):
                self._ready.set_result(self.status)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()


async def run_flood(baseline: ServerProc, qunguan: ServerProc, plan: FloodPlan, workdir: Path,
                    nofile: int) -> dict[str, Any]:
    # Each process holds at most `nofile` descriptors: the server holds every flood
    # connection plus the group's, so the idle part shrinks to fit when the limit is low.
    room_for = nofile - plan.members - 200
    idle = max(0, min(plan.idle, room_for - plan.unauth))
    unauth = min(plan.unauth, room_for)
    n_users = plan.members + idle
    members = list(range(plan.members))
    _log(f"flood setup: {n_users} users (a group of {plan.members}, {idle} idle)")
    pop = await populate(qunguan.host, qunguan.port, qunguan.dir / "sms.jsonl", n_users, {"g": [members]})
    out: dict[str, Any] = {"plan": asdict(plan), "nofile_limit": nofile, "unauth": unauth, "idle": idle,
                           "setup_s": round(pop.timings["total_s"], 1)}
    for kind, srv in (("baseline", baseline), ("qunguan", qunguan)):
        load = Load(kind, srv.host, srv.port)
        room = pop.groups["g"][0] if kind == "qunguan" else _room_name(0)
        r: dict[str, Any] = {}
        out[kind] = r
        stall_log = StallLog(srv.dir / f"{srv.name}.log")
        helper: FloodHelper | None = None
        try:
            await open_room(load, pop if kind == "qunguan" else None, room, members,
                            min(plan.senders, plan.members), plan.window)
            await asyncio.sleep(0.5)
            r["rss_unloaded_mib"] = round(srv.rss_kib() / 1024, 1)
            _log(f"flood: {kind} unloaded, {plan.rate:.0f} msgs/s into the group of {plan.members}")
            stall_log.mark()
            cpu = Meters(srv.pid)
            cpu.start()
            probe = LagProbe()
            probe.start()
            raw = await paced_raw(load, plan.rate, plan.measure, plan.warmup, plan.window)
            r["unloaded"] = {**cpu.stop(), **await probe.stop()}
            r["unloaded"].update(summarise(raw))
            _log(f"flood: {kind}: {unauth} unauthenticated + {idle} idle connections")
            tokens = [pop.tokens[u] for u in range(plan.members, plan.members + idle)] if kind == "qunguan" \
                else [_room_name(1 + i // 10) for i in range(idle)]
            helper = FloodHelper(srv, kind, unauth, tokens, workdir)
            t0 = time.monotonic()
            peak = srv.rss_kib()
            ready = await helper.start(timeout=300)
            r["flood_open_s"] = round(time.monotonic() - t0, 1)
            r["flood_ready"] = ready
            peak = max(peak, srv.rss_kib())
            _log(f"flood: {kind} loaded ({json.dumps(ready)})")
            assert helper.proc is not None
            cpu = Meters(srv.pid, parts={"flood_helper": [helper.proc.pid]})  # load, not "others"
            cpu.start()
            probe.start()
            stall_log.mark()
            task = asyncio.create_task(paced_raw(load, plan.rate, plan.measure, plan.warmup, plan.window))
            while not task.done():
                peak = max(peak, srv.rss_kib())
                await asyncio.sleep(0.25)
            r["loaded"] = {**cpu.stop(), **await probe.stop()}
            r["loaded"].update(summarise(task.result()))
            r["flood_status"] = dict(helper.status)
            r["rss_loaded_end_mib"] = round(srv.rss_kib() / 1024, 1)
            r["rss_peak_mib"] = round(peak / 1024, 1)
            if kind == "qunguan":
                r.update(stall_summary(stall_log.read()))
            u, lo = r["unloaded"].get("p99_ms"), r["loaded"].get("p99_ms")
            r["p99_loaded_over_unloaded"] = round(lo / u, 2) if u and lo else None
            r["group_readers_closed"] = sum(1 for c in load.conns if c.lost.done() or c.close_code)
            _log("  " + json.dumps({k: v for k, v in r.items() if k not in ("stall_list",)}))
        finally:
            if helper is not None:
                await helper.stop()
            await load.close_all()
            await asyncio.sleep(1.0)
            await _settle(srv)
    return out


async def _settle(srv: ServerProc, limit: float = 20.0) -> None:
    """Wait (at most ``limit`` s) until ``srv`` uses under 5 % of a core: a server that held the
    flood's 20,000 connections spends seconds closing them, which the next server's unloaded
    phase would otherwise share the machine with."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        before = cpu_seconds(srv.pid)
        await asyncio.sleep(0.5)
        if cpu_seconds(srv.pid) - before < 0.025:
            return


def flood_targets(out: dict[str, Any]) -> list[dict[str, Any]]:
    q = out.get("qunguan", {})
    ratio = q.get("p99_loaded_over_unloaded")
    rows = [{"target": f"group of {out['plan']['members']}: p99 with {out['unauth']:,} unauthenticated + "
             f"{out['idle']:,} idle connections <= 2 x unloaded", "value": ratio,
             "met": ratio is not None and ratio <= 2}]
    if q.get("rss_peak_mib") is not None:
        n = out["unauth"] + out["idle"]
        per = (q["rss_peak_mib"] - q["rss_unloaded_mib"]) * 1024 / max(1, n)
        rows.append({"target": "memory bounded: RSS growth per flood connection (KiB, peak)", "value": round(per, 1),
                     "met": per <= 80})
    return rows


def flood_table(out: dict[str, Any]) -> str:
    lines = [("| server | phase | msgs/s | p50 ms | p99 ms | max ms | server CPU % | others CPU % "
              "| CPU pressure % | gen max lag ms | RSS MiB |"),
             "|" + "---|" * 11]
    for kind in ("baseline", "qunguan"):
        r = out.get(kind, {})
        for phase in ("unloaded", "loaded"):
            v = r.get(phase)
            if not v:
                continue
            rss = (r["rss_unloaded_mib"] if phase == "unloaded"
                   else f"{r['rss_loaded_end_mib']} (peak {r['rss_peak_mib']})")
            lines.append(f"| {kind} | {phase} | {v['achieved_msgs_per_s']:,.0f} | {v['p50_ms']} | {v['p99_ms']} "
                         f"| {v['max_ms']} | {v.get('server_cpu_pct', 0):.0f} | {v.get('others_cpu_pct', 0):.0f} "
                         f"| {v.get('cpu_pressure_pct', '–')} | {v.get('gen_max_lag_ms', 0):.0f} | {rss} |")
    return "\n".join(lines)
