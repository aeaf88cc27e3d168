"""``python -m bench``: run the scenarios against the baseline and qunguan, print the table.

    python -m bench                       # everything: 3.5 to 5 minutes on 2 cores
    python -m bench --quick               # tiny sizes, sub-second phases: about 30 s
    python -m bench --scenarios a,c,f     # a subset
    python -m bench --out bench/results/  # where the JSON goes (timestamped + latest.json)
    python -m bench --tail                # paced tail latency, groups of 10 and 100 (about 6 minutes)
    python -m bench --flood               # a chatting group under connection floods (about 9 minutes)
    python -m bench --cluster             # (a)-(d) on 1 node SQLite, 1 node PostgreSQL, 3 nodes (about 6 minutes)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.baseline import raise_nofile
from bench.population import populate
from bench.scenarios import FULL, FULL_TIMING, QUICK, QUICK_TIMING, describe, run_scenario
from bench.servers import ROOT, WORD_LIST_TERMS, start_baseline, start_qunguan


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("websockets", "uvloop", "msgpack", "aiosqlite"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:
            out[mod] = "?"
    return out


DISTURBED_PCT = 25.0  # other processes' CPU (% of one core) above which a run is repeated


def _disturbance(r: dict[str, Any]) -> float:
    return max(r.get("others_cpu_pct", 0.0), r.get("paced_others_cpu_pct", 0.0))


def _git_commit(root: Path) -> str:
    """The checkout's commit, with ``+dirty`` when tracked files differ from it ("?" without git)."""
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return (commit + ("+dirty" if dirty else "")) if commit else "?"


MEMORY_FILESYSTEMS = {"tmpfs", "ramfs"}


