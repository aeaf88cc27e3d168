"""Invariants that must hold when requests race (each of these broke before the core rebuild).

Every test fires the competing requests at the same moment from separate
connections against a real server, then checks the invariant from the
clients' view and, after a restart, from what the store kept.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.e2e.harness import gather, new_id_number, open_group
from tests.e2e.store_hold import (
    CountedServer,
    operator,
    reads_held,
    until,
    until_operator_connections,
    until_write_waits,
    until_writes_queued,
    writes_held,
)

ROUNDS = 5


def owners_in_db(srv, gid: str) -> list[str]:
    rows = srv.db_rows("SELECT user_id FROM members WHERE group_id = ? AND role = 'owner'", gid)
    [(owner_id,)] = srv.db_rows("SELECT owner_id FROM groups WHERE group_id = ?", gid)
    assert [r[0] for r in rows] == [owner_id]
    return [r[0] for r in rows]


async def test_two_transfers_from_one_owner_leave_one_owner(make_server):
    srv = make_server()
    groups = []
    for _ in range(ROUNDS):
        owner = await srv.user()
        second = await srv.client()
        await second.login(owner.username, "password123")
        a, b = await srv.user(), await srv.user()
        gid = await open_group(owner)
        for c in (a, b):
            await c.request("join_group", group_id=gid)
        r1, r2 = await gather(
            owner.call("transfer_owner", group_id=gid, user_id=a.user_id),
            second.call("transfer_owner", group_id=gid, user_id=b.user_id),
        )
        assert sorted([r1["ok"], r2["ok"]]) == [False, True], (r1, r2)
        loser = r2 if r1["ok"] else r1
        assert loser["code"] in ("forbidden", "conflict")
        winner = a if r1["ok"] else b
        members = (await a.request("members", group_id=gid))["members"]
        owners = [m["user_id"] for m in members if m["role"] == "owner"]
        assert owners == [winner.user_id]
        groups.append((gid, winner.user_id))
    await srv.stopped()
    srv.start()
    for gid, winner in groups:
        assert owners_in_db(srv, gid) == [winner]


async def test_concurrent_transfers_cannot_push_a_user_past_the_create_cap(make_server):
    srv = make_server("\n[limits]\nmax_groups_created = 3\n")
    target = await srv.user()
    for _ in range(2):
        await open_group(target)
    owners, gids = [], []
    for _ in range(5):
        o = await srv.user()
        gid = await open_group(o)
        await target.request("join_group", group_id=gid)
        owners.append(o)
        gids.append(gid)
    replies = await gather(*(o.call("transfer_owner", group_id=g, user_id=target.user_id)
                             for o, g in zip(owners, gids, strict=True)))
    assert sum(r["ok"] for r in replies) == 1, replies
    assert {r["code"] for r in replies if not r["ok"]} == {"create_cap_reached"}
    mine = (await target.request("my_groups"))["groups"]
    assert sum(g["role"] == "owner" for g in mine) == 3
    await srv.stopped()
    srv.start()
    [(owned,)] = srv.db_rows("SELECT COUNT(*) FROM groups WHERE owner_id = ? AND dissolved_at IS NULL",
                             target.user_id)
    assert owned == 3


async def test_concurrent_creates_from_several_connections_stop_at_the_create_cap(make_server):
    srv = make_server("\n[limits]\nmax_groups_created = 3\n")
    owner = await srv.user()
    await open_group(owner)
    conns = [owner]
    for _ in range(5):
        c = await srv.client()
        await c.login(owner.username, "password123")
        conns.append(c)
    replies = await gather(*(c.call("create_group", name=f"race {i}", category="friends", join_policy="open")
                             for i, c in enumerate(conns)))
    assert sum(r["ok"] for r in replies) == 2, replies  # 3 in all, one of them before the race
    assert {r["code"] for r in replies if not r["ok"]} == {"create_cap_reached"}
    await srv.stopped()
    srv.start()
    [(owned,)] = srv.db_rows("SELECT COUNT(*) FROM groups WHERE owner_id = ?", owner.user_id)
    assert owned == 3


async def test_accounts_verifying_one_id_number_at_once_respect_the_cap(make_server):
    srv = make_server()
    users = [await srv.user() for _ in range(8)]
    id_number = new_id_number()
    replies = await gather(*(u.call("verify_identity", legal_name="张三", id_number=id_number) for u in users))
    assert sum(r["ok"] for r in replies) == 1, replies
    assert {r["code"] for r in replies if not r["ok"]} == {"conflict"}
    verified = [(await u.request("me"))["id_verified"] for u in users]
    assert sum(verified) == 1
    await srv.stopped()
    srv.start()
    [(n,)] = srv.db_rows("SELECT COUNT(*) FROM users WHERE id_verified_at IS NOT NULL")
    assert n == 1


async def test_a_cancelled_account_never_owns_a_live_group(make_server):
    srv = make_server()
    outcomes = []
    for delay_ms in [i / 10 for i in range(30)]:  # 0 to 2.9 ms after the delete: across its whole write
        user = await srv.user()
        other = await srv.client()
        await other.login(user.username, "password123")

        async def create_later(other=other, delay_ms=delay_ms):
            await asyncio.sleep(delay_ms / 1000)
            try:
                return await other.call("create_group", name="late", category="friends", join_policy="open")
            except Exception as exc:  # the cancelled account's other connection is closed (1008)
                return {"ok": False, "code": "closed", "reason": repr(exc)}

        deleted, created = await gather(user.call("delete_account", password="password123"), create_later())
        outcomes.append((delay_ms, deleted, created))
    [(bad,)] = srv.db_rows(
        "SELECT COUNT(*) FROM groups g JOIN users u ON u.user_id = g.owner_id"
        " WHERE u.deleted_at IS NOT NULL AND g.dissolved_at IS NULL AND g.closed_at IS NULL")
    assert bad == 0, outcomes
    both = [o for o in outcomes if o[1]["ok"] and o[2]["ok"]]
    assert both == [], both
    for _, deleted, created in outcomes:
        if deleted["ok"]:
            assert created["code"] in ("unauthenticated", "closed"), created
        else:
            assert deleted["code"] == "conflict"  # still owns the group it just created
            joiner = await srv.user()
            assert (await joiner.request("join_group", group_id=created["group_id"]))["status"] == "joined"


async def test_a_poison_frame_costs_only_itself(make_server):
    """A lone surrogate in a JSON string is refused at decode with its rid; nobody else's write fails."""
    srv = make_server()
    owner = await srv.user()
    gid = await open_group(owner)
    senders = [await srv.user(encoding="json") for _ in range(20)]
    for s in senders:
        await s.request("join_group", group_id=gid)
    attacker = await srv.user(encoding="json")
    await attacker.request("join_group", group_id=gid)
    poison_rids = list(range(900_000, 900_040))

    async def attack():
        replies = []
        for rid in poison_rids:
            fut = asyncio.get_running_loop().create_future()
            attacker._pending[rid] = fut
            await attacker.ws.send(f'{{"op":"send","rid":{rid},"group_id":"{gid}","text":"x\\ud800y"}}')
            replies.append(fut)
            await asyncio.sleep(0)
        return [await asyncio.wait_for(f, 10) for f in replies]

    async def chat(c):
        return [await c.call("send", group_id=gid, text=f"hello {i}") for i in range(10)]

    results = await gather(attack(), *(chat(s) for s in senders))
    replies = [r for batch in results[1:] for r in batch]
    assert all(r["ok"] for r in replies), [r for r in replies if not r["ok"]][:3]
    assert len(replies) == 200
    # The attacker got one bad_request per poison frame, each answering its rid.
    assert [(r["re"], r["ok"], r["code"]) for r in results[0]] == [(rid, False, "bad_request") for rid in poison_rids]
    late = await srv.user()
    assert (await late.request("me"))["user_id"]  # a register after the poison still works
    [(n,)] = srv.db_rows("SELECT COUNT(*) FROM messages WHERE group_id = ?", gid)
    assert n == 200


