"""Crash loop: ``kill -9`` the server during bursts, restart it, check that nothing acked was lost.

    python -m bench.crashloop                    # 50 kills (about 3 minutes)
    python -m bench.crashloop --iterations 5 --keep

Several clients in two groups keep ``window`` sends each in flight (every send
carries a unique text and ``client_msg_id``), so group commits are full when the
kill comes at a random moment of the burst. After every restart:

1. each sender sends again, with the same ``client_msg_id``, every message it
   sent but never saw acknowledged (the kill may have come before or after its
   commit): the reply is the first message's ``seq`` when it was stored, or a
   new one;
2. the whole new part of each group's ``history`` is read back, and checked:
   every acknowledged message is stored at the ``seq`` it was acknowledged with,
   with its text; no text is stored twice (a retry never duplicates); the
   stored ``seq``s have no gap and no duplicate; no two acks share a ``seq``.

At the end the whole history of both groups is read once more and checked
against every ack of the run. The server is the real one (``python -m server
serve``, SQLite, ``synchronous=FULL``), started by the end-to-end test harness
(``tests/e2e/harness.py``) in a temporary folder; ``tests/e2e/test_crashloop.py``
runs three iterations of the same loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from client_demo.client import Client
from tests.e2e.harness import ServerProcess, open_group


class LostWrite(AssertionError):
    """An acknowledged message is missing, moved or duplicated."""


@dataclass
class Sender:
    name: str
    token: str
    gid: str
    n: int = 0
    acked: dict[str, int] = field(default_factory=dict)  # text (= client_msg_id) -> seq
    pending: set[str] = field(default_factory=set)  # sent, no ack seen


@dataclass
class Stats:
    iterations: int = 0
    acked: int = 0
    unacked_at_kill: int = 0
    retried_found_stored: int = 0  # a retry answered with a seq that was already stored
    retried_new: int = 0
    stored: int = 0  # messages in the groups' histories (at the end: read back in full)
    acked_in_all: int = 0  # distinct messages acknowledged, retries included (set at the end)
    restart_s: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        r = sorted(self.restart_s)
        return {
            "iterations": self.iterations, "acked": self.acked, "unacked_at_kill": self.unacked_at_kill,
            "retries_already_stored": self.retried_found_stored, "retries_stored_now": self.retried_new,
            "stored": self.stored, "acked_in_all": self.acked_in_all,
            "restart_s_median": round(r[len(r) // 2], 2) if r else None,
            "restart_s_max": round(r[-1], 2) if r else None,
        }


async def _history(c: Client, gid: str, after: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = (await c.request("history", group_id=gid, after_seq=after, limit=500))["messages"]
        if not page:
            return out
        out.extend(page)
        after = page[-1]["seq"]


async def _connect(srv: ServerProcess, token: str) -> Client:
    c = await srv.client()
    await c.auth(token)
    return c


def check_group(gid: str, rows: list[dict[str, Any]], senders: list[Sender], first_seq: int) -> int:
    """Check the stored ``rows`` (seq > ``first_seq`` - 1) against the senders' acks; returns the last seq."""
    seqs = [m["seq"] for m in rows]
    if seqs != sorted(set(seqs)):
        raise LostWrite(f"group {gid}: history seqs are not strictly increasing")
    if seqs and seqs != list(range(first_seq, seqs[-1] + 1)):
        missing = sorted(set(range(first_seq, seqs[-1] + 1)) - set(seqs))
        raise LostWrite(f"group {gid}: seq gap, missing {missing[:10]}")
    by_text: dict[str, int] = {}
    for m in rows:
        if m["text"] in by_text:
            raise LostWrite(f"group {gid}: {m['text']!r} stored twice (seq {by_text[m['text']]} and {m['seq']})")
        by_text[m["text"]] = m["seq"]
    acked_seqs: dict[int, str] = {}
    for s in senders:
        if s.gid != gid:
            continue
        for text, seq in s.acked.items():
            if seq in acked_seqs:
                raise LostWrite(f"group {gid}: seq {seq} acked for {acked_seqs[seq]!r} and {text!r}")
            acked_seqs[seq] = text
            if seq < first_seq:
                continue
            if by_text.get(text) != seq:
                raise LostWrite(f"group {gid}: acked {text!r} at seq {seq}, stored at {by_text.get(text)}")
    return seqs[-1] if seqs else first_seq - 1


