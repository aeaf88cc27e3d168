"""``python -m bench --cluster``: the scenarios on one node and on three (issue 10).

Three setups, started together and measured in turn for each scenario (so they are
interleaved in time and share whatever else the machine is doing):

1. ``sqlite``: one node on SQLite, the bench's usual qunguan;
2. ``postgres``: one node on a fresh PostgreSQL database (``--postgres URL`` names the
   server, default the local one), dropped afterwards;
3. ``cluster``: three nodes (:mod:`server.cluster`) on another fresh database and NATS
   (``--nats URL``), under a ``[cluster] name`` of this run's own, sharing one identity key
   file. Node n1 starts first and takes the home lease; n2 and n3 are gateways. A group's
   senders connect to one node and its other members alternate over the other two, so
   every delivery crosses nodes: by default (``--cluster-senders gateway``) the senders are
   on gateway n2, the others on n1 (the home) and n3; with ``home`` the senders are on n1
   and the others on n2 and n3.

The scenarios are (a)-(d) (``--scenarios``: any of a, b, c, d, g), then (t) always: one group of
100 with 10 senders whose paced phase runs longer (``--tail-seconds``, default 10 s), for
the target "3 nodes: cross-node delivery p99 <= 25 ms at half of saturation in a group
of 100". Every paced phase runs at half of that setup's own saturating messages/s.

Each phase also meters the other processes of the system under test (``cpu_pct``: the
gateways, PostgreSQL's backends for the setup's database, NATS) and each run records the
loop monitor's stall lines of the node it measures (the home in the cluster), so the
table says where the time goes. ``QUNGUAN_BENCH_PROFILE=n1`` with ``--keep`` leaves a
cProfile of the home in ``n1/profile.pstats`` (see :mod:`bench.run_qunguan`).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from bench import pgdb, report
from bench.baseline import raise_nofile
from bench.population import Population, populate
from bench.scenarios import FULL, FULL_TIMING, QUICK, QUICK_TIMING, Scenario, Timing, describe, run_scenario
from bench.servers import ServerProc, cpu_seconds_sum, write_qunguan_config
from bench.tail import StallLog, stall_summary

SETUPS = ("sqlite", "postgres", "cluster")
LABELS = {"sqlite": "1 node, SQLite", "postgres": "1 node, PostgreSQL", "cluster": "3 nodes, PostgreSQL + NATS"}
ALLOWED = ("a", "b", "c", "d", "g", "t")
TARGET = Scenario("t", "1 group x 100 members, paced at half of saturation", groups=1, members=100, senders=10)
QUICK_TARGET = Scenario("t", "1 group x 6 members, paced at half of saturation", groups=1, members=6, senders=3)
PG_RATIO_TARGET = 0.7
P99_TARGET_MS = 25.0
DISTURBED_PCT = 25.0


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Nodes(ServerProc):
    """The cluster's nodes as one server for the scenarios: ``pid`` is the home's (its CPU is
    ``server_cpu_pct``), ``port`` the senders' node; members are placed by :meth:`port_for`."""

    def __init__(self, nodes: list[ServerProc], senders_on: int) -> None:
        home = nodes[0]
        super().__init__("cluster", home.argv, home.dir)
        self.nodes = nodes
        self.proc = home.proc
        self.host, self.port, self.listed_term = home.host, nodes[senders_on].port, home.listed_term
        self.receiver_ports = [n.port for i, n in enumerate(nodes) if i != senders_on]

    def port_for(self, member: int, senders: int) -> int:
        return self.port if member < senders else self.receiver_ports[(member - senders) % len(self.receiver_ports)]

    def cpu_seconds(self) -> float:
        return cpu_seconds_sum([n.pid for n in self.nodes])

    def rss_kib(self) -> int:
        return sum(n.rss_kib() for n in self.nodes)

    def alive(self) -> bool:
        return all(n.alive() for n in self.nodes)

    def log_tail(self, n: int = 4000) -> str:
        return "".join(f"--- {x.dir.name}\n{x.log_tail(n // len(self.nodes))}" for x in self.nodes)

    def stop(self) -> None:
        for node in reversed(self.nodes):  # the gateways first
            node.stop()


