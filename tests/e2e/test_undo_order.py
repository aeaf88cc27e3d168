"""Writes about one thing in flight at once, refused by the store: memory ends as the store holds it.

A ban and an unban of one user in one group take turns: an unban waits for a ban still in flight.
Without the turn, an unban took a ban in flight out of memory at once; when the store then refused
both (here: the admin who issued them had been promoted by a write the store refused, so it
refuses what they did as an admin), the ban's undo found nothing to take back and the unban's undo
put back a ban the store never held: the user could not rejoin until a restart.

An account's cancellation claims its display name as a new name does (in order with the other
claims of it): its undo put back the name memory showed when it was claimed, a name whose own
write the store then refused.

An operator's lift of a measure changes memory only once it is stored: claimed before the write,
a lift the store then refused let through meanwhile what the measure stops (a message in a group
still suspended), and nothing took that back.
"""

from __future__ import annotations

import asyncio
import json

from tests.e2e.harness import open_group
from tests.e2e.store_hold import until, until_write_waits, writes_held
from tests.e2e.test_measures import one_sanction, setup_group
from tests.e2e.test_races import ok_or_code, refuse_deletes, refuse_updates


def refuse_promotion(srv, uid: str) -> None:
    """The database refuses to make ``uid`` an admin, as a failing disk would refuse the write."""
    if srv.backend == "postgresql":
        srv.db_rows(f"ALTER TABLE members ADD CONSTRAINT no_admin"
                    f" CHECK (user_id <> '{uid}' OR role <> 'admin') NOT VALID")
    else:
        srv.db_rows(f"CREATE TRIGGER no_admin BEFORE UPDATE OF role ON members"
                    f" WHEN NEW.user_id = '{uid}' AND NEW.role = 'admin' BEGIN SELECT RAISE(ABORT, 'no_admin'); END")


async def test_an_unban_waits_for_the_ban_in_flight(make_server):
    srv = make_server()
    owner, admin, user = await srv.user(), await srv.user(), await srv.user()
    gid = await open_group(owner)
    for c in (admin, user):
        assert (await c.request("join_group", group_id=gid))["status"] == "joined"
    assert ok_or_code(await user.call("leave_group", group_id=gid)) == "ok"
    uid = user.user_id
    refuse_promotion(srv, admin.user_id)
    other = await srv.client()  # the admin's second connection: a connection answers in order
    await other.login(admin.username, "password123")

    async def admin_now() -> bool:
        roles = {m["user_id"]: m["role"] for m in (await admin.request("members", group_id=gid))["members"]}
        return roles[admin.user_id] == "admin"

    async with writes_held(srv, "members"):
        promoting = asyncio.ensure_future(owner.call("set_role", group_id=gid, user_id=admin.user_id, role="admin"))
        await until(admin_now, timeout=2)  # claimed in memory; its write held
        banning = asyncio.ensure_future(admin.call("ban", group_id=gid, user_id=uid))
        unbanning = asyncio.ensure_future(other.call("unban", group_id=gid, user_id=uid))
        await asyncio.wait([unbanning], timeout=0.5)
        assert not unbanning.done(), unbanning.result()  # in the ban's turn
    assert ok_or_code(await promoting) == "internal"
    assert ok_or_code(await banning) == "forbidden"  # the store did not make them an admin
    assert ok_or_code(await unbanning) == "forbidden"  # decided afresh: no longer an admin
    assert srv.db_rows("SELECT COUNT(*) FROM bans WHERE user_id = ?", uid) == [(0,)]
    assert (await owner.request("bans", group_id=gid))["bans"] == []
    assert (await user.request("join_group", group_id=gid))["status"] == "joined"


