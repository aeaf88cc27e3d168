"""``python -m bench.takeover``: how soon a cluster serves again after its home node is killed.

Two nodes on a throw-away PostgreSQL database filled as ``bench.state_load`` fills it
(``--users`` users, a tenth as many groups of ten), and the NATS server at ``--nats``. Each
round kills the home with SIGKILL and times, from the kill:

* ``took_lease_s``: until the other node holds the home lease (a later epoch);
* ``served_s``: until that node answers ``/readyz`` with 200 as the home, its state loaded.

Then the killed node starts again, as a gateway, and the next round kills the new home. The
state load is the part that grows with the service (``bench.state_load`` times it alone); the
rest is how soon the gateway learns the home is gone (docs/scale-out.md, "Failover, step by
step"). Prints one JSON line per round and a summary; ``--out DIR`` also writes it there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import pgdb
from bench.cluster import _home_holder, _log, _ready, _until, start_node
from bench.servers import ServerProc
from bench.state_load import populate

LOAD_TIMEOUT = 300.0  # seconds for a node to be ready (a home loading millions of rows)


class TwoNodes:
    """n1 and n2 of one service; either may be restarted after a kill."""

    def __init__(self, workdir: Path, db_url: str, nats_url: str, lease: float) -> None:
        self.workdir, self.db_url = workdir, db_url
        name = f"takeover{secrets.token_hex(3)}"
        self.key = workdir / "identity.key"
        self.key.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
        self.key.chmod(0o600)
        self.sections = {n: (f'\n[cluster]\nbroker_url = "{nats_url}"\nnode_id = "{n}"\nname = "{name}"\n'
                             f"lease_seconds = {lease}\n") for n in ("n1", "n2")}
        self.nodes: dict[str, ServerProc] = {}

    def start(self, node: str) -> ServerProc:
        # (INFO: the new home's log line with how long its identity keys and its state took)
        self.nodes[node] = start_node(self.workdir, node, self.db_url, self.sections[node], self.key, "INFO")
        return self.nodes[node]

    def stop(self) -> None:
        for srv in self.nodes.values():
            srv.stop()


async def _round(nodes: TwoNodes) -> dict[str, Any]:
    held = await _home_holder(nodes.db_url)
    assert held is not None, "no home"
    home_id, epoch = held[0].split("/", 1)[0], held[1]
    other_id = "n2" if home_id == "n1" else "n1"
    home, other = nodes.nodes[home_id], nodes.nodes[other_id]
    assert home.proc is not None
    home.proc.send_signal(signal.SIGKILL)
    killed = time.perf_counter()
    home.proc.wait(10)
    took: float | None = None
    while True:
        now = await _home_holder(nodes.db_url)
        if took is None and now is not None and now[1] > epoch:
            took = time.perf_counter() - killed
            assert now[0].startswith(f"{other_id}/"), now
        if took is not None and await _ready(other):
            served = time.perf_counter() - killed
            break
        if time.perf_counter() - killed > LOAD_TIMEOUT:
            raise RuntimeError(f"{other_id} did not serve within {LOAD_TIMEOUT:g} s:\n{other.log_tail()}")
        await asyncio.sleep(0.02)
    phases = ""
    for _ in range(100):  # (logged just after it answers as the home)
        log = other.log_tail(200_000)
        phases = next((line.split("is the home node ", 1)[1] for line in reversed(log.splitlines())
                       if "is the home node (" in line), "")
        if phases:
            break
        await asyncio.sleep(0.05)
    gone = "is gone (its database session and its NATS subscriptions ended)" in log
    if not gone:
        _log("not noticed by the lock; the new home's log:\n" + "\n".join(
            line for line in log.splitlines() if "qunguan.cluster" in line or "lock" in line)[-3000:])
    if "loaded ahead)" not in phases:  # (why not: the new home's lines about it)
        _log("the state was not loaded ahead; the new home's log:\n" + "\n".join(
            line for line in log.splitlines() if "ahead" in line or "loaded again" in line)[-3000:])
    home.stop()
    _log(f"{other_id} took the lease {took:.2f} s and served {served:.2f} s after the kill of {home_id}")
    restarted = nodes.start(home_id)  # a gateway now, for the next round
    await _until(f"{home_id} to be ready again", lambda: _ready(restarted), LOAD_TIMEOUT)
    await asyncio.sleep(1.0)  # (it hears the home and waits on its lock)
    return {"killed": home_id, "took_lease_s": round(took, 3), "served_s": round(served, 3),
            "noticed_by_lock": gone, "loaded_ahead": "loaded ahead)" in phases, "home_says": phases}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    admin = args.postgres or pgdb.DEFAULT_ADMIN_URL
    name, url = await pgdb.create(admin, "_takeover")
    try:
        t0 = time.perf_counter()
        sizes = await populate(url, args.users)
        _log(f"populated {sizes} in {time.perf_counter() - t0:.1f} s")
        with tempfile.TemporaryDirectory(prefix="qunguan-takeover-") as tmp:
            nodes = TwoNodes(Path(tmp), url, args.nats, args.lease)
            try:
                n1 = nodes.start("n1")

                async def n1_serves() -> bool:
                    h = await _home_holder(url)
                    return h is not None and h[0].startswith("n1/") and await _ready(n1)

                await _until("n1 to load the state and serve", n1_serves, LOAD_TIMEOUT)
                n2 = nodes.start("n2")
                await _until("n2 to be ready", lambda: _ready(n2), LOAD_TIMEOUT)
                await asyncio.sleep(1.0)
                rounds = []
                for _ in range(args.rounds):
                    rounds.append(await _round(nodes))
                    print(json.dumps(rounds[-1]), flush=True)
            finally:
                nodes.stop()
        summary = {**sizes, "lease_seconds": args.lease,
                   "took_lease_s": [r["took_lease_s"] for r in rounds],
                   "served_s": [r["served_s"] for r in rounds]}
        print(json.dumps(summary), flush=True)
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"takeover-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
                json.dumps({"summary": summary, "rounds": rounds}, indent=1), encoding="utf-8")
        return summary
    finally:
        await pgdb.drop(admin, name)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.takeover")
    p.add_argument("--users", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--lease", type=float, default=3.0, help="the nodes' [cluster] lease_seconds")
    p.add_argument("--postgres", default=None, metavar="URL")
    p.add_argument("--nats", default="nats://127.0.0.1:4222", metavar="URL")
    p.add_argument("--out", type=Path, default=None)
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