def _filesystem(path: Path) -> str:
    """The type of the filesystem ``path`` is on (``/proc/mounts``: the longest mount point that
    holds it), or "?" where that cannot be read."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "?"
    real = str(path.resolve())
    best = max((m for m in mounts if real == m[0] or real.startswith(m[0].rstrip("/") + "/")),
               key=lambda m: len(m[0]), default=None)
    return best[1] if best else "?"


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    catalogue = QUICK if args.quick else FULL
    timing = QUICK_TIMING if args.quick else FULL_TIMING
    if args.slow_seconds is not None:
        timing = dataclasses.replace(timing, slow_extra=args.slow_seconds)
    keys = [k.strip() for k in args.scenarios.split(",") if k.strip()] if args.scenarios else list(catalogue)
    unknown = [k for k in keys if k not in catalogue]
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}; choose from {', '.join(catalogue)}")
    selected = [catalogue[k] for k in keys]
    started = time.time()
    t_start = time.monotonic()
    results: dict[str, Any] = {
        "meta": {
            "started_at": started,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "quick": args.quick,
            "scenarios": keys,
            "timing": timing.__dict__,
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "versions": _versions(),
            "nofile_soft_limit": raise_nofile(),
            "qunguan_root": str(args.qunguan_root or ROOT),
            "qunguan_commit": _git_commit(args.qunguan_root or ROOT),
            "qunguan_config": {
                "storage": "SQLite, WAL (the server's default): each batch committed, its WAL fdatasync'ed by a "
                           "helper before any ack; temp folder",
                "messages_per_second": "0 (disabled: the benchmark measures throughput)",
                "word_list_terms": WORD_LIST_TERMS,
                "argon2": "time_cost=1, memory_kib=1024",
            },
        },
        "setup": {},
        "scenarios": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="qunguan-bench-"))
    results["meta"]["workdir_filesystem"] = _filesystem(workdir)
    if results["meta"]["workdir_filesystem"] in MEMORY_FILESYSTEMS:
        _log(f"warning: {workdir} is on {results['meta']['workdir_filesystem']}: every fsync is free there, "
             "so qunguan's durability costs nothing in this run (set TMPDIR to a disk)")
    baseline = qunguan = None
    pg_db: str | None = None
    try:
        storage_url = None
        if args.postgres:  # qunguan on a throw-away PostgreSQL database instead of the SQLite file
            from bench import pgdb

            pg_db, storage_url = await pgdb.create(args.postgres)
            results["meta"]["qunguan_config"]["storage"] = f"PostgreSQL (asyncpg), fresh database {pg_db}"
        _log(f"starting servers in {workdir}")
        baseline = start_baseline(workdir)
        qunguan = start_qunguan(workdir, args.qunguan_root, storage_url)
        results["meta"]["pids"] = {"baseline": baseline.pid, "qunguan": qunguan.pid, "generator": os.getpid()}

        # qunguan's accounts and groups (not measured; timed separately).
        n_users = max(sc.users for sc in selected)
        shapes = {sc.shape: sc.group_members() for sc in selected if sc.groups}
        _log(f"qunguan setup: registering {n_users} users, {sum(len(g) for g in shapes.values())} groups")
        pop = await populate(qunguan.host, qunguan.port, qunguan.dir / "sms.jsonl", n_users, shapes,
                             probe_term=qunguan.listed_term)
        results["meta"]["qunguan_config"]["content_filter"] = pop.content_filter
        results["setup"]["qunguan"] = {k: round(v, 2) if isinstance(v, float) else v
                                       for k, v in pop.timings.items()}
        results["setup"]["qunguan"]["rss_mib"] = round(qunguan.rss_kib() / 1024, 1)
        _log(f"setup done in {pop.timings['total_s']:.1f} s; content filter: {pop.content_filter}")

        # The idle scenario runs first, on a server that has not yet held thousands of
        # connections: RSS is a high-water mark, so memory freed by an earlier scenario
        # would be reused and hide the per-connection cost.
        for sc in sorted(selected, key=lambda sc: 0 if sc.idle else 1):
            entry: dict[str, Any] = {"title": sc.title, "spec": describe(sc)}
            results["scenarios"][sc.key] = entry
            paced_rate = None
            for kind, server in (("baseline", baseline), ("qunguan", qunguan)):
                _log(f"scenario {sc.key} ({sc.title}) on {kind}")
                r = {}
                # No repeat for the idle scenario: its RSS figure is only right on a first run.
                attempts = 1 if sc.idle else args.retries + 1
                for attempt in range(1, attempts + 1):
                    try:
                        if not server.alive():
                            raise RuntimeError(f"{kind} is not running:\n{server.log_tail()}")
                        got = await asyncio.wait_for(
                            run_scenario(sc, kind, server, pop if kind == "qunguan" else None, timing,
                                         paced_rate),
                            timeout=args.scenario_timeout,
                        )
                    except Exception as exc:  # report and go on with the other runs
                        got = {"error": f"{type(exc).__name__}: {exc}"}
                        _log(f"  failed: {got['error']}")
                    got["attempt"] = attempt
                    if not r or ("error" in r and "error" not in got) or (
                        "error" not in got and _disturbance(got) < _disturbance(r)
                    ):
                        r = got
                    if "error" in got:
                        break
                    if _disturbance(got) < DISTURBED_PCT:
                        break
                    if attempt == attempts or time.monotonic() - t_start > args.retry_budget:
                        _log(f"  other processes used {_disturbance(got):.0f}% of a core meanwhile; no repeat "
                             f"left (--retries {args.retries}, --retry-budget {args.retry_budget:.0f} s): kept")
                        break
                    _log(f"  other processes used {_disturbance(got):.0f}% of a core meanwhile; running it again")
                entry[kind] = r
                if kind == "baseline" and r.get("msgs_per_s"):
                    paced_rate = 0.5 * r["msgs_per_s"]
                _log("  " + json.dumps({k: v for k, v in r.items() if not isinstance(v, (list, dict))}))
            if "baseline" in entry and "qunguan" in entry:
                entry["ratio"] = report.ratios(entry["baseline"], entry["qunguan"])
    finally:
        for srv in (baseline, qunguan):
            if srv is not None:
                srv.stop()
        if pg_db is not None:
            from bench import pgdb

            await pgdb.drop(args.postgres, pg_db)
        if args.keep:
            _log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["meta"]["total_s"] = round(time.monotonic() - t_start, 1)
    return results


async def run_mode(args: argparse.Namespace) -> dict[str, Any]:
    """``--tail`` or ``--flood`` (:mod:`bench.tail`): both servers, interleaved, in one run."""
    from bench import tail

    started = time.time()
    mode = "tail" if args.tail else "flood"
    nofile = raise_nofile()
    results: dict[str, Any] = {"meta": {
        "mode": mode, "started_at": started,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "quick": args.quick, "host": platform.node(), "cpus": os.cpu_count(), "platform": platform.platform(),
        "versions": _versions(), "nofile_soft_limit": nofile,
        "qunguan_commit": _git_commit(args.qunguan_root or ROOT),
    }}
    t_start = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix=f"qunguan-bench-{mode}-"))
    baseline = qunguan = None
    try:
        baseline = start_baseline(workdir)
        qunguan = start_qunguan(workdir, args.qunguan_root, pacing=args.flood)
        if args.tail:
            plan = tail.QUICK_TAIL if args.quick else tail.TailPlan()
            if args.tail_seconds is not None:
                plan = dataclasses.replace(plan, measure=args.tail_seconds)
            if args.rounds is not None:
                plan = dataclasses.replace(plan, rounds=args.rounds)
            results["tail"] = await tail.run_tail(baseline, qunguan, plan)
            results["targets"] = tail.tail_targets(results["tail"])
            results["table"] = tail.tail_table(results["tail"])
        else:
            fplan = tail.QUICK_FLOOD if args.quick else tail.FloodPlan()
            if args.tail_seconds is not None:
                fplan = dataclasses.replace(fplan, measure=args.tail_seconds)
            results["flood"] = await tail.run_flood(baseline, qunguan, fplan, workdir, nofile)
            results["targets"] = tail.flood_targets(results["flood"])
            results["table"] = tail.flood_table(results["flood"])
    finally:
        for srv in (baseline, qunguan):
            if srv is not None:
                srv.stop()
        if args.keep:
            _log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["meta"]["total_s"] = round(time.monotonic() - t_start, 1)
    return results


def _main_mode(args: argparse.Namespace) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        results = asyncio.run(run_mode(args))
    else:
        results = uvloop.run(run_mode(args))
    mode = results["meta"]["mode"]
    path = report.write(results, args.out, prefix=mode)
    print(results["table"])
    if mode == "tail":
        s = results["tail"]["summary"]
        sat = results["tail"]["saturation"].get("qunguan", {})
        print(f"\nqunguan's WAL after the saturation phase: {sat.get('wal_mib')} MiB; "
              f"stalls logged in the paced rounds: {s['qunguan_stalls']}"
              + (f", longest {s['qunguan_longest_stall_ms']:.0f} ms: {s['qunguan_longest_stall_verdict']}"
                 if s["qunguan_longest_stall_ms"] else ""))
    else:
        f = results["flood"]
        print(f"\nflood: {f['unauth']:,} unauthenticated + {f['idle']:,} idle connections "
              f"(descriptor limit {f['nofile_limit']:,} per process); qunguan: "
              + json.dumps({k: f.get("qunguan", {}).get(k) for k in
                            ("flood_open_s", "flood_status", "rss_unloaded_mib", "rss_peak_mib",
                             "rss_loaded_end_mib", "p99_loaded_over_unloaded", "stalls")}))
    print("\nTargets (qunguan, this run):\n" + report.targets_text(results["targets"]))
    print(f"results: {path} (and {args.out / (mode + '-latest.json')})")
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes and sub-second phases (a smoke test)")
    p.add_argument("--scenarios", default="", help="comma-separated subset of a,b,c,d,e,f,g (default: all)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results",
                   help="folder for the JSON results (default: bench/results/)")
    p.add_argument("--qunguan-root", type=Path, default=None,
                   help="run qunguan from another checkout (to compare versions); default: this one")
    p.add_argument("--scenario-timeout", type=float, default=None,
                   help="give up on one scenario run after this many seconds (default 180, plus --slow-seconds)")
    p.add_argument("--retries", type=int, default=1,
                   help="repeat a scenario run this many times when other processes used more than "
                        f"{DISTURBED_PCT:.0f}%% of a core during it; the least disturbed run is kept")
    p.add_argument("--retry-budget", type=float, default=420.0,
                   help="no repeats once the run has taken this many seconds")
    p.add_argument("--slow-seconds", type=float, default=None,
                   help="(f): seconds of saturated sending before the measured phases (default 3, 0.3 with "
                        "--quick); "
                        "a few minutes lets the non-readers' backlog pass the kernel buffers and "
                        "reach qunguan's outbox limit")
    p.add_argument("--postgres", nargs="?", const="postgresql://postgres@127.0.0.1:5432/postgres", default=None,
                   metavar="URL", help="run qunguan on a throw-away PostgreSQL database made through URL "
                   "(default: the local server as user postgres) instead of the SQLite file")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (configs, logs, databases)")
    p.add_argument("--tail", action="store_true",
                   help="paced tail latency instead of the scenarios: groups of 10 and 100 at 500 msgs/s each, "
                        "after a saturation phase, in rounds; with the server's logged loop stalls")
    p.add_argument("--flood", action="store_true",
                   help="connection floods instead of the scenarios: a group of 100 chatting, alone and beside "
                        "10,000 unauthenticated and 10,000 idle authenticated connections")
    p.add_argument("--cluster", action="store_true",
                   help="the scenarios (default a-d) on 1 node SQLite, 1 node PostgreSQL (--postgres) and 3 nodes "
                        "on PostgreSQL + NATS (--nats), then a paced group of 100 (bench/cluster.py)")
    p.add_argument("--nats", default="nats://127.0.0.1:4222", metavar="URL", help="--cluster: the NATS server")
    p.add_argument("--cluster-senders", choices=("gateway", "home"), default="gateway",
                   help="--cluster: the node the senders connect to (default: gateway n2; the others go to n1, "
                        "the home, and n3)")
    p.add_argument("--cluster-paced-rate", type=float, default=None, metavar="MSGS_PER_S",
                   help="--cluster: pace the group of 100 at this many messages/s on every setup instead of at "
                        "half of each one's saturation (the latency floor at a light load)")
    p.add_argument("--tail-seconds", type=float, default=None,
                   help="--tail/--flood/--cluster: seconds of each measured paced phase (default 60 / 120; "
                        "--cluster: 10, for the group of 100 only)")
    p.add_argument("--rounds", type=int, default=None, help="--tail: paced rounds per server (default 2)")
    args = p.parse_args(argv)
    if args.tail + args.flood + args.cluster > 1:
        p.error("--tail, --flood and --cluster are separate runs")
    # An option the chosen run does not read is refused, not silently ignored.
    mode = "--tail" if args.tail else "--flood" if args.flood else "--cluster" if args.cluster else None
    unread = {
        "--tail": ["--scenarios", "--retries", "--retry-budget", "--scenario-timeout", "--slow-seconds", "--postgres",
                   "--nats", "--cluster-senders", "--cluster-paced-rate"],
        "--flood": ["--scenarios", "--retries", "--retry-budget", "--scenario-timeout", "--slow-seconds", "--postgres",
                    "--rounds", "--nats", "--cluster-senders", "--cluster-paced-rate"],
        "--cluster": ["--qunguan-root", "--rounds", "--slow-seconds", "--retry-budget"],
        None: ["--rounds", "--tail-seconds", "--nats", "--cluster-senders", "--cluster-paced-rate"],
    }[mode]
    given = [opt for opt in unread
             if getattr(args, opt[2:].replace("-", "_")) != p.get_default(opt[2:].replace("-", "_"))]
    if given:
        p.error(f"{', '.join(given)}: not read by {mode or 'the scenarios'} (see --help)")
    if args.scenario_timeout is None:
        args.scenario_timeout = 180.0 + (args.slow_seconds or 0.0)
    raise_nofile()
    # SIGTERM ends the run like Ctrl-C: the servers are stopped and the temp folder removed.
    signal.signal(signal.SIGTERM, _interrupt)
    if args.tail or args.flood:
        return _main_mode(args)
    if args.cluster:
        from bench import cluster

        return cluster.main(args)
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        results = asyncio.run(run(args))
    else:
        results = uvloop.run(run(args))
    results["scenarios"] = dict(sorted(results["scenarios"].items()))
    text = report.table(results)
    results["table"] = text
    results["targets"] = report.targets(results)
    path = report.write(results, args.out)
    print(text)
    if results["targets"]:
        print("\nIssue 6 targets (qunguan, this run):\n" + report.targets_text(results["targets"]))
    setup = results["setup"].get("qunguan", {})
    print(f"\nqunguan setup (not measured): {setup.get('users')} users registered and logged in, "
          f"{setup.get('groups')} groups, {setup.get('memberships')} memberships in {setup.get('total_s')} s; "
          f"whole run {results['meta']['total_s']} s")
    print(f"qunguan {results['meta']['qunguan_commit']}; content filter ({WORD_LIST_TERMS:,} terms): "
          f"{results['meta']['qunguan_config'].get('content_filter')}")
    print(f"results: {path} (and {args.out / 'latest.json'})")
    failed = [k for k, sc in results["scenarios"].items() for kind in ("baseline", "qunguan")
              if "error" in sc.get(kind, {})]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