async def test_a_refused_cancellation_puts_back_the_name_the_store_holds(make_server):
    srv = make_server()
    user = await srv.user()
    other = await srv.client()  # the user's second connection
    await other.login(user.username, "password123")
    before = (await user.request("me"))["display_name"]
    if srv.backend == "postgresql":
        srv.db_rows("ALTER TABLE users ADD CONSTRAINT no_names"
                    " CHECK (display_name NOT IN ('新名字', '已注销用户')) NOT VALID")
    else:
        srv.db_rows("CREATE TRIGGER no_names BEFORE UPDATE OF display_name ON users"
                    " WHEN NEW.display_name IN ('新名字', '已注销用户') BEGIN SELECT RAISE(ABORT, 'no_names'); END")
    async with writes_held(srv, "users"):
        renaming = asyncio.ensure_future(user.call("set_profile", display_name="新名字"))
        await until_write_waits(srv, "users")
        cancelling = asyncio.ensure_future(other.call("delete_account", password="password123"))
        await asyncio.sleep(0.2)
    assert ok_or_code(await renaming) == "internal"
    assert ok_or_code(await cancelling) == "internal"
    assert srv.db_rows("SELECT display_name FROM users WHERE user_id = ?", user.user_id) == [(before,)]
    assert (await other.request("me"))["display_name"] == before


def refuse_lifts(srv) -> None:
    """The database refuses to mark a sanction lifted, as a failing disk would refuse the write."""
    if srv.backend == "postgresql":
        srv.db_rows("ALTER TABLE sanctions ADD CONSTRAINT no_lift CHECK (lifted_at IS NULL) NOT VALID")
    else:
        srv.db_rows("CREATE TRIGGER no_lift BEFORE UPDATE OF lifted_at ON sanctions WHEN NEW.lifted_at IS NOT NULL"
                    " BEGIN SELECT RAISE(ABORT, 'no_lift'); END")


async def test_a_lift_being_stored_lets_nothing_through_until_it_is(make_server):
    srv = make_server()
    owner, gid, [member] = await setup_group(srv)
    rc, _, err = await srv.admin("suspend-group", gid, "--seconds", "600", "--reason", "spam")
    assert rc == 0, err
    row = await one_sanction(srv, "suspend_group", "--group", gid)
    refuse_lifts(srv)
    async with writes_held(srv, "sanctions"):
        lifting = asyncio.ensure_future(srv.admin("lift", row["id"], "--reason", "误判"))
        await until_write_waits(srv, "sanctions")  # the lift's write is in flight
        # still suspended, answered at once (a send let through would wait for its own write here)
        sent = await asyncio.wait_for(member.call("send", group_id=gid, text="趁机", client_msg_id="l-1"), 2)
        assert ok_or_code(sent) == "group_suspended"
    rc, out, err = await lifting
    assert rc != 0, out  # refused by the store
    again = await member.call("send", group_id=gid, text="还是不行", client_msg_id="l-2")
    assert ok_or_code(again) == "group_suspended"
    assert srv.db_rows("SELECT COUNT(*) FROM messages WHERE group_id = ?", gid) == [(0,)]


async def test_an_account_lift_being_stored_lets_nothing_through_until_it_is(make_server):
    srv = make_server()
    owner = await srv.user(verify_id=True)
    aid = (await owner.request("create_account", name="慢慢来", category="culture", intro="",
                               subject_type="individual"))["account_id"]
    rc, _, err = await srv.admin("suspend-account", aid, "--seconds", "3600", "--reason", "违规转载")
    assert rc == 0, err
    rc, out, err = await srv.admin("sanctions", "--account", aid)
    [row] = [json.loads(line) for line in out.splitlines()]
    refuse_lifts(srv)
    async with writes_held(srv, "sanctions"):
        lifting = asyncio.ensure_future(srv.admin("lift", str(row["id"]), "--reason", "误判"))
        await until_write_waits(srv, "sanctions")  # the lift's write is in flight
        posted = await asyncio.wait_for(owner.call("publish", account_id=aid, title="t", body="趁机"), 2)
        assert ok_or_code(posted) == "forbidden"  # still suspended, answered at once
    rc, out, err = await lifting
    assert rc != 0, out  # refused by the store
    assert ok_or_code(await owner.call("publish", account_id=aid, title="t", body="b")) == "forbidden"
    assert srv.db_rows("SELECT COUNT(*) FROM posts WHERE account_id = ?", aid) == [(0,)]


