"""A blacklisting planned while a transfer of one of the user's groups is in flight, which the store
then refuses.

The blacklisting passes on (or closes) the groups memory shows the user owning. A transfer claimed
before it and refused after stays out of that plan: either the user is blacklisted while the store
has them owning the group again, or the plan hands on a group the store never gave them, and its
undo left memory showing two owners. The store now refuses a blacklisting that leaves the user
owning a live group (the operator is told to run it again), and a hand-over's owner and roles are
claimed in order with the transfer's own claims."""

from __future__ import annotations

import asyncio

from tests.e2e.harness import open_group
from tests.e2e.store_hold import (
    CountedServer,
    until,
    until_write_waits,
    until_writes_queued,
    writes_held,
    writes_queued,
)
from tests.e2e.test_races import ok_or_code, refuse_transfer_to, refuse_updates


async def roles(viewer, gid: str) -> dict[str, str]:
    return {m["user_id"]: m["role"] for m in (await viewer.request("members", group_id=gid))["members"]}


async def setup(srv):
    owner, heir, new = await srv.user(verify_id=True), await srv.user(verify_id=True), await srv.user(verify_id=True)
    gid = await open_group(owner)
    for c in (heir, new):
        assert (await c.request("join_group", group_id=gid))["status"] == "joined"
    assert (await owner.call("set_role", group_id=gid, user_id=heir.user_id, role="admin"))["ok"]
    refuse_transfer_to(srv, new.user_id)
    return owner, heir, new, gid


async def test_the_owner_blacklisted_while_their_refused_transfer_was_in_flight_is_told_to_run_it_again(make_server):
    srv = make_server()
    owner, heir, new, gid = await setup(srv)
    second = await srv.client()  # the owner's second connection: a connection answers in order
    await second.login(owner.username, "password123")

    async def handed_on() -> bool:
        return (await roles(heir, gid))[new.user_id] == "owner"

    async def blacklisted() -> bool:
        return ok_or_code(await second.call("my_groups")) == "blacklisted"

    async with writes_held(srv, "groups"):
        transfer = asyncio.ensure_future(owner.call("transfer_owner", group_id=gid, user_id=new.user_id))
        await until(handed_on, timeout=2)
        barring = asyncio.ensure_future(srv.admin("blacklist", owner.username, "--reason", "诈骗"))
        await until(blacklisted, timeout=10)  # claimed: the plan passed over the group memory showed as new's
    assert ok_or_code(await transfer) == "internal"
    rc, out, err = await barring
    assert rc == 2 and "run the command again" in err, (rc, out, err)
    assert srv.db_rows("SELECT blacklisted_at IS NULL FROM users WHERE user_id = ?", owner.user_id) == [(True,)]
    assert srv.db_rows("SELECT owner_id FROM groups WHERE group_id = ?", gid) == [(owner.user_id,)]
    assert (await roles(heir, gid))[owner.user_id] == "owner"
    # run again: the group passes to its admin
    rc, out, err = await srv.admin("blacklist", owner.username, "--reason", "诈骗")
    assert rc == 0, err
    assert srv.db_rows("SELECT owner_id FROM groups WHERE group_id = ?", gid) == [(heir.user_id,)]
    assert (await roles(heir, gid))[heir.user_id] == "owner"


async def test_blacklisting_the_heir_of_a_refused_transfer_leaves_one_owner(make_server):
    srv = make_server()
    owner, heir, new, gid = await setup(srv)

    async def handed_on() -> bool:
        return (await roles(heir, gid))[new.user_id] == "owner"

    async def passed_to_heir() -> bool:
        return (await roles(heir, gid))[heir.user_id] == "owner"

    async with writes_held(srv, "groups"):
        transfer = asyncio.ensure_future(owner.call("transfer_owner", group_id=gid, user_id=new.user_id))
        await until(handed_on, timeout=2)
        barring = asyncio.ensure_future(srv.admin("blacklist", new.username, "--reason", "诈骗"))
        await until(passed_to_heir, timeout=10)  # claimed: new's group passes to the admin
    assert ok_or_code(await transfer) == "internal"
    rc, out, err = await barring
    assert rc == 2 and "run the command again" in err, (rc, out, err)
    expected = {owner.user_id: "owner", heir.user_id: "admin", new.user_id: "member"}
    assert await roles(heir, gid) == expected
    assert dict(srv.db_rows("SELECT user_id, role FROM members WHERE group_id = ?", gid)) == expected
    rc, out, err = await srv.admin("blacklist", new.username, "--reason", "诈骗")
    assert rc == 0, err
    assert srv.db_rows("SELECT owner_id FROM groups WHERE group_id = ?", gid) == [(owner.user_id,)]