def start_node(workdir: Path, name: str, storage_url: str | None, extra: str = "",
               key_file: Path | None = None, log_level: str = "WARNING") -> ServerProc:
    """One qunguan in ``workdir/name``: the bench's config, plus ``extra`` (a [cluster] section)."""
    d = workdir / name
    d.mkdir(parents=True, exist_ok=True)
    cfg, term = write_qunguan_config(d, storage_url)
    text = cfg.read_text(encoding="utf-8").replace('log_level = "WARNING"\n', f'log_level = "{log_level}"\n', 1)
    if key_file is not None:
        text = text.replace("[identity]\n", f'[identity]\nkey_file = "{key_file}"\n', 1)
    cfg.write_text(text + extra, encoding="utf-8")
    srv = ServerProc("qunguan", [sys.executable, "-m", "bench.run_qunguan", "serve", "--config", str(cfg)], d)
    srv.listed_term = term
    return srv.start()


async def _home_holder(db_url: str) -> tuple[str, int] | None:
    conn = await asyncpg.connect(db_url, timeout=10)
    try:
        row = await conn.fetchrow("SELECT holder, epoch FROM cluster_leases WHERE name = 'home' AND expires_at > now()")
    except asyncpg.UndefinedTableError:
        row = None
    finally:
        await conn.close()
    return None if row is None else (row[0], row[1])


