"""qunguan's users and groups for one run, made through the protocol (nothing cached).

Each user: ``request_code`` (the server appends the code to its SMS outbox,
a JSON-lines file that is read incrementally here), ``register``, then one
``login`` for the token that the scenarios' connections ``auth`` with. Groups:
the owner ``auth``s and ``create_group``s, each member ``auth``s and
``join_group``s. All of it runs on many connections in parallel (argon2 runs
in the server's thread pool, so both cores are used).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from bench.loadgen import Load, RawConn, client_frame

PASSWORD = "bench-password-1"


class SetupError(Exception):
    pass


async def call(conn: RawConn, op: str, **args: Any) -> dict[str, Any]:
    raw = await conn.request(client_frame(msgpack.packb({"op": op, "rid": 1, **args})))
    reply = msgpack.unpackb(raw)
    if not reply.get("ok"):
        raise SetupError(f"{op} failed: {reply.get('code')}: {reply.get('reason')}")
    return reply


async def _probe_filter(load: Load, token: str, term: str) -> str:
    conn = await load.open()
    await call(conn, "auth", token=token)
    gid = (await call(conn, "create_group", name="filter probe", category="other",
                      join_policy="invite"))["group_id"]
    raw = await conn.request(client_frame(msgpack.packb(
        {"op": "send", "rid": 1, "group_id": gid, "text": f"hello {term} world"})))
    reply = msgpack.unpackb(raw)
    if reply.get("ok"):
        return "not enforced (a listed term was delivered)"
    if reply.get("code") == "content_blocked":
        return "enforced (content_blocked)"
    return f"unexpected reply: {reply.get('code')}"


class Outbox:
    """The SMS outbox file, read from where the last read stopped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pos = 0
        self.partial = b""
        self.codes: dict[str, str] = {}

    def code(self, phone: str) -> str:
        if phone not in self.codes:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
            self.pos += len(data)
            lines = (self.partial + data).split(b"\n")
            self.partial = lines.pop()
            for line in lines:
                if line.strip():
                    entry = json.loads(line)
                    self.codes[entry["phone"]] = entry["code"]
        try:
            return self.codes.pop(phone)
        except KeyError:
            raise SetupError(f"no SMS code for {phone} in {self.path}") from None


@dataclass
class Population:
    tokens: list[str] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)  # shape key -> group ids
    timings: dict[str, float] = field(default_factory=dict)
    content_filter: str = "not checked"  # what a send containing a listed term got


def phone_of(i: int) -> str:
    return f"13{i:09d}"


async def _workers(load: Load, n_workers: int, jobs: list[Any], work) -> None:
    queue: asyncio.Queue = asyncio.Queue()
    for j in jobs:
        queue.put_nowait(j)

    async def worker() -> None:
        conn = await load.open()
        while True:
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await work(conn, job)

    await asyncio.gather(*(worker() for _ in range(min(n_workers, len(jobs)) or 1)))


async def populate(host: str, port: int, outbox_path: Path, n_users: int,
                   shapes: dict[str, list[list[int]]], workers: int = 48,
                   probe_term: str | None = None) -> Population:
    """Register ``n_users`` users, then for each shape create its groups.

    ``shapes`` maps a key to a list of groups, each a list of user indexes;
    the first index is the owner. With ``probe_term``, one more user sends a
    message containing it in a group of its own, to see whether the content
    filter is enforced (``content_blocked``) by this server build.
    """
    total = n_users + (1 if probe_term else 0)
    pop = Population(tokens=[""] * total, user_ids=[""] * total)
    outbox = Outbox(outbox_path)
    load = Load("qunguan", host, port)
    try:
        t0 = time.monotonic()

        async def register(conn: RawConn, i: int) -> None:
            phone = phone_of(i)
            await call(conn, "request_code", phone=phone)
            name = f"bench{i:05d}"
            await call(conn, "register", username=name, password=PASSWORD, phone=phone,
                       code=outbox.code(phone), display_name=f"Bench {i}")
            reply = await call(conn, "login", username=name, password=PASSWORD)
            pop.tokens[i], pop.user_ids[i] = reply["token"], reply["user_id"]

        await _workers(load, workers, list(range(total)), register)
        t1 = time.monotonic()
        pop.timings["register_login_s"] = t1 - t0

        # Groups: owners create, then members join (each member joins all its groups in a row).
        created: list[tuple[str, int, list[int]]] = []
        lock_free_jobs = [(key, gi, members) for key, groups in shapes.items()
                          for gi, members in enumerate(groups)]
        for key in shapes:
            pop.groups[key] = [""] * len(shapes[key])

        async def create(conn: RawConn, job: tuple[str, int, list[int]]) -> None:
            key, gi, members = job
            await call(conn, "auth", token=pop.tokens[members[0]])
            reply = await call(conn, "create_group", name=f"bench {key} {gi}", category="work",
                               join_policy="open")
            pop.groups[key][gi] = reply["group_id"]
            created.append(job)

        await _workers(load, workers, lock_free_jobs, create)
        joins: dict[int, list[str]] = {}
        for key, gi, members in created:
            gid = pop.groups[key][gi]
            for u in members[1:]:
                joins.setdefault(u, []).append(gid)

        async def join(conn: RawConn, job: tuple[int, list[str]]) -> None:
            u, gids = job
            await call(conn, "auth", token=pop.tokens[u])
            for gid in gids:
                await call(conn, "join_group", group_id=gid)

        await _workers(load, workers, sorted(joins.items()), join)
        pop.timings["groups_s"] = time.monotonic() - t1
        pop.timings["total_s"] = time.monotonic() - t0
        pop.timings["users"] = n_users
        pop.timings["groups"] = len(created)
        pop.timings["memberships"] = sum(len(g) for _, _, g in created)
        if probe_term:
            pop.content_filter = await _probe_filter(load, pop.tokens[n_users], probe_term)
    finally:
        await load.close_all()
    return pop