async def test_a_blacklisting_while_the_users_account_opening_is_stored_goes_through(make_server):
    """The user's ``create_account`` is being stored when they are blacklisted: memory does not know
    the account yet, so the plan does not close it; the blacklisting goes through all the same, and
    the account is closed as its insert lands (its own check of the owner)."""
    srv = make_server()
    bad = await srv.user(verify_id=True)
    async with writes_held(srv, "accounts"):
        opening = asyncio.ensure_future(bad.call("create_account", name="在途号", category="culture", intro="",
                                                 subject_type="individual"))
        await until_write_waits(srv, "accounts")
        barring = asyncio.ensure_future(srv.admin("blacklist", bad.username, "--reason", "诈骗"))
        await asyncio.sleep(1.0)  # the blacklisting is planned and queued behind the opening
    rc, out, err = await barring
    assert rc == 0, err
    await asyncio.gather(opening, return_exceptions=True)  # (its connection was closed by the blacklisting)
    assert srv.db_rows("SELECT blacklisted_at IS NOT NULL FROM users WHERE user_id = ?", bad.user_id) == [(True,)]

    async def closed() -> bool:
        return srv.db_rows("SELECT closed_at IS NOT NULL FROM accounts WHERE owner_id = ?", bad.user_id) == [(True,)]

    await until(closed, timeout=5)


async def test_a_login_under_way_as_the_account_is_blacklisted_is_told_blacklisted(make_server):
    """``login`` with the right password, its token being stored as the operator blacklists the account,
    was answered ``unauthenticated`` with the wrong-password reason: ``blacklisted`` now, as the
    contract has it (and ``delete_account``'s password check, likewise, through ``still_active``)."""
    srv = make_server()
    target = await srv.user()
    second = await srv.client()  # the account's second connection: a connection answers in order
    await second.login(target.username, "password123")
    logging_in = await srv.client()

    async def blacklisted() -> bool:
        return ok_or_code(await second.call("my_groups")) == "blacklisted"

    async with writes_held(srv, "tokens"):
        login = asyncio.ensure_future(logging_in.call("login", username=target.username, password="password123"))
        await until_write_waits(srv, "tokens")
        barring = asyncio.ensure_future(srv.admin("blacklist", target.username, "--reason", "诈骗"))
        await until(blacklisted, timeout=10)
    assert ok_or_code(await login) == "blacklisted"
    assert (await barring)[0] == 0


async def test_an_appeal_by_the_heir_of_a_transfer_still_being_stored_is_refused_with_it(started, tmp_path, backend):
    """Memory shows a group's new owner from the transfer's claim on; an appeal of the group's warning
    by them was stored on memory's word alone, so when the store then refused the transfer, someone
    who never owned the group kept an appeal on its sanction (and an upheld decision lifted it at their
    request). The store confirms the owner in the appeal's transaction now."""
    srv = started(CountedServer(tmp_path, backend=backend))
    owner, heir, new, gid = await setup(srv)
    rc, out, err = await srv.admin("warn-group", gid, "--reason", "整改")
    assert rc == 0, err
    sid = out.split("sanction ")[1].rstrip(")\n")

    async def handed_on() -> bool:
        return (await roles(heir, gid))[new.user_id] == "owner"

    async with writes_held(srv, "groups"):
        transfer = asyncio.ensure_future(owner.call("transfer_owner", group_id=gid, user_id=new.user_id))
        await until(handed_on, timeout=2)
        await until_write_waits(srv, "groups")  # the transfer's write waits for the hold
        before = await writes_queued(srv)
        appealing = asyncio.ensure_future(new.call("appeal", sanction_id=str(sid), text="不服"))
        # Its memory check passed and its write queued behind the transfer's: only then may the hold
        # end (waiting for the transfer's own wait alone let the store refuse it before the appeal
        # read memory, which showed the old owner again: not_found, not the store's forbidden).
        await until_writes_queued(srv, more_than=before)
    assert ok_or_code(await transfer) == "internal"
    assert ok_or_code(await appealing) == "forbidden"
    assert srv.db_rows("SELECT COUNT(*) FROM appeals") == [(0,)]
    assert (await owner.call("appeal", sanction_id=str(sid), text="不服"))["ok"]


