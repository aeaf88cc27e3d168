"""A seeded random workload of many users at once on a few groups, then a restart: what the server
shows afterwards, read again from the database, is what it showed from memory before.

Every management path decides in memory and then writes; when the two part (a claim not given back
after a refused write, an undo that takes out more than it claimed, a write memory never saw) it
shows only after a restart, as a member, a role, a ban or a message that comes or goes. The
handlers' own race tests stage one such window each; this test opens many at random, with caps
small enough that the database refuses some of what memory let through. Nothing may be answered
``internal``, nothing may be logged as a traceback, and the two views must be equal.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

import pytest

from client_demo.client import Client
from tests.e2e.harness import close_all, restart

CONFIG = """
[limits]
max_members = 6
max_groups_created = 2
max_groups_joined = 3
max_admins = 2
max_pins = 2
"""
USERS = int(os.environ.get("QUNGUAN_SOAK_USERS", "8"))
ROUNDS = int(os.environ.get("QUNGUAN_SOAK_ROUNDS", "40"))  # requests per user (all users at once)
# Every code but `internal` (and those no request here can earn: codes, identity, content, media).
ALLOWED = {"ok", "forbidden", "not_found", "not_member", "conflict", "member_cap_reached", "create_cap_reached",
           "join_cap_reached", "admin_cap_reached", "muted", "group_closed", "rate_limited", "bad_request"}


def code(reply: dict[str, Any]) -> str:
    return "ok" if reply.get("ok") else str(reply.get("code"))


class World:
    """What the workers know: the groups made so far and the messages sent in each."""

    def __init__(self, seed: int, chaotic: bool) -> None:
        self.rng = random.Random(seed)
        self.allowed = ALLOWED | {"internal"} if chaotic else ALLOWED  # (a write the database refused)
        self.groups: list[str] = []
        self.seqs: dict[str, list[int]] = {}
        self.codes: dict[tuple[str, str], int] = {}
        self.members: dict[str, list[str]] = {}  # as a member last read them
        self.trace: list[tuple[Any, ...]] = []

    def group(self) -> str | None:
        return self.rng.choice(self.groups) if self.groups else None

    def seq(self, gid: str) -> int | None:
        seqs = self.seqs.get(gid)
        return self.rng.choice(seqs) if seqs else None


async def step(world: World, me: Client, others: list[Client], mine: list[str]) -> None:
    rng = world.rng
    gid = rng.choice(mine) if mine and rng.random() < 0.8 else world.group()
    members = world.members.get(gid or "", [])
    other = rng.choice(others)
    if members and rng.random() < 0.7:
        other = next((c for c in others if c.user_id == rng.choice(members)), other)
    op, args = "create_group", {"name": f"g{rng.randrange(1000)}", "category": "friends", "join_policy": "open"}
    roll = rng.random()
    if gid is not None and roll > 0.08:
        uid = other.user_id
        op, args = rng.choice([
            ("join_group", {"group_id": gid}),
            ("join_group", {"group_id": gid}),
            ("leave_group", {"group_id": gid}),
            ("send", {"group_id": gid, "text": f"m{rng.randrange(10_000)}"}),
            ("send", {"group_id": gid, "text": f"m{rng.randrange(10_000)}"}),
            ("kick", {"group_id": gid, "user_id": uid}),
            ("set_role", {"group_id": gid, "user_id": uid, "role": rng.choice(["admin", "member"])}),
            ("transfer_owner", {"group_id": gid, "user_id": uid}),
            ("mute", {"group_id": gid, "user_id": uid, "seconds": rng.choice([0, 3600])}),
            ("ban", {"group_id": gid, "user_id": uid}),
            ("unban", {"group_id": gid, "user_id": uid}),
            ("invite", {"group_id": gid, "user_id": uid}),
            ("mute_all", {"group_id": gid, "on": rng.random() < 0.5}),
            ("update_group", {"group_id": gid, "name": f"r{rng.randrange(1000)}"}),
            ("set_announcement", {"group_id": gid, "text": f"a{rng.randrange(1000)}"}),
            ("delete_message", {"group_id": gid, "seq": world.seq(gid) or 1}),
            ("pin_message", {"group_id": gid, "seq": world.seq(gid) or 1, "on": rng.random() < 0.7}),
            ("mark_read", {"group_id": gid, "seq": world.seq(gid) or 1}),
            ("dissolve_group", {"group_id": gid}) if rng.random() < 0.15 else ("members", {"group_id": gid}),
        ])
    reply = await me.call(op, **args)
    got = code(reply)
    world.trace.append((me.username, op, args, got))  # type: ignore[attr-defined]
    world.codes[(op, got)] = world.codes.get((op, got), 0) + 1
    assert got in world.allowed, (op, args, reply)
    if got == "ok" and op == "create_group":
        world.groups.append(reply["group_id"])
    if got == "ok" and op == "send":
        world.seqs.setdefault(args["group_id"], []).append(reply["seq"])


async def worker(world: World, me: Client, everyone: list[Client]) -> None:
    others = [c for c in everyone if c is not me]
    mine: list[str] = []
    for n in range(ROUNDS):
        if n % 4 == 0:  # what this user is in now, and who else is (others' kicks and bans move it)
            mine = [g["group_id"] for g in (await me.request("my_groups"))["groups"]]
            for gid in mine:
                listed = await me.call("members", group_id=gid)
                if listed.get("ok"):
                    world.members[gid] = [m["user_id"] for m in listed["members"]]
        await step(world, me, others, mine)


VOLATILE = {"rid", "re", "ok"}


def plain(reply: dict[str, Any]) -> Any:
    """A reply as comparable data, without what differs from one request to the next; lists of
    people (``members``, ``bans``: in no guaranteed order) by user id."""
    def people_sorted(v: Any) -> Any:
        if isinstance(v, list) and v and all(isinstance(x, dict) and "user_id" in x for x in v):
            return sorted(v, key=lambda x: x["user_id"])
        return v
    return {k: people_sorted(v) for k, v in reply.items() if k not in VOLATILE}


async def seen(clients: list[Client], groups: list[str]) -> dict[str, Any]:
    """Everything the users can read of the groups, as plain data."""
    out: dict[str, Any] = {}
    for c in clients:
        out[f"my_groups/{c.username}"] = plain(await c.call("my_groups"))
        for gid in groups:
            for op, args in (("group_info", {}), ("members", {}), ("bans", {}), ("history", {"limit": 200})):
                out[f"{op}/{gid}/{c.username}"] = plain(await c.call(op, group_id=gid, **args))
    return out


CHAOS_ONE_IN = int(os.environ.get("QUNGUAN_SOAK_CHAOS_ONE_IN", "8"))  # (the knobs: for longer runs by hand)
CHAOS_TABLES = ("members", "bans", "groups", "membership_log", "group_pins", "invitations", "read_state", "messages")


def chaos(srv: Any, on: bool, tables: tuple[str, ...] = CHAOS_TABLES) -> None:
    """The database refuses one write in eight to the groups' tables, at random, as a failing disk or
    a constraint memory does not know would (``on``), or no longer (not ``on``)."""
    for table in tables:
        if srv.backend == "postgresql":
            if on:
                srv.db_rows("CREATE OR REPLACE FUNCTION soak_chaos() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                            f"IF random() < {1 / CHAOS_ONE_IN} THEN RAISE EXCEPTION 'soak chaos'; END IF; "
                            "RETURN COALESCE(NEW, OLD); END $$")
                srv.db_rows(f"CREATE TRIGGER soak_chaos BEFORE INSERT OR UPDATE OR DELETE ON {table} "
                            "FOR EACH ROW EXECUTE FUNCTION soak_chaos()")
            else:
                srv.db_rows(f"DROP TRIGGER soak_chaos ON {table}")
            continue
        for what in ("INSERT", "UPDATE", "DELETE"):
            name = f"soak_chaos_{table}_{what.lower()}"
            srv.db_rows(f"CREATE TRIGGER {name} BEFORE {what} ON {table} WHEN abs(random()) % {CHAOS_ONE_IN} = 0 "
                        "BEGIN SELECT RAISE(ABORT, 'soak chaos'); END" if on else f"DROP TRIGGER {name}")


@pytest.mark.parametrize("chaotic", [False, True], ids=["calm", "chaos"])
@pytest.mark.parametrize("seed", [int(s) for s in os.environ.get("QUNGUAN_SOAK_SEEDS", "1,2").split(",")])
async def test_what_memory_showed_is_what_the_database_shows_after_a_restart(make_server, tmp_path, seed,
                                                                              chaotic):
    srv = make_server(CONFIG)
    clients = [await srv.user(f"soak{seed}x{i}") for i in range(USERS)]
    world = World(seed, chaotic)
    if chaotic:
        chaos(srv, True)
    await asyncio.gather(*(worker(world, c, clients) for c in clients))
    if chaotic:
        chaos(srv, False)
    assert world.groups, world.codes
    assert not chaotic or any(got == "internal" for _, got in world.codes), world.codes  # the chaos fired
    print(sorted(world.codes.items()))  # (shown when it fails: what the workload did)
    before = await seen(clients, world.groups)
    fresh = await restart(srv, *clients)
    for old, new in zip(clients, fresh, strict=True):
        new.username = old.username  # type: ignore[attr-defined]
    after = await seen(fresh, world.groups)
    if chaotic:
        # A send the database refused leaves its seq unused: memory has given it out (a gap, as a
        # held message rejected leaves), the database never had it, so after a restart the group's
        # last seq is its last stored one, and the next message takes the number nobody saw.
        for view in (before, after):
            for key, reply in view.items():
                if key.startswith("my_groups/"):
                    for entry in reply.get("groups", []):
                        entry["last_seq"] = None
    differ = {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    if differ:  # (the requests as they were answered, in the order they were sent, to find the window)
        (tmp_path / "trace.txt").write_text("\n".join(map(repr, world.trace)), encoding="utf-8")
    assert not differ, (differ, f"the requests: {tmp_path / 'trace.txt'}")
    out = "".join(srv.output)
    assert "Traceback" not in out, out[-4000:]
    await close_all(*fresh)


# -- public accounts ------------------------------------------------------------------------------
ACCOUNTS_CONFIG = """
[public_accounts]
max_editors = 2
"""
ACCOUNT_TABLES = ("accounts", "account_editors", "subscriptions", "posts", "comments")


class Accounts:
    """What the workers know of public accounts: ids from the replies, and the requests' outcomes."""

    def __init__(self, seed: int, chaotic: bool) -> None:
        self.rng = random.Random(seed)
        self.allowed = ALLOWED | {"internal"} if chaotic else ALLOWED
        self.accounts: list[str] = []
        self.posts: list[str] = []
        self.comments: list[tuple[str, str]] = []  # (post, comment)
        self.codes: dict[tuple[str, str], int] = {}

    def pick(self, items: list[Any]) -> Any:
        return self.rng.choice(items) if items else None