async def crash_loop(srv: ServerProcess, iterations: int, *, n_senders: int = 6, window: int = 8,
                     burst: tuple[float, float] = (0.2, 0.8), seed: int | None = None,
                     log: Any = None) -> dict[str, Any]:
    """Run the loop on a started ``srv``; raises :class:`LostWrite` at the first loss. Returns the figures."""
    rng = random.Random(seed)
    say = log or (lambda msg: None)
    loop = asyncio.get_running_loop()

    def quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # A request cut off by the kill leaves a ConnectionError in a future nobody awaits any more.
        if not isinstance(context.get("exception"), ConnectionError):
            loop.default_exception_handler(context)

    loop.set_exception_handler(quiet)
    # Two groups; senders alternate between them (the owners send too).
    owners = [await srv.user(), await srv.user()]
    gids = [await open_group(o) for o in owners]
    clients = list(owners)
    senders = [Sender(f"s{i}", owners[i].token or "", gids[i]) for i in range(2)]
    for i in range(2, n_senders):
        c = await srv.user()
        gid = gids[i % 2]
        await c.request("join_group", group_id=gid)
        clients.append(c)
        senders.append(Sender(f"s{i}", c.token or "", gid))
    reader_token = [owners[0].token or "", owners[1].token or ""]
    verified = {gid: 0 for gid in gids}  # the last seq checked per group
    stats = Stats()

    async def one_send(c: Client, s: Sender, text: str) -> None:
        s.pending.add(text)
        reply = await c.request("send", group_id=s.gid, text=text, client_msg_id=text, timeout=30)
        s.pending.discard(text)
        s.acked[text] = reply["seq"]

    async def pump(c: Client, s: Sender) -> None:
        while True:
            s.n += 1
            await one_send(c, s, f"{s.name}-{s.n}")

    for it in range(1, iterations + 1):
        # Retry what the last kill left unacknowledged, with the same client_msg_id.
        if it > 1:
            for s, c in zip(senders, clients, strict=True):
                for text in sorted(s.pending):
                    await one_send(c, s, text)
                    if s.acked[text] <= verified[s.gid]:  # stored before the kill, ack lost
                        stats.retried_found_stored += 1
                    else:
                        stats.retried_new += 1
        before = sum(len(s.acked) for s in senders)
        tasks = [asyncio.create_task(pump(c, s)) for s, c in zip(senders, clients, strict=True)
                 for _ in range(window)]
        await asyncio.sleep(rng.uniform(*burst))
        srv.kill9()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in clients:
            await c.close()
        stats.unacked_at_kill += sum(len(s.pending) for s in senders)
        stats.acked += sum(len(s.acked) for s in senders) - before

        t0 = time.monotonic()
        srv.start()
        stats.restart_s.append(time.monotonic() - t0)
        clients = [await _connect(srv, s.token) for s in senders]
        for j, gid in enumerate(gids):
            reader = await _connect(srv, reader_token[j])
            try:
                rows = await _history(reader, gid, verified[gid])
            finally:
                await reader.close()
            verified[gid] = check_group(gid, rows, senders, verified[gid] + 1)
        stats.iterations = it
        stats.stored = sum(verified.values())
        say(f"kill {it}/{iterations}: {stats.acked} acked so far, "
            f"{sum(len(s.pending) for s in senders)} to retry, {stats.stored} stored, all present")

    # Everything once more, from the start, against every ack of the run.
    for s, c in zip(senders, clients, strict=True):  # the last kill's leftovers too
        for text in sorted(s.pending):
            await one_send(c, s, text)
    stats.stored = 0
    for j, gid in enumerate(gids):
        reader = await _connect(srv, reader_token[j])
        try:
            rows = await _history(reader, gid, 0)
        finally:
            await reader.close()
        check_group(gid, rows, senders, 1)
        stats.stored += len(rows)
    if any(s.pending for s in senders):
        raise LostWrite("a retry was not acknowledged")
    stats.acked_in_all = sum(len(s.acked) for s in senders)
    if stats.stored != stats.acked_in_all:  # every acked one is there (check_group): so none is extra
        raise LostWrite(f"{stats.stored} messages stored, {stats.acked_in_all} acknowledged")
    for c in clients:
        await c.close()
    return stats.summary()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.crashloop", description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=50)
    p.add_argument("--senders", type=int, default=6)
    p.add_argument("--window", type=int, default=8, help="sends in flight per sender")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (database, server output)")
    args = p.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="qunguan-crashloop-"))
    srv = ServerProcess(workdir).start()
    t0 = time.monotonic()

    def say(msg: str) -> None:
        print(f"[crashloop {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    try:
        result = asyncio.run(crash_loop(srv, args.iterations, n_senders=args.senders, window=args.window,
                                        seed=args.seed, log=say))
    except LostWrite as err:
        print(f"LOST: {err}\n(server folder: {workdir})", file=sys.stderr)
        srv.stop()
        return 1
    finally:
        srv.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    result["total_s"] = round(time.monotonic() - t0, 1)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