async def _ready(srv: ServerProc) -> bool:
    try:
        r, w = await asyncio.open_connection(srv.host, srv.port)
    except OSError:
        return False
    w.write(b"GET /readyz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    line = await r.readline()
    w.close()
    return b" 200 " in line


async def _until(what: str, check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def start_cluster(workdir: Path, db_url: str, nats_url: str, senders: str) -> tuple[Nodes, str]:
    """Three nodes; n1 is the home before n2 and n3 start. Returns them and the cluster's name."""
    name = f"bench{os.getpid()}{secrets.token_hex(3)}"
    key = workdir / "identity.key"
    key.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    key.chmod(0o600)

    def section(node: str) -> str:
        return f'\n[cluster]\nbroker_url = "{nats_url}"\nnode_id = "{node}"\nname = "{name}"\n'

    nodes = [start_node(workdir, "n1", db_url, section("n1"), key)]
    try:
        async def n1_home() -> bool:
            h = await _home_holder(db_url)
            return h is not None and h[0].startswith("n1/")

        await _until("n1 to take the home lease", n1_home)
        for n in ("n2", "n3"):
            nodes.append(start_node(workdir, n, db_url, section(n), key))
        for srv in nodes:
            await _until(f"{srv.dir.name} to be ready", functools.partial(_ready, srv))
    except BaseException:
        for srv in nodes:
            srv.stop()
        raise
    return Nodes(nodes, 1 if senders == "gateway" else 0), name


async def _backend_pids(admin_url: str, db: str) -> list[int]:
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        return [r[0] for r in await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", db)]
    finally:
        await conn.close()


def _nats_pids() -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if (p / "comm").read_text().strip() == "nats-server":
                    out.append(int(p.name))
            except OSError:
                pass
    return out


def _disturbance(r: dict[str, Any]) -> float:
    return float(max(r.get("others_cpu_pct", 0.0), r.get("paced_others_cpu_pct", 0.0)))


async def _run_one(sc: Scenario, srv: ServerProc, pop: Population, timing: Timing,
                   args: argparse.Namespace, watch: ServerProc) -> dict[str, Any]:
    """One scenario on one setup; repeated (``--retries``) while other processes disturb it."""
    best: dict[str, Any] = {}
    for attempt in range(1, args.retries + 2):
        stalls = StallLog(watch.dir / "qunguan.log")
        stalls.mark()
        try:
            if not srv.alive():
                raise RuntimeError(f"not running:\n{srv.log_tail()}")
            rate = args.cluster_paced_rate if sc.key == "t" else None  # None: half of this setup's saturation
            got = await asyncio.wait_for(run_scenario(sc, "qunguan", srv, pop, timing, rate), args.scenario_timeout)
        except Exception as exc:
            got = {"error": f"{type(exc).__name__}: {exc}"}
            _log(f"  failed: {got['error']}")
        got.update(stall_summary(stalls.read()), attempt=attempt)
        if not best or ("error" in best and "error" not in got) or (
                "error" not in got and _disturbance(got) < _disturbance(best)):
            best = got
        if "error" in got or _disturbance(got) < DISTURBED_PCT or attempt > args.retries:
            break
        _log(f"  other processes used {_disturbance(got):.0f}% of a core meanwhile; running it again")
    return best


async def run_cluster(args: argparse.Namespace) -> dict[str, Any]:
    catalogue = QUICK if args.quick else FULL
    timing = QUICK_TIMING if args.quick else FULL_TIMING
    keys = [k.strip() for k in args.scenarios.split(",") if k.strip()] if args.scenarios else ["a", "b", "c", "d"]
    bad = [k for k in keys if k not in ALLOWED]
    if bad:
        raise SystemExit(f"--cluster runs the messaging scenarios {', '.join(ALLOWED)}; not {', '.join(bad)}")
    target = QUICK_TARGET if args.quick else TARGET
    keys = [k for k in keys if k != "t"]
    selected = [catalogue[k] for k in keys] + [target]
    paced_s = args.tail_seconds if args.tail_seconds is not None else (timing.latency if args.quick else 10.0)
    admin_url = args.postgres or pgdb.DEFAULT_ADMIN_URL
    started = time.time()
    t_start = time.monotonic()
    results: dict[str, Any] = {"meta": {
        "mode": "cluster", "started_at": started,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "quick": args.quick, "scenarios": keys + ["t"], "timing": timing.__dict__, "target_paced_s": paced_s,
        "paced_rate": args.cluster_paced_rate,
        "host": platform.node(), "cpus": os.cpu_count(), "platform": platform.platform(),
        "nofile_soft_limit": raise_nofile(), "nats": args.nats, "postgres": admin_url,
        "senders_on": args.cluster_senders,
    }, "setups": {}, "scenarios": {}}
    workdir = Path(tempfile.mkdtemp(prefix="qunguan-bench-cluster-"))
    servers: dict[str, ServerProc] = {}
    dbs: list[str] = []
    try:
        db1, url1 = await pgdb.create(admin_url, "_1node")
        dbs.append(db1)
        db3, url3 = await pgdb.create(admin_url, "_3nodes")
        dbs.append(db3)
        _log(f"starting the setups in {workdir}")
        servers["sqlite"] = start_node(workdir, "sqlite", None)
        servers["postgres"] = start_node(workdir, "postgres", url1)
        nodes, name = await start_cluster(workdir, url3, args.nats, args.cluster_senders)
        servers["cluster"] = nodes
        home_at_start = await _home_holder(url3)
        senders_node = "n2 (a gateway)" if args.cluster_senders == "gateway" else "n1 (the home)"
        receivers = "n1 (the home) and n3" if args.cluster_senders == "gateway" else "n2 and n3 (gateways)"
        results["meta"]["cluster"] = {
            "name": name, "home": "n1", "home_lease": home_at_start,
            "placement": f"senders on {senders_node}; the other members alternate over {receivers}",
        }
        n_users = max(sc.users for sc in selected)
        shapes = {sc.shape: sc.group_members() for sc in selected}
        pops: dict[str, Population] = {}
        for setup in SETUPS:
            srv = nodes.nodes[0] if setup == "cluster" else servers[setup]  # the home registers fastest
            _log(f"{setup}: registering {n_users} users, {sum(len(g) for g in shapes.values())} groups")
            pops[setup] = await populate(srv.host, srv.port, srv.dir / "sms.jsonl", n_users, shapes,
                                         probe_term=srv.listed_term)
            results["setups"][setup] = {"label": LABELS[setup], "setup_s": round(pops[setup].timings["total_s"], 1),
                                        "content_filter": pops[setup].content_filter}
        servers["postgres"].parts = {"postgres": await _backend_pids(admin_url, db1)}
        nodes.parts = {"n2": [nodes.nodes[1].pid], "n3": [nodes.nodes[2].pid],
                       "postgres": await _backend_pids(admin_url, db3), "nats": _nats_pids()}
        for sc in selected:
            t = dataclasses.replace(timing, latency=paced_s) if sc.key == "t" else timing
            entry: dict[str, Any] = {"title": sc.title, "spec": describe(sc)}
            results["scenarios"][sc.key] = entry
            for setup in SETUPS:
                _log(f"scenario {sc.key} ({sc.title}) on {LABELS[setup]}")
                srv = servers[setup]
                watch = nodes.nodes[0] if setup == "cluster" else srv
                entry[setup] = r = await _run_one(sc, srv, pops[setup], t, args, watch)
                _log("  " + json.dumps({k: v for k, v in r.items() if not isinstance(v, (list, dict))}))
            p, s = entry["postgres"].get("deliveries_per_s"), entry["sqlite"].get("deliveries_per_s")
            entry["postgres_over_sqlite"] = round(p / s, 3) if p and s else None
            c = entry["cluster"].get("deliveries_per_s")
            entry["cluster_over_sqlite"] = round(c / s, 3) if c and s else None
        results["meta"]["cluster"]["home_lease_at_end"] = await _home_holder(url3)
    finally:
        for srv in servers.values():
            srv.stop()
        for db in dbs:
            try:
                await pgdb.drop(admin_url, db)
            except Exception as exc:
                _log(f"could not drop {db}: {exc}")
        if args.keep:
            _log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["meta"]["total_s"] = round(time.monotonic() - t_start, 1)
    results["targets"] = targets(results)
    results["table"] = table(results)
    return results


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, sc in results["scenarios"].items():
        r = sc.get("postgres_over_sqlite")
        if key != "t" and r is not None:
            out.append({"target": f"({key}) 1 node: PostgreSQL deliveries/s >= {PG_RATIO_TARGET} x SQLite",
                        "value": r, "met": r >= PG_RATIO_TARGET})
    t = results["scenarios"].get("t", {}).get("cluster", {})
    if results["meta"].get("paced_rate") is not None:
        return out  # a fixed light load (--cluster-paced-rate) is not the target's "half of saturation"
    if t.get("p99_ms") is not None:
        members = results["scenarios"]["t"]["spec"]["members"]
        out.append({"target": f"3 nodes, group of {members}: cross-node delivery p99 <= "
                              f"{P99_TARGET_MS:.0f} ms at half of saturation ({t['paced_msgs_per_s']:,.0f} msgs/s)",
                    "value": t["p99_ms"], "met": t["p99_ms"] <= P99_TARGET_MS})
    return out


def _cpu(r: dict[str, Any]) -> str:
    parts = r.get("cpu_pct", {})
    gw = [v for k, v in parts.items() if k in ("n2", "n3")]
    cells = [f"{r.get('server_cpu_pct', 0):.0f}"]
    if gw:
        cells.append("+".join(f"{v:.0f}" for v in gw))
    if "postgres" in parts:
        cells.append(f"pg {parts['postgres']:.0f}")
    if "nats" in parts:
        cells.append(f"nats {parts['nats']:.0f}")
    return " / ".join(cells)


def table(results: dict[str, Any]) -> str:
    head = ("| scen. | setup | deliveries/s | msgs/s | ÷ SQLite | p50 ms | p99 ms "
            "| CPU %: node (home) / gateways / pg / nats | gen CPU % | notes |")
    lines = [head, "|" + "---|" * 10]
    for key, sc in results["scenarios"].items():
        for setup in SETUPS:
            r = sc.get(setup, {})
            ratio = {"postgres": sc.get("postgres_over_sqlite"), "cluster": sc.get("cluster_over_sqlite")}.get(setup)
            notes = report._notes(key, r)
            if r.get("stalls"):
                stalls = f"{r['stalls']} stall(s), longest {r['longest_stall_ms']:.0f} ms: {r['longest_stall_verdict']}"
                notes = f"{notes}; {stalls}" if notes else stalls
            lines.append("| " + " | ".join([
                key if setup == "sqlite" else "", LABELS[setup],
                report._num(r.get("deliveries_per_s")), report._num(r.get("msgs_per_s")),
                report._num(ratio, 2) if ratio is not None else "",
                report._num(r.get("p50_ms"), 2), report._num(r.get("p99_ms"), 2),
                _cpu(r) if "error" not in r else "", report._num(r.get("gen_cpu_pct")), notes,
            ]) + " |")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        results = asyncio.run(run_cluster(args))
    else:
        results = uvloop.run(run_cluster(args))
    path = report.write(results, args.out, prefix="cluster")
    c = results["meta"]["cluster"]
    print(results["table"])
    print(f"\nhome: n1 ({c['placement']}); home lease at the start {c['home_lease']}, at the end "
          f"{c.get('home_lease_at_end')}")
    print("\nTargets (this run):\n" + report.targets_text(results["targets"]))
    print(f"results: {path} (and {args.out / 'cluster-latest.json'}); whole run {results['meta']['total_s']} s")
    failed = [k for k, sc in results["scenarios"].items() for s in SETUPS if "error" in sc.get(s, {})]
    return 1 if failed else 0