async def account_step(w: Accounts, me: Client, others: list[Client], mine: list[str]) -> None:
    rng = w.rng
    aid = w.pick(mine) if mine and rng.random() < 0.7 else w.pick(w.accounts)
    pid, other = w.pick(w.posts), rng.choice(others)
    op, args = "create_account", {"name": f"a{rng.randrange(10_000)}", "category": "culture", "intro": "",
                                  "subject_type": "individual"}
    if aid is not None and rng.random() > 0.1:
        cid = w.pick(w.comments)
        op, args = rng.choice([
            ("subscribe", {"account_id": aid}),
            ("unsubscribe", {"account_id": aid}),
            ("set_editor", {"account_id": aid, "user_id": other.user_id, "on": rng.random() < 0.7}),
            ("publish", {"account_id": aid, "title": f"t{rng.randrange(1000)}", "body": "b",
                         "comments": rng.choice(["open", "review", "closed"])}),
            ("publish", {"account_id": aid, "title": f"t{rng.randrange(1000)}", "body": "b"}),
            ("comment", {"post_id": pid or "1", "text": f"c{rng.randrange(1000)}"}),
            ("comment", {"post_id": pid or "1", "text": f"c{rng.randrange(1000)}"}),
            ("moderate_comment", {"post_id": cid[0] if cid else "1", "comment_id": cid[1] if cid else "1",
                                  "action": rng.choice(["approve", "hide", "delete"])}),
            ("delete_post", {"post_id": pid or "1"}),
            ("update_account", {"account_id": aid, "intro": f"i{rng.randrange(1000)}"}),
            ("close_account", {"account_id": aid}) if rng.random() < 0.1 else ("account_info", {"account_id": aid}),
        ])
    reply = await me.call(op, **args)
    got = code(reply)
    w.codes[(op, got)] = w.codes.get((op, got), 0) + 1
    assert got in w.allowed, (op, args, reply)
    if got == "ok" and op == "create_account":
        w.accounts.append(reply["account_id"])
    elif got == "ok" and op == "publish":
        w.posts.append(reply["post_id"])
    elif got == "ok" and op == "comment":
        w.comments.append((args["post_id"], reply["comment_id"]))