# -- awaits between a read and the act (audit of every handler and operator command) ----------------
BLOCKED = '\n[[content.lists]]\ncategory = "pyramid_gambling"\npath = "gambling.txt"\naction = "block"\n'


def blocking_server(make_server, tmp_path, extra: str = ""):
    d = tmp_path / "srv"
    d.mkdir(exist_ok=True)
    (d / "gambling.txt").write_text("赌博\n", encoding="utf-8")
    return make_server(BLOCKED + extra)


def ok_or_code(reply) -> str:
    return "ok" if reply.get("ok") else reply["code"]


async def test_one_reporter_reporting_one_target_twice_at_once_opens_one_report(make_server):
    """``report`` reads whether the caller has an open report on the target, then inserts: two
    connections of one reporter that both read before either inserted opened two reports."""
    srv = make_server()
    reporter, target = await srv.user(), await srv.user()
    second = await srv.client()
    await second.login(reporter.username, "password123")
    async with reads_held(srv, "reports"):
        a = asyncio.ensure_future(reporter.call("report", target_type="user", user_id=target.user_id, reason="spam"))
        b = asyncio.ensure_future(second.call("report", target_type="user", user_id=target.user_id, reason="spam"))
        await asyncio.sleep(0.3)
        assert not a.done() and not b.done()  # both wait for the duplicate check's read
    r1, r2 = await a, await b
    assert r1["ok"] and r2["ok"], (r1, r2)
    assert r1["report_id"] == r2["report_id"], (r1, r2)
    assert sorted([bool(r1.get("duplicate")), bool(r2.get("duplicate"))]) == [False, True]
    assert srv.db_rows("SELECT COUNT(*) FROM reports WHERE reporter_id = ?", reporter.user_id) == [(1,)]


async def test_two_credit_commands_at_once_both_count(make_server):
    """``credit`` computed the new score from memory, awaited the write, then set memory: two at
    once both started from the same score, and one delta was lost."""
    srv = make_server()
    user = await srv.user()
    start = (await user.request("me"))["credit_score"]

    async def both_claimed() -> bool:
        return (await user.request("me"))["credit_score"] == start - 30

    # (cuts: a cut is claimed in memory before its write; a raise reaches memory once stored)
    async with writes_held(srv, "users"):
        a = asyncio.ensure_future(srv.admin("credit", user.username, "--delta", "-10", "--reason", "a"))
        b = asyncio.ensure_future(srv.admin("credit", user.username, "--delta", "-20", "--reason", "b"))
        await until(both_claimed, timeout=4)  # both commands reached the server and queued their writes
        assert not a.done() and not b.done()  # (their writes wait for the hold)
    assert (await a)[0] == 0 and (await b)[0] == 0
    assert (await user.request("me"))["credit_score"] == start - 30
    [(stored,)] = srv.db_rows("SELECT credit_score FROM users WHERE user_id = ?", user.user_id)
    assert stored == start - 30
    # two raises at once count both too
    raised = await asyncio.gather(*(srv.admin("credit", user.username, "--delta", str(d), "--reason", "r")
                                    for d in (10, 20)))
    assert [rc for rc, _, _ in raised] == [0, 0]
    assert (await user.request("me"))["credit_score"] == start
    assert srv.db_rows("SELECT credit_score FROM users WHERE user_id = ?", user.user_id) == [(start,)]


async def test_a_penalty_undone_after_a_later_one_was_claimed_leaves_memory_and_store_agreeing(
        make_server, tmp_path):
    """Penalties are claimed in memory and stored as the whole score: when an earlier write fails
    (a report resolved twice at once) its undo gives the points back in memory, but a later write,
    claimed meanwhile, had already stored the score without them."""
    srv = blocking_server(make_server, tmp_path)
    reporter, target = await srv.user(), await srv.user()
    gid = await open_group(target)
    start = (await target.request("me"))["credit_score"]
    rid = (await reporter.request("report", target_type="user", user_id=target.user_id, reason="spam"))["report_id"]

    async def score() -> int:
        return (await target.request("me"))["credit_score"]

    elsewhere = await srv.client()
    await elsewhere.login(target.username, "password123")

    async def score_elsewhere() -> int:  # (another connection of the target's: the first waits for a refusal)
        return (await elsewhere.request("me"))["credit_score"]

    async with writes_held(srv, "users"):
        first = asyncio.ensure_future(srv.admin("resolve", rid, "--outcome", "upheld", "--note", "one"))
        second = asyncio.ensure_future(srv.admin("resolve", rid, "--outcome", "upheld", "--note", "two"))

        async def both_claimed() -> bool:
            return await score() == start - 20
        await until(both_claimed, timeout=4)
        # (its refusal waits for the penalty's write, held here: server/answer_writes.py)
        blocked = asyncio.ensure_future(target.call("send", group_id=gid, text="赌博"))

        async def blocked_claimed() -> bool:
            return await score_elsewhere() == start - 20 - 2
        await until(blocked_claimed, timeout=4)
    assert ok_or_code(await blocked) == "content_blocked"
    results = sorted([(await first)[0], (await second)[0]])
    assert results[0] == 0 and results[1] != 0  # one resolved it; the other found it resolved
    expected = start - 10 - 2
    assert await score() == expected

    async def stored_as_in_memory() -> bool:
        [(stored,)] = srv.db_rows("SELECT credit_score FROM users WHERE user_id = ?", target.user_id)
        return bool(stored == expected)
    await until(stored_as_in_memory, timeout=10)


async def test_a_suspension_made_while_another_is_lifted_stands(make_server):
    """``lift`` reads the target's other sanctions to know what still holds; ``suspend-group``
    wrote first and set memory after: a suspension whose write was in flight while the lift read
    was missed by it, and the lift's write ended it in the store (memory still said suspended)."""
    srv = make_server()
    owner = await srv.user()
    gid = await open_group(owner)
    rc, _, err = await srv.admin("suspend-group", gid, "--seconds", "600", "--reason", "first")
    assert rc == 0, err
    rc, out, _ = await srv.admin("sanctions", "--group", gid)
    [(old, old_end)] = [(json.loads(line)["id"], json.loads(line)["expires_at"]) for line in out.splitlines()]

    async def longer_claimed() -> bool:
        refused = await owner.call("send", group_id=gid, text="x")
        return ok_or_code(refused) == "group_suspended" and refused["until"] > old_end

    async with writes_held(srv, "groups"):
        again = asyncio.ensure_future(srv.admin("suspend-group", gid, "--seconds", "900", "--reason", "second"))
        await until(longer_claimed, timeout=4)  # the new suspension is claimed and on its way to the store
        assert not again.done()
        lifted = asyncio.ensure_future(srv.admin("lift", old, "--reason", "lifted"))
        await until_operator_connections(srv, 2)  # the lift reached the server: it waits for the group's lock
        assert not again.done()
    r_again, r_lifted = await again, await lifted
    assert r_again[0] == 0
    assert r_lifted[0] == 0
    assert ok_or_code(await owner.call("send", group_id=gid, text="x")) == "group_suspended"
    await srv.stopped()
    srv.start()
    c = await srv.client()
    await c.login(owner.username, "password123")
    assert ok_or_code(await c.call("send", group_id=gid, text="x")) == "group_suspended"