async def _two_blacklistings_sharing_an_organisation(srv, refused_too: bool):
    """Two people who each run an account of one organisation, blacklisted at once; the store refuses
    the first's write (and with ``refused_too`` the second's as well). (the two results, the newcomer
    who tries the organisation next, the account's arguments)"""
    from tests.e2e.test_account_measures import org_code

    first, second, newcomer = [await srv.user(verify_id=True) for _ in range(3)]
    company = {"subject_type": "organization", "org_name": "某贸易公司", "org_code": org_code(31),
               "category": "culture", "intro": ""}
    for who, name in ((first, "公司甲号"), (second, "公司乙号")):
        assert (await who.call("create_account", name=name, **company))["ok"]
    # A failing disk refuses the blacklistings' writes (their user rows).
    refused_ids = "', '".join([first.user_id] + ([second.user_id] if refused_too else []))
    refuse_updates(srv, "no_blacklist", "users", "blacklisted_at", f"NEW.user_id IN ('{refused_ids}')")
    async with writes_held(srv, "users"):
        one = asyncio.ensure_future(srv.admin("blacklist", first.username, "--reason", "诈骗"))
        await until_write_waits(srv, "users")
        before = await writes_queued(srv)
        two = asyncio.ensure_future(srv.admin("blacklist", second.username, "--reason", "诈骗"))
        await until_writes_queued(srv, more_than=before)  # planned behind the first's claim
    return await one, await two, newcomer, company


async def test_an_organisation_stays_barred_when_the_first_of_two_blacklistings_sharing_it_is_refused(
        started, tmp_path, backend):
    """Two people each run an account of one organisation and are blacklisted at once. The first
    blacklisting claimed the organisation's bar in memory; the second, planned meanwhile, saw it
    barred and wrote no bar of its own; the store then refused the first, whose undo took the bar
    out of memory. The second was stored, and the organisation was barred nowhere: anyone opened
    its accounts again. Each blacklisting writes every bar it needs now, and an undo leaves in
    memory a bar another blacklisted owner holds."""
    srv = started(CountedServer(tmp_path, backend=backend))
    (rc1, _, _), (rc, out, err), newcomer, company = await _two_blacklistings_sharing_an_organisation(srv, False)
    assert rc1 != 0
    assert rc == 0, err
    assert srv.db_rows("SELECT COUNT(*) FROM barred_subjects WHERE subject_key IN"
                       " (SELECT subject_key FROM accounts WHERE subject_type = 'organization')") == [(1,)]
    opened = await newcomer.call("create_account", name="公司丙号", **company)
    assert opened.get("code") == "blacklisted" and "account_id" not in opened, opened
    # (refused by memory's bar, before any write: the store's refusal names "this person or organisation")
    assert opened["reason"] == "this organisation is barred from running public accounts", opened


async def test_an_organisation_two_refused_blacklistings_shared_is_not_barred_in_memory(started, tmp_path, backend):
    """Both refused: the second's undo, the last, found the organisation's bar it had taken for the
    first's claim and left it, so memory barred an organisation the store never did, until a restart."""
    srv = started(CountedServer(tmp_path, backend=backend))
    (rc1, _, _), (rc2, _, _), newcomer, company = await _two_blacklistings_sharing_an_organisation(srv, True)
    assert rc1 != 0 and rc2 != 0
    assert srv.db_rows("SELECT COUNT(*) FROM barred_subjects") == [(0,)]
    # Not barred: the organisation's two accounts, both open again, fill its places instead.
    opened = await newcomer.call("create_account", name="公司丙号", **company)
    assert opened.get("code") == "create_cap_reached", opened