async def accounts_seen(clients: list[Client], w: Accounts) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in clients:
        for op in ("my_accounts", "my_subscriptions"):
            out[f"{op}/{c.username}"] = plain(await c.call(op))
        for aid in w.accounts:
            for op in ("account_info", "posts"):
                out[f"{op}/{aid}/{c.username}"] = plain(await c.call(op, account_id=aid))
        for pid in w.posts:
            out[f"comments/{pid}/{c.username}"] = plain(await c.call("comments", post_id=pid))
    return out


@pytest.mark.parametrize("chaotic", [False, True], ids=["calm", "chaos"])
@pytest.mark.parametrize("seed", [int(s) for s in os.environ.get("QUNGUAN_SOAK_SEEDS", "1,2").split(",")])
async def test_public_accounts_show_the_same_after_a_restart(make_server, seed, chaotic):
    srv = make_server(ACCOUNTS_CONFIG)
    clients = [await srv.user(f"pa{seed}x{i}", verify_id=True) for i in range(6)]
    w = Accounts(seed, chaotic)
    if chaotic:
        chaos(srv, True, ACCOUNT_TABLES)

    async def work(me: Client) -> None:
        others = [c for c in clients if c is not me]
        mine: list[str] = []
        for n in range(ROUNDS):
            if n % 4 == 0:  # the accounts this user runs now (others' set_editor and closings move it)
                mine = [a["account_id"] for a in (await me.request("my_accounts"))["accounts"]]
            await account_step(w, me, others, mine)

    await asyncio.gather(*(work(c) for c in clients))
    if chaotic:
        chaos(srv, False, ACCOUNT_TABLES)
    assert w.accounts, w.codes
    assert not chaotic or any(got == "internal" for _, got in w.codes), w.codes  # the chaos fired
    print(sorted(w.codes.items()))  # (shown when it fails: what the workload did)
    before = await accounts_seen(clients, w)
    fresh = await restart(srv, *clients)
    for old, new in zip(clients, fresh, strict=True):
        new.username = old.username  # type: ignore[attr-defined]
    after = await accounts_seen(fresh, w)
    differ = {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert not differ, differ
    assert "Traceback" not in "".join(srv.output)
    await close_all(*fresh)