async def test_nobody_joins_a_group_while_the_platform_closes_it(make_server):
    """``close-group`` wrote first and marked the group closed in memory afterwards: a join (or a
    message) that came while its write was in flight was accepted into a group being closed."""
    srv = make_server()
    owner, joiner = await srv.user(), await srv.user()
    gid = await open_group(owner)
    start = (await owner.request("me"))["credit_score"]

    async def penalised() -> bool:  # the owner's penalty is claimed in the same step as the closing
        return (await owner.request("me"))["credit_score"] < start

    async with writes_held(srv, "groups"):
        closing = asyncio.ensure_future(srv.admin("close-group", gid, "--reason", "违规"))
        await until(penalised, timeout=4)  # the closing is claimed and on its way to the store
        assert not closing.done()
        joined = asyncio.ensure_future(joiner.call("join_group", group_id=gid))
        sent = asyncio.ensure_future(owner.call("send", group_id=gid, text="still here?"))
        # Refused from memory at once; one accepted would wait for its write, behind the hold.
        await asyncio.wait([joined, sent], timeout=2)
    assert (await closing)[0] == 0
    assert ok_or_code(await joined) == "group_closed"
    assert ok_or_code(await sent) == "group_closed"
    assert srv.db_rows("SELECT COUNT(*) FROM members WHERE group_id = ? AND user_id = ?", gid, joiner.user_id) == [(0,)]
    assert srv.db_rows("SELECT COUNT(*) FROM messages WHERE group_id = ?", gid) == [(0,)]


async def test_a_reply_sent_while_its_sender_is_blacklisted_is_refused(make_server):
    """A reply's ``send`` awaits a store read before its checks, which run from memory; they did
    not look at the account again, so a blacklisting that committed meanwhile let it through."""
    srv = make_server()
    if srv.backend == "sqlite":
        pytest.skip("SQLite's one reader serves the send's read before the blacklisting's: no window to hold")
    owner, member = await srv.user(), await srv.user()
    gid = await open_group(owner)
    await member.request("join_group", group_id=gid)
    first = (await owner.request("send", group_id=gid, text="question"))["seq"]
    async with reads_held(srv, "messages"):
        replying = asyncio.ensure_future(member.call("send", group_id=gid, text="answer", reply_to=first))
        await asyncio.sleep(0.3)
        assert not replying.done()  # waiting for its read
        rc, _, err = await srv.admin("blacklist", member.username, "--reason", "诈骗")
        assert rc == 0, err
    try:
        reply = await replying
    except Exception as exc:  # the connection closed by the blacklisting before the answer came
        reply = {"ok": False, "code": "closed", "reason": repr(exc)}
    assert ok_or_code(reply) in ("blacklisted", "closed"), reply
    await asyncio.sleep(0.5)  # a message accepted all the same would be stored by now
    assert srv.db_rows("SELECT seq FROM messages WHERE group_id = ?", gid) == [(first,)]


async def account_score(srv, aid: str) -> int:
    """The public account's credit score in the server's memory (``accounts``, on the socket from here)."""
    [row] = [json.loads(line) for line in await operator(srv, "accounts") if json.loads(line)["account_id"] == aid]
    return int(row["credit_score"])


async def test_an_account_suspension_made_while_another_is_lifted_stands(make_server):
    """The same for a public account: ``suspend-account`` claims first but did not take the
    account's sanction lock, so a lift reading the account's other suspensions missed it."""
    srv = make_server()
    owner = await srv.user(verify_id=True)
    aid = (await owner.request("create_account", name="晨报", category="culture", intro="简介",
                               subject_type="individual"))["account_id"]
    rc, _, err = await srv.admin("suspend-account", aid, "--seconds", "600", "--reason", "first")
    assert rc == 0, err
    rc, out, _ = await srv.admin("sanctions", "--account", aid)
    [old] = [json.loads(line)["id"] for line in out.splitlines()]
    start = await account_score(srv, aid)

    async def penalised() -> bool:  # the suspension's penalty is claimed in the same step as its end
        return await account_score(srv, aid) < start

    async with writes_held(srv, "accounts"):
        again = asyncio.ensure_future(srv.admin("suspend-account", aid, "--seconds", "900", "--reason", "second"))
        await until(penalised, timeout=4)  # the new suspension is claimed and on its way to the store
        lifted = asyncio.ensure_future(srv.admin("lift", old, "--reason", "lifted"))
        await until_operator_connections(srv, 2)  # the lift reached the server: it waits for the account's lock
        assert not again.done()
    assert (await again)[0] == 0
    assert (await lifted)[0] == 0
    assert (await owner.request("account_info", account_id=aid))["status"] == "suspended"
    await srv.stopped()
    srv.start()
    c = await srv.client()
    await c.login(owner.username, "password123")
    assert (await c.request("account_info", account_id=aid))["status"] == "suspended"


async def test_an_account_penalty_undone_after_a_later_credit_change_leaves_memory_and_store_agreeing(make_server):
    """An account's credit was stored as the whole score too: a post removed twice at once (the
    second RemovePost conflicts and its penalty is given back in memory) while an account-credit
    was claimed left the store with the score that still had the second penalty in it."""
    srv = make_server()
    owner = await srv.user(verify_id=True)
    aid = (await owner.request("create_account", name="月刊", category="culture", intro="简介",
                               subject_type="individual"))["account_id"]
    post = (await owner.request("publish", account_id=aid, title="违规文章", body="b"))["post_id"]

    async def score() -> int:
        rc, out, _ = await srv.admin("accounts")
        [row] = [json.loads(line) for line in out.splitlines() if json.loads(line)["account_id"] == aid]
        return int(row["credit_score"])

    start = await score()
    penalty = 20  # credit.penalty_sanction

    def scored(points: int):
        async def check() -> bool:
            return await account_score(srv, aid) == points
        return check

    async with writes_held(srv, "accounts"):
        first = asyncio.ensure_future(srv.admin("remove-post", post, "--reason", "one"))
        second = asyncio.ensure_future(srv.admin("remove-post", post, "--reason", "two"))
        await until(scored(start - 2 * penalty), timeout=4)  # both read the post and claimed their penalty
        # (a cut: claimed in memory before its write, as a raise is not)
        credit = asyncio.ensure_future(srv.admin("account-credit", aid, "--delta", "-5", "--reason", "r"))
        await until(scored(start - 2 * penalty - 5), timeout=4)  # the credit is claimed; its write waits too
        assert not first.done() and not second.done() and not credit.done()
    assert sorted([(await first)[0] == 0, (await second)[0] == 0]) == [False, True]
    assert (await credit)[0] == 0
    expected = start - penalty - 5
    assert await score() == expected
    [(stored,)] = srv.db_rows("SELECT credit_score FROM accounts WHERE account_id = ?", aid)
    assert stored == expected


