"""``python -m bench --state-load``: how fast a node loads its in-memory state, and what it holds.

A new home loads the whole state before it serves (docs/scale-out.md, "Failover"), so this
load sets the failover time of a large service, and the state's size the home's memory. The
run makes a throw-away PostgreSQL database, migrates it with the real store, bulk-loads
``--users`` users (a tenth of them identity-verified), a tenth as many groups of ten members
each (so as many memberships as users, every user in one group) with COPY, and then, in a
fresh child process each time (so one round's garbage never weighs on the next):

* ``load_state`` on the real ``PostgresStore``, timed, with the garbage collector set as a
  serving node sets it (``server.gcpolicy``); rows per second over users, groups and members;
* the same load under ``tracemalloc``: the bytes the state holds, divided per user, per group,
  per membership and per ``client_msg_id`` by loading one more kind each time (users; with
  groups; with memberships; everything).

``--ended N`` adds N dissolved groups of ten members each (drawn from the users), whose rows a
service keeps for good and a start must not read (``loading.LIVE_MEMBERS``).

``--ids N`` adds N messages with a ``client_msg_id`` over the last day, which a takeover
reads into the retry index (``server/sent_ids.py``); their part of the load is timed apart.

Prints one JSON line per round and a summary; ``--out DIR`` also writes it there.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import asyncpg

from bench import pgdb

GROUP_SIZE = 10


async def populate(url: str, users: int, ids: int = 0, ended: int = 0) -> dict[str, int]:
    """Migrate a fresh database with the real store, then COPY the rows in."""
    from server.storage.postgres import PostgresStore

    store = PostgresStore(url)
    await store.open()
    await store.close()
    groups = max(1, users // GROUP_SIZE)
    conn = await asyncpg.connect(url, timeout=30)
    try:
        now = int(time.time() * 1000)
        await conn.copy_records_to_table(
            "users",
            columns=["user_id", "username", "username_key", "password_hash", "display_name", "phone_hmac",
                     "phone_enc", "id_verified_at", "credit_score", "created_at"],
            # (phone_enc empty: nothing sealed, so that bench.takeover's nodes start on it with any key)
            records=((f"u{i:09d}", f"user{i}", f"user{i}", "x", f"用户{i}", i.to_bytes(8, "big"), b"",
                      now if i % 10 == 0 else None, 100, now) for i in range(users)),
        )
        await conn.copy_records_to_table(
            "groups",
            columns=["group_id", "name", "category", "join_policy", "owner_id", "created_at", "last_seq"],
            records=((f"{100000000 + j}", f"群{j}", "friends", "open", f"u{j * GROUP_SIZE:09d}", now, 50)
                     for j in range(groups)),
        )
        await conn.copy_records_to_table(
            "members",
            columns=["group_id", "user_id", "role", "joined_at", "joined_seq"],
            records=((f"{100000000 + i // GROUP_SIZE}", f"u{i:09d}", "owner" if i % GROUP_SIZE == 0 else "member",
                      now, 0) for i in range(groups * GROUP_SIZE)),
        )
        await conn.copy_records_to_table(
            "groups",
            columns=["group_id", "name", "category", "join_policy", "owner_id", "created_at", "last_seq",
                     "dissolved_at"],
            records=((f"{500000000 + j}", f"散{j}", "friends", "open", f"u{(j * GROUP_SIZE) % users:09d}", now, 50,
                      now) for j in range(ended)),
        )
        await conn.copy_records_to_table(  # (every seventh user, so the ended groups' members are spread)
            "members",
            columns=["group_id", "user_id", "role", "joined_at", "joined_seq"],
            records=((f"{500000000 + i // GROUP_SIZE}", f"u{(i * 7) % users:09d}",
                      "owner" if i % GROUP_SIZE == 0 else "member", now, 0) for i in range(ended * GROUP_SIZE)),
        )
        # ``ids`` messages with a client_msg_id over the last day, spread over the groups and
        # their members: what a takeover reads into the retry index (server/sent_ids.py).
        day = 86_400_000
        await conn.copy_records_to_table(
            "messages",
            columns=["group_id", "seq", "ts", "sender_id", "sender_role", "text", "client_msg_id"],
            records=((f"{100000000 + k % groups}", 1000 + k // groups,
                      now - day + 60_000 + (k * (day - 120_000)) // max(ids, 1),
                      f"u{(k % groups) * GROUP_SIZE + k % GROUP_SIZE:09d}", "member", "hi",
                      f"web-{k:012d}-0f3c2a9e") for k in range(ids)),
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return {"users": users, "groups": groups, "members": groups * GROUP_SIZE, "ids": ids, "ended": ended}


async def _load(url: str, kinds: str, traced: bool) -> dict[str, Any]:
    """One load in this process: the whole state (``all``) timed, or under tracemalloc with only
    some kinds of rows (``users``, ``users+groups``, ``all``)."""
    from server.storage import loading
    from server.storage.postgres import PostgresStore

    if kinds != "all":  # the queries of the kinds left out return no rows
        if "groups" not in kinds:
            loading.LIVE_GROUPS += " AND false"
            loading.DAILY = loading.DAILY.replace("WHERE", "WHERE false AND")
        if "members" not in kinds:
            loading.LIVE_MEMBERS += " AND false"
        loading.RECENT_IDS = loading.RECENT_IDS.replace("WHERE", "WHERE false AND")
    ids_seconds = 0.0
    load_ids = loading.load_sent_ids

    async def timed_ids(*args: Any) -> None:  # the part of the load that reads the retry index
        nonlocal ids_seconds
        t = time.perf_counter()
        await load_ids(*args)
        ids_seconds = time.perf_counter() - t

    loading.load_sent_ids = timed_ids  # type: ignore[assignment]
    store = PostgresStore(url)
    await store.open()
    try:
        if traced:
            tracemalloc.start()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0] if traced else 0
        t0 = time.perf_counter()
        gc.disable()  # as App.load_home loads
        try:
            state = await store.load_state(int(time.time() * 1000), 7)
        finally:
            gc.enable()
        seconds = time.perf_counter() - t0
        gc.collect()
        held = (tracemalloc.get_traced_memory()[0] - before) if traced else 0
        if traced:
            tracemalloc.stop()
        n_members = sum(len(g.members) for g in state.groups.values())
        return {"kinds": kinds, "traced": traced, "seconds": round(seconds, 3), "users": len(state.users),
                "groups": len(state.groups), "members": n_members, "ids": len(state.sent_ids),
                "ids_seconds": round(ids_seconds, 3), "held_bytes": held}
    finally:
        await store.close()


def _child(url: str, kinds: str, traced: bool) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.state_load", "--child", url, kinds, "1" if traced else "0"],
        capture_output=True, text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the load in a child process failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    name, url = await pgdb.create(args.postgres or pgdb.DEFAULT_ADMIN_URL, "_load")
    try:
        t0 = time.perf_counter()
        sizes = await populate(url, args.users, args.ids, args.ended)
        print(f"[bench] populated {sizes} in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        rounds = [await asyncio.to_thread(_child, url, "all", False) for _ in range(args.rounds)]
        for r in rounds:
            print(json.dumps(r), flush=True)
        kinds = ("users", "users+groups", "users+groups+members", "all")
        mem = {k: await asyncio.to_thread(_child, url, k, True) for k in kinds}
        held = {k: v["held_bytes"] for k, v in mem.items()}
        rows = sizes["users"] + sizes["groups"] + sizes["members"]
        best = min(r["seconds"] for r in rounds)
        summary = {
            **sizes,
            "load_seconds": [r["seconds"] for r in rounds],
            "rows_per_s_best": round(rows / best),
            "bytes_per_user": round(mem["users"]["held_bytes"] / sizes["users"]),
            "bytes_per_group": round((held["users+groups"] - held["users"]) / sizes["groups"]),
            "bytes_per_member": round((held[kinds[2]] - held["users+groups"]) / sizes["members"]),
            "bytes_per_id": round((held["all"] - held[kinds[2]]) / sizes["ids"]) if sizes["ids"] else None,
            "ids_seconds": [r["ids_seconds"] for r in rounds],
            "ids_per_s_best": round(sizes["ids"] / min(r["ids_seconds"] for r in rounds)) if sizes["ids"] else None,
            "state_mib": round(mem["all"]["held_bytes"] / 2**20, 1),
        }
        print(json.dumps(summary), flush=True)
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"state-load-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
                json.dumps({"summary": summary, "rounds": rounds, "memory": mem}, indent=1), encoding="utf-8")
        return summary
    finally:
        await pgdb.drop(args.postgres or pgdb.DEFAULT_ADMIN_URL, name)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        url, kinds, traced = sys.argv[2], sys.argv[3], sys.argv[4] == "1"
        print(json.dumps(asyncio.run(_load(url, kinds, traced))))
        return
    p = argparse.ArgumentParser(prog="python -m bench.state_load")
    p.add_argument("--users", type=int, default=1_000_000)
    p.add_argument("--ids", type=int, default=0, help="messages with a client_msg_id in the last day")
    p.add_argument("--ended", type=int, default=0, help="dissolved groups of ten members each")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--postgres", default=None, metavar="URL")
    p.add_argument("--out", type=Path, default=None)
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