def refuse_unpin(srv, seq: int) -> None:
    """The database refuses to take down the pin of message ``seq``, as a failing disk would."""
    refuse_deletes(srv, "no_unpin", "group_pins", f"OLD.seq = {seq}")


async def test_a_pin_in_the_place_of_a_refused_unpin_is_refused_by_the_store_too(make_server):
    """The pin cap was decided in memory only: an unpin freed a place at once, a pin of another
    message took it, and when the store then refused the unpin its undo put the pin back: one pin
    over the cap, in memory and in the store. The store counts the pins it holds for a pin too."""
    srv = make_server("\n[limits]\nmax_pins = 2\n")
    owner = await srv.user()
    gid = await open_group(owner)
    for text in ("one", "two", "three"):
        await owner.send(gid, text)
    for seq in (1, 2):
        assert (await owner.request("pin_message", group_id=gid, seq=seq, on=True))["ok"]
    refuse_unpin(srv, 1)
    other = await srv.client()  # a second connection of the owner's: each answers in order
    await other.login(owner.username, "password123")
    watcher = await srv.client()
    await watcher.login(owner.username, "password123")

    async def pinned() -> list[int]:
        return (await watcher.request("group_info", group_id=gid))["pinned"]

    async with writes_held(srv, "group_pins"):
        unpinning = asyncio.ensure_future(owner.call("pin_message", group_id=gid, seq=1, on=False))
        await until(lambda: _is(pinned, [2]), timeout=2)  # the place is free in memory; the write held
        pinning = asyncio.ensure_future(other.call("pin_message", group_id=gid, seq=3, on=True))
        await until(lambda: _is(pinned, [2, 3]), timeout=2)
    assert ok_or_code(await unpinning) == "internal"
    assert ok_or_code(await pinning) == "conflict"
    assert sorted(await pinned()) == [1, 2]
    assert sorted(r[0] for r in srv.db_rows("SELECT seq FROM group_pins WHERE group_id = ?", gid)) == [1, 2]


async def _is(read, expected) -> bool:
    return await read() == expected


async def test_an_editor_taken_off_while_their_refused_cancellation_was_in_flight_stays_off(started, tmp_path,
                                                                                           backend):
    """An editor cancels their account; while that is being stored, memory shows them off the
    account, so the owner's ``set_editor off`` answered done and stored nothing. The store then
    refused the cancellation, whose undo seated the editor again: the owner's removal was lost.
    It is stored now, and the undo leaves that seat alone."""
    from tests.e2e.store_hold import CountedServer, until_writes_queued, writes_queued

    srv = started(CountedServer(tmp_path, backend=backend))
    owner, editor = await srv.user(verify_id=True), await srv.user(verify_id=True)
    aid = (await owner.request("create_account", name="编辑部", category="culture", intro="",
                               subject_type="individual"))["account_id"]
    await owner.request("set_editor", account_id=aid, user_id=editor.user_id, on=True)
    second = await srv.client()  # the editor's second connection, open after the refused cancellation
    await second.login(editor.username, "password123")
    refuse_updates(srv, "no_cancel", "users", "deleted_at", "NEW.deleted_at IS NOT NULL")
    async with writes_held(srv, "users"):
        cancelling = asyncio.ensure_future(editor.call("delete_account", password="password123"))
        await until_write_waits(srv, "users")
        before = await writes_queued(srv)
        removing = asyncio.ensure_future(owner.call("set_editor", account_id=aid, user_id=editor.user_id, on=False))
        await until_writes_queued(srv, more_than=before, timeout=5)  # the owner's removal is written too
    assert ok_or_code(await cancelling) == "internal"
    assert ok_or_code(await removing) == "ok"
    assert srv.db_rows("SELECT COUNT(*) FROM account_editors WHERE account_id = ?", aid) == [(0,)]
    refused = await second.call("publish", account_id=aid, title="还在吗", body="b")
    assert ok_or_code(refused) == "forbidden", refused
    assert aid not in [a["account_id"] for a in (await second.request("my_accounts"))["accounts"]]