async def test_no_message_from_a_member_whose_join_is_being_stored(make_server):
    """A join is claimed in memory before its write: a ``send`` from another connection of the same
    user while that write was in flight was accepted and stored, and stayed stored, in a group the
    user never joined, when the join was then refused. A member whose admission is not stored yet
    is answered ``not_member``; once it is, they send as any member."""
    srv = make_server()
    owner, joiner = await srv.user(), await srv.user()
    other = await srv.client()  # the joiner's second connection
    await other.login(joiner.username, "password123")
    gid = await open_group(owner)
    # The database refuses the joiner's membership row, as a failing disk would refuse the write.
    if srv.backend == "postgresql":
        srv.db_rows(f"ALTER TABLE members ADD CONSTRAINT no_joiner CHECK (user_id <> '{joiner.user_id}') NOT VALID")
    else:
        srv.db_rows(f"CREATE TRIGGER no_joiner BEFORE INSERT ON members WHEN NEW.user_id = '{joiner.user_id}'"
                    " BEGIN SELECT RAISE(ABORT, 'no joiner'); END")


    async with writes_held(srv, "members"):
        joining = asyncio.ensure_future(joiner.call("join_group", group_id=gid))
        await until_write_waits(srv, "members")  # (the admission claimed, its write waiting)
        sending = asyncio.ensure_future(other.call("send", group_id=gid, text="我也在", client_msg_id="c-1"))
        await asyncio.wait([sending], timeout=2)  # refused at once (accepted, it would wait for the hold)
        # Not only send: every op that acts as a member waits for the membership to be stored.
        assert ok_or_code(await other.call("history", group_id=gid)) == "not_member"
        assert not joining.done()
    assert ok_or_code(await joining) == "internal"
    sent = await sending
    assert ok_or_code(sent) == "not_member", sent
    assert ok_or_code(await other.call("send", group_id=gid, text="我也在", client_msg_id="c-1")) == "not_member"
    assert srv.db_rows("SELECT COUNT(*) FROM messages WHERE group_id = ?", gid) == [(0,)]
    assert srv.db_rows("SELECT COUNT(*) FROM members WHERE user_id = ?", joiner.user_id) == [(0,)]
    # A join that is stored lets them send, from every connection.
    srv.db_rows("ALTER TABLE members DROP CONSTRAINT no_joiner" if srv.backend == "postgresql"
                else "DROP TRIGGER no_joiner")
    assert (await joiner.request("join_group", group_id=gid))["status"] == "joined"
    assert (await other.call("send", group_id=gid, text="我也在", client_msg_id="c-1"))["ok"]
    assert srv.db_rows("SELECT sender_id, text FROM messages WHERE group_id = ?", gid) == [(joiner.user_id, "我也在")]


async def test_a_mute_of_a_join_in_flight_waits_for_it_and_fails_if_it_is_refused(make_server):
    """A manager changing someone whose join is still on its way to the store (a mute, a role)
    acts on the join's outcome: refused, the mute answers ``not_found`` and nothing is told or
    recorded (they were never a member); stored, the mute stands."""
    srv = make_server()
    owner, joiner, watcher = await srv.user(), await srv.user(), await srv.user()
    gid = await open_group(owner)
    await watcher.request("join_group", group_id=gid)
    refuse_rows(srv, "no_joiner", "members", f"NEW.user_id = '{joiner.user_id}'", f"user_id <> '{joiner.user_id}'")


    async with writes_held(srv, "members"):
        joining = asyncio.ensure_future(joiner.call("join_group", group_id=gid))
        await until_write_waits(srv, "members")  # (the admission claimed, its write waiting)
        muting = asyncio.ensure_future(owner.call("mute", group_id=gid, user_id=joiner.user_id, seconds=600))
        promoting = asyncio.ensure_future(owner.call("set_role", group_id=gid, user_id=joiner.user_id,
                                                     role="admin"))
        await asyncio.sleep(0.2)
        assert not muting.done() and not promoting.done()  # waiting for the join's outcome
    assert ok_or_code(await joining) == "internal"
    assert ok_or_code(await muting) == "not_found"
    assert ok_or_code(await promoting) == "not_found"
    assert srv.db_rows("SELECT COUNT(*) FROM audit WHERE action IN ('mute', 'set_role')") == [(0,)]
    assert {"member_muted", "role_changed"}.isdisjoint(e.get("ev") for e in watcher.drain_events())
    srv.db_rows("ALTER TABLE members DROP CONSTRAINT no_joiner" if srv.backend == "postgresql"
                else "DROP TRIGGER no_joiner")
    async with writes_held(srv, "members"):
        joining = asyncio.ensure_future(joiner.call("join_group", group_id=gid))
        await until_write_waits(srv, "members")  # (the admission claimed, its write waiting)
        muting = asyncio.ensure_future(owner.call("mute", group_id=gid, user_id=joiner.user_id, seconds=600))
        await asyncio.sleep(0.2)
    assert ok_or_code(await joining) == "ok" and ok_or_code(await muting) == "ok"
    assert srv.db_rows("SELECT muted_until > 0 FROM members WHERE user_id = ?", joiner.user_id) == [(True,)]


async def test_a_link_listed_while_its_last_use_is_refused_works_again(make_server):
    """A one-use link's use is claimed in memory before the join's write. A listing meanwhile
    forgets the link as used up; when the store then refuses that join, the use was never counted
    and the link works again (it stayed unknown until a restart: not usable, listed or revocable)."""
    srv = make_server()
    owner, joiner, later = await srv.user(), await srv.user(), await srv.user()
    gid = await open_group(owner, join_policy="approval")
    code = (await owner.request("create_invite_link", group_id=gid, max_uses=1))["code"]
    refuse_rows(srv, "no_joiner", "members", f"NEW.user_id = '{joiner.user_id}'", f"user_id <> '{joiner.user_id}'")


    async with writes_held(srv, "members"):
        joining = asyncio.ensure_future(joiner.call("join_group", invite_code=code))
        await until_write_waits(srv, "members")  # (the admission claimed, its write waiting)
        assert (await owner.request("invite_links", group_id=gid))["links"] == []  # used up, as memory counts
    assert ok_or_code(await joining) == "internal"
    assert len((await owner.request("invite_links", group_id=gid))["links"]) == 1
    assert (await later.request("join_group", invite_code=code))["status"] == "joined"


def _refusing_trigger(srv, name: str, table: str, event: str, condition: str) -> None:
    """A trigger called ``name`` on either backend that refuses ``event`` (``DELETE``, ``UPDATE OF
    column``) on the rows of ``table`` where ``condition`` holds, as a failing disk would refuse it."""
    if srv.backend == "postgresql":
        srv.db_rows(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS"
                    f" $$ BEGIN RAISE EXCEPTION '{name}'; END $$")
        srv.db_rows(f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW"
                    f" WHEN ({condition}) EXECUTE FUNCTION {name}()")
    else:
        srv.db_rows(f"CREATE TRIGGER {name} BEFORE {event} ON {table} WHEN {condition}"
                    f" BEGIN SELECT RAISE(ABORT, '{name}'); END")


def refuse_deletes(srv, name: str, table: str, condition: str) -> None:
    """The database refuses to delete the rows of ``table`` where ``condition`` holds (on ``OLD``)."""
    _refusing_trigger(srv, name, table, "DELETE", condition)


def refuse_updates(srv, name: str, table: str, column: str, condition: str) -> None:
    """The database refuses to change ``column`` of ``table`` in the rows where ``condition`` holds
    (on ``NEW``)."""
    _refusing_trigger(srv, name, table, f"UPDATE OF {column}", condition)


def refuse_removal(srv, uid: str) -> None:
    """The database refuses to delete ``uid``'s membership rows, as a failing disk would refuse it."""
    refuse_deletes(srv, "no_removal", "members", f"OLD.user_id = '{uid}'")


async def test_a_refused_ban_does_not_take_back_a_later_ban(make_server):
    """A ban whose write the store refuses, an unban and a ban again, all sent while the first write
    waits: the first one's undo took out whatever ban stood then, a later one the store kept, and
    memory and the store disagreed. Bans of one user now take turns: the second is decided once the
    first was refused, and memory agrees with the store whatever each one's outcome."""
    srv = make_server()
    owner, target = await srv.user(), await srv.user()
    gid = await open_group(owner)
    await target.request("join_group", group_id=gid)
    # The owner's other connections (each answers its requests in order): one per op, one to look.
    unbanner, rebanner, watcher = [await srv.client() for _ in range(3)]
    for c in (unbanner, rebanner, watcher):
        await c.login(owner.username, "password123")
    refuse_removal(srv, target.user_id)  # the first ban's removal of the member fails, and with it the ban

    async def listed() -> list[str]:
        return [b["reason"] for b in (await watcher.request("bans", group_id=gid))["bans"]]

    async def banned() -> bool:
        return await listed() != []

    async with writes_held(srv, "members"):
        first = asyncio.ensure_future(owner.call("ban", group_id=gid, user_id=target.user_id, reason="spam"))
        await until(banned, timeout=2)
        # (bans and unbans of one user take turns now: each waits for the one before to be decided)
        unbanning = asyncio.ensure_future(unbanner.call("unban", group_id=gid, user_id=target.user_id))
        again = asyncio.ensure_future(rebanner.call("ban", group_id=gid, user_id=target.user_id, reason="again"))
        await asyncio.sleep(0.3)
        assert not unbanning.done() and not again.done()
        assert await listed() == ["spam"]
    assert ok_or_code(await first) == "internal"
    assert ok_or_code(await unbanning) == "not_found"  # the first ban was refused: none to lift
    # The second ban, decided once the first was refused, finds the member back and is refused
    # with its removal, as the first was: no ban, in the store and in memory alike.
    assert ok_or_code(await again) == "internal"
    assert srv.db_rows("SELECT reason FROM bans WHERE user_id = ?", target.user_id) == []
    assert await listed() == []  # memory agrees with the store


async def test_a_refused_leave_with_a_join_in_flight_keeps_the_membership_in_memory(make_server):
    """A leave is claimed (out of memory) and, while its write waits, another connection of the same
    user joins again (claimed, pending). The store refuses the leave, so the membership stays, and
    the join then fails on the row still there. The leave's undo found the pending join in its
    place and put nothing back, and the join's undo took the claim out: the user was a member in
    the database and not in memory (no events, not_member) until a restart."""
    srv = make_server()
    owner, user = await srv.user(), await srv.user()
    other = await srv.client()
    await other.login(user.username, "password123")
    gid = await open_group(owner)
    await user.request("join_group", group_id=gid)
    refuse_removal(srv, user.user_id)

    async def listed() -> bool:
        return user.user_id in [m["user_id"] for m in (await owner.request("members", group_id=gid))["members"]]

    async def out() -> bool:
        return not await listed()

    async with writes_held(srv, "members"):
        leaving = asyncio.ensure_future(user.call("leave_group", group_id=gid))
        await until(out, timeout=2)
        joining = asyncio.ensure_future(other.call("join_group", group_id=gid))
        await asyncio.sleep(0.3)  # (the join claimed, pending: shown nowhere while its write waits)
    assert ok_or_code(await leaving) == "internal"
    assert ok_or_code(await joining) != "ok"
    assert srv.db_rows("SELECT COUNT(*) FROM members WHERE user_id = ?", user.user_id) == [(1,)]
    assert await listed()
    assert ok_or_code(await user.call("send", group_id=gid, text="还在")) == "ok"
    assert ok_or_code(await other.call("history", group_id=gid)) == "ok"


async def test_a_connection_signed_in_during_a_join_that_is_refused_gets_no_events(tmp_path, backend, started):
    """A connection that signs in while the user's join is in flight is put in the group's
    connections with the claim (attach: every group of the user's). The join's undo took the
    claim out but left that connection in, so it got every event of a group the user never joined."""
    srv = started(CountedServer(tmp_path, backend=backend))
    owner, joiner = await srv.user(), await srv.user()
    gid = await open_group(owner)
    refuse_rows(srv, "no_joiner", "members", f"NEW.user_id = '{joiner.user_id}'", f"user_id <> '{joiner.user_id}'")


    token = (await (await srv.client()).login(joiner.username, "password123"))["token"]
    late = await srv.client()
    await asyncio.sleep(0.5)  # (the logins' rows stored)
    # A sign-in by token stores its network-log row before it signs the connection in: held there
    # first, it signs in as soon as the hold ends, while the join's write, queued behind the row, is
    # in flight (the writer's next batch).
    async with writes_held(srv, "netlog"):
        signing_in = asyncio.ensure_future(late.call("auth", token=token))
        await until_write_waits(srv, "netlog")  # (its row in flight, held)
        joining = asyncio.ensure_future(joiner.call("join_group", group_id=gid))
        await until_writes_queued(srv)  # (the admission claimed, its write queued behind the row)
    assert ok_or_code(await signing_in) == "ok"
    assert ok_or_code(await joining) == "internal"
    late.drain_events()
    await owner.request("send", group_id=gid, text="members only")
    await asyncio.sleep(0.3)
    assert [e for e in late.drain_events() if e.get("group_id") == gid] == []


async def test_a_refused_closing_puts_back_only_the_members_the_group_has_then(make_server):
    """An operator closes a group while a join to it is in flight, and the store refuses both. The
    closing's undo put back every member of the moment it began, the refused joiner included:
    their my_groups then failed (internal) and they got the group's events."""
    srv = make_server()
    owner, joiner = await srv.user(), await srv.user()
    gid = await open_group(owner)
    refuse_rows(srv, "no_joiner", "members", f"NEW.user_id = '{joiner.user_id}'", f"user_id <> '{joiner.user_id}'")
    if srv.backend == "postgresql":
        srv.db_rows("ALTER TABLE groups ADD CONSTRAINT no_closing CHECK (closed_at IS NULL) NOT VALID")
    else:
        srv.db_rows("CREATE TRIGGER no_closing BEFORE UPDATE ON groups WHEN NEW.closed_at IS NOT NULL"
                    " BEGIN SELECT RAISE(ABORT, 'no closing'); END")


    async def closed() -> bool:
        return ok_or_code(await owner.call("members", group_id=gid)) == "group_closed"

    async with writes_held(srv, "members"):
        joining = asyncio.ensure_future(joiner.call("join_group", group_id=gid))
        await until_write_waits(srv, "members")  # (the admission claimed, its write waiting)
        closing = asyncio.ensure_future(srv.admin("close-group", gid, "--reason", "测试"))
        await until(closed, timeout=4)
    assert ok_or_code(await joining) == "internal"
    assert (await closing)[0] != 0
    assert [g["group_id"] for g in (await joiner.request("my_groups"))["groups"]] == []
    assert [g["group_id"] for g in (await owner.request("my_groups"))["groups"]] == [gid]
    joiner.drain_events()
    await owner.request("send", group_id=gid, text="members only")
    await asyncio.sleep(0.3)
    assert [e for e in joiner.drain_events() if e.get("group_id") == gid] == []


def refuse_rows(srv, name: str, table: str, sqlite_when: str, pg_check: str) -> None:
    """The database refuses some rows of ``table``, as a failing disk would refuse the write."""
    if srv.backend == "postgresql":
        srv.db_rows(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({pg_check}) NOT VALID")
    else:
        srv.db_rows(f"CREATE TRIGGER {name} BEFORE INSERT ON {table} WHEN {sqlite_when}"
                    f" BEGIN SELECT RAISE(ABORT, '{name}'); END")


def mend_rows(srv, name: str, table: str) -> None:
    srv.db_rows(f"ALTER TABLE {table} DROP CONSTRAINT {name}" if srv.backend == "postgresql"
                else f"DROP TRIGGER {name}")


@pytest.mark.parametrize("removal", ["kick", "ban", "account_deleted"])
async def test_a_refused_join_is_not_put_back_by_a_removal_refused_after_it(tmp_path, started, backend, removal):
    """A's join is in flight when A is removed (kicked, banned, or A cancels the account on another
    connection), and the store refuses both writes: the join's undo finds nobody to take out (the
    removal took A out first), then the removal's undo put back the member it took out, still
    pending, as nobody would ever settle it: a ghost in the member list that could neither send nor
    leave, and whom join_group answered ``joined`` without storing anything, until a restart.
    A refused admission is not put back; A is outside, as in the store, and joins again."""
    srv = started(CountedServer(tmp_path, backend=backend))  # (its queued writes counted)
    owner, joiner = await srv.user(), await srv.user()
    other = await srv.client()  # the joiner's second connection
    await other.login(joiner.username, "password123")
    watcher = await srv.client()  # the owner's second connection: a connection answers in order
    await watcher.login(owner.username, "password123")
    gid = await open_group(owner)
    uid = joiner.user_id
    refuse_rows(srv, "no_joiner", "members", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")
    refuse_rows(srv, "no_removal", "membership_log", f"NEW.user_id = '{uid}' AND NEW.action = '{removal}'",
                f"user_id <> '{uid}' OR action <> '{removal}'")

    async def listed() -> list[str]:
        return [m["user_id"] for m in (await watcher.request("members", group_id=gid))["members"]]

    async def removed() -> bool:
        return uid not in await listed()

    async with writes_held(srv, "members"):
        joining = asyncio.ensure_future(joiner.call("join_group", group_id=gid))
        await until_write_waits(srv, "members")  # (the admission claimed, its write waiting)
        if removal == "kick":
            removing = asyncio.ensure_future(owner.call("kick", group_id=gid, user_id=uid))
        elif removal == "ban":
            removing = asyncio.ensure_future(owner.call("ban", group_id=gid, user_id=uid))
        else:
            removing = asyncio.ensure_future(other.call("delete_account", password="password123"))
        # The removal claimed and its write queued behind the join's (the join, pending, is listed nowhere).
        await until_writes_queued(srv)
        assert await removed()
    assert ok_or_code(await joining) == "internal"
    assert ok_or_code(await removing) == "internal"
    assert await listed() == [owner.user_id]
    assert srv.db_rows("SELECT COUNT(*) FROM members WHERE user_id = ?", uid) == [(0,)]
    assert ok_or_code(await joiner.call("leave_group", group_id=gid)) == "not_member"
    mend_rows(srv, "no_joiner", "members")
    assert (await joiner.request("join_group", group_id=gid))["status"] == "joined"
    assert srv.db_rows("SELECT COUNT(*) FROM members WHERE user_id = ?", uid) == [(1,)]
    assert (await joiner.call("send", group_id=gid, text="回来了", client_msg_id="r-1"))["ok"]


@pytest.mark.parametrize("how", ["group_id", "invite_code"])
@pytest.mark.parametrize("stored", [True, False], ids=["stored", "refused"])
async def test_a_second_connections_join_answers_by_the_first_ones_outcome(make_server, how, stored):
    """The user's join is in flight (claimed in memory, its write waiting) when their other
    connection asks to join too. That second join answered ``joined`` at once, from the claim,
    although the store could still refuse the first: the client then found itself not a member
    (``not_member`` on its next send), or not in the group at all. It now waits for the first join's
    outcome: stored, it answers ``joined`` and the member sends; refused, it tries a join of its own
    and answers that one's outcome."""
    srv = make_server()
    owner, joiner = await srv.user(), await srv.user()
    other = await srv.client()  # the joiner's second connection
    await other.login(joiner.username, "password123")
    gid = await open_group(owner)
    uid = joiner.user_id
    args = {"group_id": gid}
    if how == "invite_code":
        args = {"invite_code": (await owner.request("create_invite_link", group_id=gid))["code"]}
    if not stored:
        refuse_rows(srv, "no_joiner", "members", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")

    async with writes_held(srv, "members"):
        joining = asyncio.ensure_future(joiner.call("join_group", group_id=gid))
        await until_write_waits(srv, "members")  # (the admission claimed, its write waiting)
        second = asyncio.ensure_future(other.call("join_group", **args))
        await asyncio.wait([second], timeout=0.5)
        assert not second.done(), second.result()  # no answer before the store's
    if stored:
        assert (await joining)["ok"] and (await second)["ok"]
        assert (await second)["status"] == "joined"
        assert (await other.call("send", group_id=gid, text="到了", client_msg_id="s-1"))["ok"]
        assert srv.db_rows("SELECT COUNT(*) FROM members WHERE user_id = ?", uid) == [(1,)]
        if how == "invite_code":  # already in: no use of the link counted
            assert srv.db_rows("SELECT uses FROM invite_links") == [(0,)]
    else:
        assert ok_or_code(await joining) == "internal"
        assert ok_or_code(await second) == "internal"  # its own join, refused as well
        assert ok_or_code(await other.call("send", group_id=gid, text="到了", client_msg_id="s-1")) == "not_member"
        assert srv.db_rows("SELECT COUNT(*) FROM members WHERE user_id = ?", uid) == [(0,)]


async def test_an_approval_waits_for_the_requesters_join_in_flight(make_server):
    """A user with a join request (given back by a refused join) whose new join is in flight is
    approved: the approval answered at once, from the pending membership (admit's "already in"),
    and told the user ``approved``, although the store then refused that join and left the user
    outside with the request still open. It now waits for the join's outcome and, that join
    refused, admits the user itself (here refused as well: the manager hears ``internal``)."""
    from contextlib import AsyncExitStack

    srv = make_server()
    if srv.backend != "postgresql":
        pytest.skip("needs two batches held apart (a table each); SQLite's one write lock holds both")
    owner, joiner = await srv.user(), await srv.user()
    watcher = await srv.client()  # the owner's second connection: a connection answers in order
    await watcher.login(owner.username, "password123")
    uid = joiner.user_id
    gid = await open_group(owner, join_policy="approval")
    code = (await owner.request("create_invite_link", group_id=gid))["code"]
    assert (await joiner.request("join_group", group_id=gid))["status"] == "pending"  # the request
    refuse_rows(srv, "no_joiner", "members", f"NEW.user_id = '{uid}'", f"user_id <> '{uid}'")

    async def members() -> list[str]:
        return [m["user_id"] for m in (await watcher.request("members", group_id=gid))["members"]]

    async def requested() -> bool:
        return uid in [r["user_id"] for r in (await watcher.request("join_requests", group_id=gid))["requests"]]

    async def out() -> bool:
        return uid not in await members()

    other = await srv.client()  # the joiner's second connection
    await other.login(joiner.username, "password123")
    async with AsyncExitStack() as audit_held:
        async with writes_held(srv, "members"):
            # The first join (by the link: past the approval policy) takes the request with it.
            first = asyncio.ensure_future(joiner.call("join_group", invite_code=code))
            await until_write_waits(srv, "members")  # (the admission claimed, its write waiting)
            kicking = asyncio.ensure_future(owner.call("kick", group_id=gid, user_id=uid))
            await until(out, timeout=2)
            second = asyncio.ensure_future(other.call("join_group", invite_code=code))
            # (its admission is claimed at once, and shows nowhere while its write waits behind the kick's)
            await asyncio.sleep(0.3)
            # The kick and the second join are the next batch: it waits on the kick's record entry.
            await audit_held.enter_async_context(writes_held(srv, "audit"))
        assert ok_or_code(await first) == "internal"  # refused: the request is back
        await until(requested, timeout=2)
        assert not second.done()
        approving = asyncio.ensure_future(watcher.call("approve_join", group_id=gid, user_id=uid))
        await asyncio.wait([approving], timeout=0.5)
        assert not approving.done(), approving.result()  # no answer before the join's outcome
    assert (await kicking)["ok"]
    assert ok_or_code(await second) == "internal"
    assert ok_or_code(await approving) == "internal"  # its own admission, refused as well
    assert await members() == [owner.user_id]
    assert srv.db_rows("SELECT COUNT(*) FROM members WHERE user_id = ?", uid) == [(0,)]


def refuse_transfer_to(srv, uid: str) -> None:
    """The database refuses to make ``uid`` a group's owner, as a failing disk would refuse it."""
    if srv.backend == "postgresql":
        srv.db_rows(f"ALTER TABLE groups ADD CONSTRAINT no_transfer CHECK (owner_id <> '{uid}') NOT VALID")
    else:
        srv.db_rows(f"CREATE TRIGGER no_transfer BEFORE UPDATE OF owner_id ON groups"
                    f" WHEN NEW.owner_id = '{uid}' BEGIN SELECT RAISE(ABORT, 'no_transfer'); END")


def owns(viewer, gid: str, uid: str):
    """Whether ``viewer``'s ``members`` of ``gid`` shows ``uid`` as its owner now (a transfer claimed
    in memory shows there while its write waits), as a condition for ``until``."""
    async def check() -> bool:
        roles = {m["user_id"]: m["role"] for m in (await viewer.request("members", group_id=gid))["members"]}
        return roles.get(uid) == "owner"
    return check


@pytest.mark.parametrize("op", ["update_group", "dissolve_group", "set_role", "mute"])
async def test_what_a_new_owner_does_before_a_refused_transfer_is_refused_too(make_server, op):
    """Memory shows the new owner from the transfer's claim on, while its write waits. What they did
    as the owner meanwhile was stored on powers they never had when the store then refused the
    transfer: a non-owner renamed, dissolved or re-roled the group. The store now confirms the
    role a manager acted in, in the same transaction, and refuses the change (``forbidden``)."""
    srv = make_server()
    owner, heir, other = await srv.user(), await srv.user(), await srv.user()
    gid = await open_group(owner)
    for u in (heir, other):
        await u.request("join_group", group_id=gid)
    watcher = await srv.client()
    await watcher.auth(other.token)
    refuse_transfer_to(srv, heir.user_id)
    heir_owns = owns(watcher, gid, heir.user_id)

    args = {"update_group": {"name": "taken over"}, "dissolve_group": {},
            "set_role": {"user_id": other.user_id, "role": "admin"},
            "mute": {"user_id": other.user_id, "seconds": 600}}[op]
    async with writes_held(srv, "groups"):
        transfer = asyncio.ensure_future(owner.call("transfer_owner", group_id=gid, user_id=heir.user_id))
        await until(heir_owns, timeout=4)  # claimed in memory, its write waiting
        acted = asyncio.ensure_future(heir.call(op, group_id=gid, **args))
        await asyncio.sleep(0.3)
        assert not transfer.done()
    assert not (await transfer)["ok"]
    reply = await acted
    assert reply.get("code") == "forbidden", reply
    [(name, dissolved, owner_id)] = srv.db_rows("SELECT name, dissolved_at, owner_id FROM groups WHERE group_id = ?",
                                                gid)
    assert (name != "taken over", dissolved, owner_id) == (True, None, owner.user_id)
    assert srv.db_rows("SELECT role, muted_until FROM members WHERE group_id = ? AND user_id = ?",
                       gid, other.user_id) == [("member", 0)]
    assert (await owner.call("update_group", group_id=gid, name="still mine"))["ok"]


async def test_two_refused_read_marks_leave_the_marker_where_the_store_has_it(make_server):
    """mark_read 2 then 3 on two connections, both refused by the store: the second's undo put
    back 2, which was never stored, so ``my_groups`` showed it and a later ``mark_read`` 2 stored
    nothing. Each refused mark now gives back what it stood on, through the chain of pending marks."""
    srv = make_server()
    owner, reader = await srv.user(), await srv.user()
    gid = await open_group(owner)
    await reader.request("join_group", group_id=gid)
    for text in ("a", "b", "c"):
        await owner.send(gid, text)
    second, watcher = await srv.client(), await srv.client()  # (a connection answers in order)
    for c in (second, watcher):
        await c.auth(reader.token)
    refuse_rows(srv, "no_reads", "read_state", "1", "false")
    if srv.backend == "sqlite":  # (an upsert's update is refused too, as PostgreSQL's CHECK refuses it)
        srv.db_rows("CREATE TRIGGER no_reads_update BEFORE UPDATE ON read_state BEGIN SELECT RAISE(ABORT, 'x'); END")

    async def read_seq() -> int:
        [g] = [g for g in (await watcher.request("my_groups"))["groups"] if g["group_id"] == gid]
        return int(g["read_seq"])

    async def at_two() -> bool:
        return await read_seq() == 2

    async with writes_held(srv, "read_state"):
        a = asyncio.ensure_future(reader.call("mark_read", group_id=gid, seq=2))
        await until(at_two, timeout=4)
        b = asyncio.ensure_future(second.call("mark_read", group_id=gid, seq=3))
        await asyncio.sleep(0.3)
    assert not (await a)["ok"] and not (await b)["ok"]
    assert await read_seq() == 0
    mend_rows(srv, "no_reads", "read_state")
    if srv.backend == "sqlite":
        srv.db_rows("DROP TRIGGER no_reads_update")
    assert (await reader.request("mark_read", group_id=gid, seq=2))["read_seq"] == 2
    assert srv.db_rows("SELECT seq FROM read_state WHERE group_id = ? AND user_id = ?", gid, reader.user_id) == [(2,)]


async def test_a_refused_pin_does_not_take_out_a_pin_stored_after_it(make_server):
    """The owner's pin of X waits for its write (the store will refuse it), an admin unpins X and
    pins it again meanwhile: the refused pin's undo took X out of memory although the admin's pin
    was stored. Changes of one message's pin now take turns, from the check to the commit."""
    srv = make_server()
    owner, admin = await srv.user(), await srv.user()
    gid = await open_group(owner)
    await admin.request("join_group", group_id=gid)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    seq = (await owner.send(gid, "pin me"))["seq"]
    second = await srv.client()
    await second.auth(admin.token)
    refuse_rows(srv, "no_owner_pins", "group_pins", f"NEW.pinned_by = '{owner.user_id}'",
                f"pinned_by <> '{owner.user_id}'")
    async with writes_held(srv, "group_pins"):
        pin = asyncio.ensure_future(owner.call("pin_message", group_id=gid, seq=seq, on=True))
        await until_write_waits(srv, "group_pins")
        unpin = asyncio.ensure_future(admin.call("pin_message", group_id=gid, seq=seq, on=False))
        await asyncio.sleep(0.2)
        again = asyncio.ensure_future(second.call("pin_message", group_id=gid, seq=seq, on=True))
        await asyncio.sleep(0.3)
    assert not (await pin)["ok"]
    assert (await unpin)["ok"] and (await again)["ok"]
    assert srv.db_rows("SELECT seq FROM group_pins WHERE group_id = ?", gid) == [(seq,)]
    assert (await owner.request("group_info", group_id=gid))["pinned"] == [seq]


async def test_an_invitation_that_stands_after_a_refused_one_is_told(make_server):
    """The owner's invitation waits for its write (the store will refuse it) when an admin invites
    the same user: the admin's was taken for a repeat of one already told and sent nothing, so the
    invitation that stood was never told. Invitations of one user to one group now take turns."""
    srv = make_server()
    owner, admin, invitee = await srv.user(), await srv.user(), await srv.user()
    gid = await open_group(owner, join_policy="invite")
    await owner.request("invite", group_id=gid, user_id=admin.user_id)
    await admin.request("join_group", group_id=gid)
    await owner.request("set_role", group_id=gid, user_id=admin.user_id, role="admin")
    invitee.drain_events()
    refuse_rows(srv, "no_owner_invites", "invitations", f"NEW.inviter_id = '{owner.user_id}'",
                f"inviter_id <> '{owner.user_id}'")
    async with writes_held(srv, "invitations"):
        first = asyncio.ensure_future(owner.call("invite", group_id=gid, user_id=invitee.user_id))
        await until_write_waits(srv, "invitations")
        second = asyncio.ensure_future(admin.call("invite", group_id=gid, user_id=invitee.user_id))
        await asyncio.sleep(0.3)
    assert not (await first)["ok"] and (await second)["ok"]
    ev = await invitee.next_event("invited", timeout=3)
    assert (ev["group_id"], ev["by"]["user_id"]) == (gid, admin.user_id)
    assert srv.db_rows("SELECT inviter_id FROM invitations WHERE group_id = ? AND user_id = ?",
                       gid, invitee.user_id) == [(admin.user_id,)]


async def test_retries_of_a_send_still_being_stored_wait_up_to_a_bound(make_server):
    """Each retry of a send whose commit has not settled waits for it, kept in memory, and a retry
    skips the rate bucket: repeated without bound through a slow commit it held any amount. Sixteen
    wait and get the first copy's seq; more are rate_limited, and the message is stored once."""
    srv = make_server()
    alice = await srv.user()
    gid = await open_group(alice)
    sender = await srv.client()
    await sender.auth(alice.token)
    async with writes_held(srv, "messages"):
        first = asyncio.ensure_future(sender.call("send", group_id=gid, text="once", client_msg_id="c-1"))
        await until_write_waits(srv, "messages")
        retries = [asyncio.ensure_future(sender.call("send", group_id=gid, text="once", client_msg_id="c-1"))
                   for _ in range(20)]
        await asyncio.sleep(0.5)
    replies = [await first, *[await r for r in retries]]
    seqs = {r["seq"] for r in replies if r.get("ok")}
    refused = [r for r in replies if not r.get("ok")]
    assert len(seqs) == 1 and len(replies) - len(refused) == 17, replies
    assert {r["code"] for r in refused} == {"rate_limited"} and all(r["retry_after_ms"] > 0 for r in refused)
    assert srv.db_rows("SELECT COUNT(*) FROM messages WHERE group_id = ?", gid) == [(1,)]


async def test_an_approval_by_a_new_owner_before_a_refused_transfer_is_refused_too(make_server):
    """As the other management writes: an approval stored on a transfer the store then refused would
    let someone in on powers the approver never had."""
    srv = make_server()
    owner, heir, asker = await srv.user(), await srv.user(), await srv.user()
    gid = await open_group(owner, join_policy="approval")
    await owner.request("invite", group_id=gid, user_id=heir.user_id)
    await heir.request("join_group", group_id=gid)
    await asker.request("join_group", group_id=gid)  # a request, waiting
    watcher = await srv.client()
    await watcher.auth(owner.token)
    refuse_transfer_to(srv, heir.user_id)
    heir_owns = owns(watcher, gid, heir.user_id)

    async with writes_held(srv, "groups"):
        transfer = asyncio.ensure_future(owner.call("transfer_owner", group_id=gid, user_id=heir.user_id))
        await until(heir_owns, timeout=4)
        approval = asyncio.ensure_future(heir.call("approve_join", group_id=gid, user_id=asker.user_id))
        await asyncio.sleep(0.3)
    assert not (await transfer)["ok"]
    assert (await approval).get("code") == "forbidden"
    assert srv.db_rows("SELECT COUNT(*) FROM members WHERE group_id = ? AND user_id = ?", gid, asker.user_id) == [(0,)]
    assert asker.user_id not in {m["user_id"] for m in (await watcher.request("members", group_id=gid))["members"]}


async def test_a_report_the_store_refuses_does_not_count_against_the_hours_reports(make_server):
    """A report is counted against ``rate_limits.reports_per_hour`` before its write; one the store
    refused (what it names purged meanwhile, a failing write) filed nothing, and still used up the
    reporter's hour: with a limit of one, their next report was refused ``rate_limited``."""
    srv = make_server("reports_per_hour = 1\n")  # (the harness's config ends inside [rate_limits])
    reporter, spammer, other = await srv.user(), await srv.user(), await srv.user()
    _refusing_trigger(srv, "no_report", "reports", "INSERT", "NEW.reason = 'refused'")
    refused = await reporter.call("report", target_type="user", user_id=spammer.user_id, reason="refused")
    assert refused["code"] == "internal", refused
    filed = await reporter.call("report", target_type="user", user_id=other.user_id, reason="spam")
    assert filed.get("ok") and "report_id" in filed, filed
    again = await reporter.call("report", target_type="user", user_id=spammer.user_id, reason="spam")
    assert again["code"] == "rate_limited", again  # (the limit still holds for what was filed)
