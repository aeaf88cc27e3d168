"""Public accounts in the store, on both backends: the per-subject cap, barred subjects and names decided
by the database (also for two PostgreSQL writers, as two nodes would be), reads, and loading into memory."""

from __future__ import annotations

import asyncio

import pytest

from protocol.errors import ContractError
from server.storage import changes as ch
from server.storage.public import READING_TAKEN, first_readings
from server.storage.sqlite import SqliteStore
from tests import pgtools
from tests.server.upgrade_backend import account_before_upgrade

ID = b"I" * 32


async def _people(store, n: int, id_hmac: bytes = ID) -> None:
    for i in range(n):
        await store.apply(ch.InsertUser(f"u{i}", f"n{i}", f"n{i}", "h", "N", bytes([i]) * 32, b"e", 100, 1))
        await store.apply(ch.VerifyIdentity(f"u{i}", id_hmac, b"x", b"y", 5, 99))


def _account(aid: str, owner: str, name: str, subject: str | None = None, cap: int = 2) -> ch.InsertAccount:
    kind = "organization" if subject else "individual"
    return ch.InsertAccount(aid, name, name.lower(), "culture", "", kind, subject, "Org" if subject else None,
                            None, owner, 100, 1, cap)


async def test_cap_per_subject_holds_for_concurrent_creates(open_store):
    """Eight creates for one person (four user accounts, one ID number) at once; the cap is 2. On
    PostgreSQL they are split between two writers sharing the database."""
    a = await open_store()
    await _people(a, 4)
    b = await open_store() if "Postgres" in type(a).__name__ else a
    creates = [(a if i % 2 else b).apply(_account(f"10000000{i}", f"u{i % 4}", f"Name {i}")) for i in range(8)]
    results = await asyncio.gather(*creates, return_exceptions=True)
    assert sum(isinstance(r, list) for r in results) == 2
    assert {r.code for r in results if not isinstance(r, list)} == {"create_cap_reached"}
    [opened] = {r[0] for r in results if isinstance(r, list)}
    # an individual's subject and opener: their ID number's keyed hash
    assert (opened.subject_key, opened.opener_key) == (ID.hex(), ID.hex())


async def test_a_person_opens_at_most_the_cap_of_organisation_accounts(open_store):
    """One person (two user accounts) opens at most max_per_subject organisation accounts, whatever
    codes they type, besides max_per_subject of their own; an organisation has its own cap across
    the people opening for it."""
    a = await open_store()
    await _people(a, 2)
    await a.apply(ch.InsertUser("y", "y", "y", "h", "Y", b"y" * 32, b"e", 100, 1))
    await a.apply(ch.VerifyIdentity("y", b"Q" * 32, b"x", b"y", 5, 99))
    assert await a.apply(_account("100000001", "u0", "Org A", subject="ab" * 32)) == [
        ch.OpenedAccount("ab" * 32, ID.hex(), 100, False)]
    await a.apply(_account("100000002", "u0", "Org C", subject="cd" * 32))
    with pytest.raises(ContractError) as err:
        await a.apply(_account("100000003", "u1", "Org E", subject="ef" * 32))
    assert (err.value.code, "organisation accounts" in err.value.reason) == ("create_cap_reached", True)
    await a.apply(_account("100000006", "u1", "Mine"))  # their own: a count of its own
    await a.apply(_account("100000004", "y", "Org A2", subject="ab" * 32))  # the organisation's second
    with pytest.raises(ContractError) as err:
        await a.apply(_account("100000005", "y", "Org A3", subject="ab" * 32))
    assert (err.value.code, "organisation" in err.value.reason) == ("create_cap_reached", True)
    state = await a.load_state(10, 7)
    assert {aid: (x.subject_key, x.opener_key) for aid, x in state.accounts.items()} == {
        "100000001": ("ab" * 32, ID.hex()), "100000002": ("cd" * 32, ID.hex()),
        "100000006": (ID.hex(), ID.hex()), "100000004": ("ab" * 32, (b"Q" * 32).hex())}

    await a.apply(ch.InsertUser("z", "z", "z", "h", "Z", b"z" * 32, b"e", 100, 1))
    await a.apply(ch.VerifyIdentity("z", b"R" * 32, b"x", b"y", 5, 99))
    b = await open_store() if "Postgres" in type(a).__name__ else a
    creates = [(a if i % 2 else b).apply(_account(f"20000000{i}", "z", f"Race {i}", subject=f"{i:02d}" * 32))
               for i in range(6)]
    results = await asyncio.gather(*creates, return_exceptions=True)
    assert sum(isinstance(r, list) for r in results) == 2, results
    assert {r.code for r in results if not isinstance(r, list)} == {"create_cap_reached"}


async def test_a_new_account_starts_no_better_than_its_subjects_worst(open_store):
    """Closing an account whose credit the platform lowered, or whose comments it restricted, and
    opening another shed both: the new one started at the initial credit, comments open. It starts
    with the subject's lowest score and any restriction of theirs now; another subject is untouched,
    and a lifted restriction is not carried."""
    store = await open_store()
    await _people(store, 1)
    await store.apply(ch.InsertUser("y", "y", "y", "h", "Y", b"y" * 32, b"e", 100, 1))
    await store.apply(ch.VerifyIdentity("y", b"Q" * 32, b"x", b"y", 5, 99))
    await store.apply(_account("100000001", "u0", "First", cap=1))
    await store.apply(ch.SetAccountFields("100000001", {"credit_score": 35, "comments_restricted": True}),
                      ch.SetAccountFields("100000001", {"closed_at": 5, "closed_reason": "owner"}))
    assert await store.apply(_account("100000002", "u0", "Second", cap=1)) == [
        ch.OpenedAccount(ID.hex(), ID.hex(), 35, True)]
    state = await store.load_state(10, 7)
    assert (state.accounts["100000002"].credit_score, state.accounts["100000002"].comments_restricted) == (35, True)
    # Another subject (another person, an organisation another person opens for) starts afresh; an
    # organisation's account the first person opens starts no better than their own (a code is
    # checked for its form only: typing a new one sheds nothing).
    [other] = await store.apply(_account("100000003", "y", "Theirs"))
    [org] = await store.apply(_account("100000004", "u0", "Org", subject="ab" * 32))
    [theirs] = await store.apply(_account("100000006", "y", "Org Two", subject="cd" * 32))
    assert (other.credit_score, other.comments_restricted, theirs.credit_score, theirs.comments_restricted) == (
        100, False, 100, False)
    assert (org.credit_score, org.comments_restricted) == (35, True)
    # Lifted on every account of theirs (the organisation's one they opened too, which carried it): the
    # next one opens with comments, at the lowest score still.
    for aid in ("100000001", "100000002", "100000004"):
        await store.apply(ch.SetAccountFields(aid, {"comments_restricted": False}))
    await store.apply(ch.SetAccountFields("100000002", {"closed_at": 6, "closed_reason": "owner"}))
    [third] = await store.apply(_account("100000005", "u0", "Third", cap=1))
    assert (third.credit_score, third.comments_restricted) == (35, False)


def _suspension(aid: str, until: int, cause: str | None = None) -> ch.AddSanction:
    return ch.AddSanction("suspend_account", "account", aid, "违规", "op", 0, until, cause=cause)


async def test_a_new_account_carries_its_subjects_standing_suspensions(open_store):
    """P13: a suspended owner under the cap opened another account and published on it at once. A new
    account carries each standing suspension of its subject's accounts, open or closed: the sanction,
    its account and its end, so that a lift of that sanction ends it there and a later one is not
    carried (memory: ``Account.carried``, ``State.carried_by``). A lifted or ended one is not carried,
    nor one a category's freeze took (``cause``), nor another subject's."""
    store = await open_store()
    await _people(store, 1)
    await store.apply(ch.InsertUser("y", "y", "y", "h", "Y", b"y" * 32, b"e", 100, 1))
    await store.apply(ch.VerifyIdentity("y", b"Q" * 32, b"x", b"y", 5, 99))
    await store.apply(_account("100000001", "u0", "First", cap=5), _account("100000002", "u0", "Second", cap=5))
    [short] = await store.apply(_suspension("100000001", 5_000))
    [longer, other] = await store.apply(_suspension("100000002", 9_000), _suspension("100000002", 7_000))
    [frozen] = await store.apply(_suspension("100000001", 20_000, cause="freeze"))
    await store.apply(ch.SetAccountFields("100000002", {"suspended_until": 9_000}),
                      ch.SetAccountFields("100000001", {"suspended_until": 20_000}),
                      ch.SetAccountFields("100000002", {"closed_at": 1, "closed_reason": "owner"}))
    [third] = await store.apply(_account("100000003", "u0", "Third", cap=5))
    assert third.carried == ((short, "100000001", 5_000), (longer, "100000002", 9_000), (other, "100000002", 7_000))
    [theirs] = await store.apply(_account("100000004", "y", "Theirs"))  # another person's: nothing
    assert theirs.carried == ()

    # Lifted, or ended by the time the account opens: not carried.
    await store.apply(ch.LiftSanction(short, 2, "op", "已核实"))
    [fourth] = await store.apply(_account("100000005", "u0", "Fourth", cap=5))
    assert [sid for sid, _, _ in fourth.carried] == [longer, other]
    later = ch.InsertAccount("100000006", "Fifth", "fifth", "culture", "", "individual", None, None, None, "u0", 100,
                             9_000, 9)
    assert (await store.apply(later))[0].carried == ()

    state = await store.load_state(10, 7)  # what memory makes of it, after a restart: lifted ones dropped
    carrying = state.accounts["100000003"]
    assert carrying.carried == {longer: ("100000002", 9_000), other: ("100000002", 7_000)}
    assert (carrying.suspension_end(), carrying.status(1)) == (9_000, "suspended")
    assert state.carried_by[longer] == {"100000003", "100000005"}
    assert {a.account_id for a in state.carried_lifted(longer)} == {"100000003", "100000005"}
    assert carrying.suspension_end() == 7_000  # the other one still stands
    state.carried_lifted(other)
    assert (carrying.suspension_end(), carrying.status(1)) == (0, "active")


async def test_a_create_waits_for_a_measure_on_its_subject_in_flight_and_starts_with_it(tmp_path):
    """Two writers (two nodes) on PostgreSQL: a measure lowering the credit of one of the subject's
    accounts, not yet committed when a new account of that subject is created, is carried to it. The
    create reads the subject's accounts locked, so it waits for the measure's commit; before, it read
    the score the measure was changing and started the new account at it. (SQLite has one writer:
    there a measure and a create never overlap.)"""
    if pgtools.unavailable() is not None:
        pytest.skip(str(pgtools.unavailable()))
    import asyncpg

    from server.storage.postgres import PostgresStore

    name, url = await asyncio.to_thread(pgtools.create_db)
    store = PostgresStore(url)
    await store.open()
    try:
        await _create_after_a_measure_in_flight(store, asyncpg)
    finally:
        await store.close()
        await asyncio.to_thread(pgtools.drop_db, name)


async def _create_after_a_measure_in_flight(store, asyncpg) -> None:
    store.set_record_key(b"k" * 32)
    await _people(store, 1)
    await store.apply(_account("100000001", "u0", "First", cap=2))
    measure = await asyncpg.connect(store.url)  # another node's writer, in the middle of its batch
    try:
        async with measure.transaction():
            await measure.execute("UPDATE accounts SET credit_score = credit_score - 40,"
                                  " comments_restricted = 1 WHERE account_id = '100000001'")
            create = asyncio.ensure_future(store.apply(_account("100000002", "u0", "Second", cap=2)))
            await asyncio.sleep(0.5)
            assert not create.done(), "the create read the subject's standing past an uncommitted measure"
        [opened] = await asyncio.wait_for(create, 10)
    finally:
        await measure.close()
    assert (opened.credit_score, opened.comments_restricted) == (60, True)
    state = await store.load_state(10, 7)
    assert (state.accounts["100000002"].credit_score, state.accounts["100000002"].comments_restricted) == (60, True)


async def test_names_barred_subjects_and_verification(open_store):
    store = await open_store()
    await _people(store, 2)
    await store.apply(ch.InsertUser("x", "x", "x", "h", "X", b"x" * 32, b"e", 100, 1))
    with pytest.raises(ContractError) as err:
        await store.apply(_account("100000009", "x", "Unverified"))
    assert err.value.code == "verification_required"
    await store.apply(_account("100000001", "u0", "Tea"))
    with pytest.raises(ContractError) as err:
        await store.apply(_account("100000002", "u1", "TEA"))
    assert err.value.code == "conflict"
    with pytest.raises(ch.AccountIdTaken):
        await store.apply(_account("100000001", "u1", "Other"))
    # a barred organisation, or a barred person acting for it, is refused (before any cap)
    await store.apply(_account("100000003", "u0", "Org A", subject="ab" * 32))
    await store.apply(ch.BarSubject("ab" * 32, "fraud", 5))
    with pytest.raises(ContractError) as err:
        await store.apply(_account("100000004", "u1", "Org B", subject="ab" * 32))
    assert err.value.code == "blacklisted"
    await store.apply(_account("100000004", "u1", "Person B"))  # their own second: Org A counts apart
    with pytest.raises(ContractError) as err:  # their own: Tea and Person B
        await store.apply(_account("100000006", "u1", "Person C"))
    assert err.value.code == "create_cap_reached"
    await store.apply(ch.BarSubject(ID.hex(), "fraud", 6))
    with pytest.raises(ContractError) as err:
        await store.apply(_account("100000005", "u1", "Org C", subject="cd" * 32))
    assert err.value.code == "blacklisted"
    state = await store.load_state(10, 7)
    assert set(state.accounts) == {"100000001", "100000003", "100000004"}
    assert state.account_names == {"tea": "100000001", "org a": "100000003", "person b": "100000004"}
    assert state.barred_subjects == {"ab" * 32, ID.hex()}
    assert state.users["u0"].managed == {"100000001", "100000003"}


async def test_a_name_that_reads_as_another_accounts_is_taken(open_store):
    """An account's name holds its lookalike readings (letters of other scripts read as the Latin ones
    they pass for) in the database, beside its plain key: an insert, a rename (``SetAccountFields``)
    and the platform's compare-and-set (``SetShownText``) to a name that reads as another account's are
    ``conflict``; restating a name keeps what it holds, and a rename frees the old name's readings."""
    store = await open_store()
    await _people(store, 1)
    await store.apply(_account("100000001", "u0", "Apple", cap=9))
    for name in ("\u0410pple", "\u0391\u03a1\u03a1LE", "AppIe", "App\u04cfe"):  # Cyrillic А, Greek, Latin I, palochka
        with pytest.raises(ContractError) as err:
            await store.apply(_account("100000002", "u0", name, cap=9))
        assert (err.value.code, err.value.reason) == ("conflict", READING_TAKEN), ascii(name)
    await store.apply(_account("100000002", "u0", "Appie", cap=9))  # another name (reads as appie alone)
    with pytest.raises(ContractError) as err:  # reads as both
        await store.apply(_account("100000003", "u0", "APPIE!", cap=9), _account("100000004", "u0", "AppIe", cap=9))
    assert err.value.code == "conflict"
    with pytest.raises(ContractError) as err:
        await store.apply(ch.SetAccountFields("100000002", {"name": "\u0410PPLE", "name_key": "\u0430pple"}))
    assert (err.value.code, err.value.reason) == ("conflict", READING_TAKEN)
    with pytest.raises(ContractError) as err:
        await store.apply(ch.SetShownText("account_name", "100000002", "AppIe", "Appie", name_key="appie!"))
    assert (err.value.code, err.value.reason) == ("conflict", READING_TAKEN)
    await store.apply(ch.SetAccountFields("100000002", {"name": "Appie", "intro": "restated"}))
    # Apple renamed: what it read as is free for the next account, and it holds the new name's reading
    await store.apply(ch.SetAccountFields("100000001", {"name": "Pear", "name_key": "pear"}))
    await store.apply(_account("100000005", "u0", "\u0410pple", cap=9))
    with pytest.raises(ContractError):
        await store.apply(ch.SetShownText("account_name", "100000002", "\u0420ear", "Appie", name_key="\u0440ear"))
    await store.apply(ch.SetShownText("account_name", "100000002", "公众号 100000002", "Appie",
                                      name_key="公众号 100000002"))  # (the stand-in a removal leaves)
    state = await store.load_state(10, 7)
    assert state.account_readings == {"pear": "100000001", "apple": "100000005", "公众号100000002": "100000002"}
    assert {aid: a.name for aid, a in state.accounts.items()} == {
        "100000001": "Pear", "100000002": "公众号 100000002", "100000005": "\u0410pple"}


async def test_two_writers_naming_accounts_alike_at_once_open_one(open_store):
    """``Tesla`` and ``Теsla`` (Cyrillic Т е) created at once, on PostgreSQL by two writers sharing the
    database as two nodes would: the database's key on the readings lets one through."""
    a = await open_store()
    await _people(a, 2)
    b = await open_store() if "Postgres" in type(a).__name__ else a
    for round_, names in enumerate((("Tesla", "\u0422\u0435sla"), ("Opel", "\u039fpel"), ("Kia", "\u041a\u0456a"))):
        results = await asyncio.gather(*(w.apply(_account(f"1000000{round_}{i}", f"u{i}", n, cap=9))
                                         for i, (w, n) in enumerate(zip((a, b), names, strict=True))),
                                       return_exceptions=True)
        assert sum(isinstance(r, list) for r in results) == 1, results
        assert [r.code for r in results if isinstance(r, ContractError)] == ["conflict"]


async def test_a_blacklisted_user_account_bars_the_person(open_store):
    store = await open_store()
    await _people(store, 2)
    await store.apply(ch.SetUserFields("u0", {"blacklisted_at": 5}))
    with pytest.raises(ContractError) as err:  # u1 is the same verified person
        await store.apply(_account("100000001", "u1", "Tea"))
    assert err.value.code == "blacklisted"


async def test_posts_reads_comments_and_moderation(open_store):
    store = await open_store()
    await _people(store, 1)
    await store.apply(_account("100000001", "u0", "Tea"))
    await store.apply(ch.SetEditor("100000001", "u0", True, 2), ch.SetSubscription("100000001", "u0", True, 2))
    [p1] = await store.apply(ch.InsertPost("100000001", "u0", "one", "b", "[]", ("m1", "m2"), "open", 10, 0))
    [p2] = await store.apply(ch.InsertPost("100000001", "u0", "two", "b", "[]", (), "review", 11, 1))
    assert p2 > p1
    assert await store.apply(ch.ReadPost(p1, "u0", 12), ch.ReadPost(p1, "u0", 13)) == [True, False]
    [c1] = await store.apply(ch.InsertComment(p1, "u0", "hi", None, 14, "visible", None))
    [c2] = await store.apply(ch.InsertComment(p1, "u9", "wait", c1, 15, "held", "rumour"))
    public = await store.account_posts("100000001", None, 10, include_held=False)
    assert [(r.post_id, r.reads, r.comment_count) for r in public] == [(p1, 1, 1)]
    assert [r.post_id for r in await store.account_posts("100000001", None, 10, include_held=True)] == [p2, p1]
    assert [r.comment_id for r in await store.post_comments(p1, None, 10, "u1", False)] == [c1]
    assert [r.comment_id for r in await store.post_comments(p1, None, 10, "u9", False)] == [c2, c1]
    with pytest.raises(ContractError) as err:  # the platform's review comes first
        await store.apply(ch.ModerateComment(c2, "visible", "u0", 16))
    assert err.value.code == "forbidden"
    await store.apply(ch.ModerateComment(c1, "deleted", "u0", 17))
    with pytest.raises(ContractError) as err:
        await store.apply(ch.ModerateComment(c1, "visible", "u0", 18))
    assert err.value.code == "not_found"
    await store.apply(ch.DeletePost(p1, 19, "u0"))
    with pytest.raises(ContractError):
        await store.apply(ch.DeletePost(p1, 20, "u0"))
    assert (await store.post(p1)).gone and await store.account_posts("100000001", None, 10, False) == []
    state = await store.load_state(30, 7)
    a = state.accounts["100000001"]
    assert (a.editors, a.subscribers, a.last_post_at) == ({"u0"}, {"u0"}, 11)
    assert state.users["u0"].subscriptions == {"100000001"}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_the_upgrade_records_who_opened_the_accounts_already_there(kind, tmp_path):
    """Accounts stored before ``opener_key`` existed (SQLite 16, PostgreSQL 10) get their owner's
    person key, so the organisation accounts a person opened before the upgrade count for them."""
    import sqlite3

    from server.storage import postgres_schema, schema

    name = url = None
    if kind == "postgresql":
        if pgtools.unavailable() is not None:
            pytest.skip(str(pgtools.unavailable()))
        name, url = await asyncio.to_thread(pgtools.create_db)

    async def open_at(upgraded: bool):
        if kind == "sqlite":
            from server.storage import sqlite as mod

            store, full, first = SqliteStore(tmp_path / "q.db"), schema.MIGRATIONS, 16
        else:
            from server.storage import postgres as mod  # type: ignore[no-redef]
            from server.storage.postgres import PostgresStore

            store, full, first = PostgresStore(url), postgres_schema.MIGRATIONS, 10
        mod.MIGRATIONS = [m for m in full if upgraded or m[0] < first]  # type: ignore[attr-defined]
        try:
            await store.open()
        finally:
            mod.MIGRATIONS = full  # type: ignore[attr-defined]
        store.set_record_key(b"k" * 32)
        return store

    def sql(statement: str, *params) -> None:
        if url is not None:
            pgtools.query(url, statement, *params)
            return
        con = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
        try:
            con.execute(statement, params)
        finally:
            con.close()

    store = await open_at(upgraded=False)
    try:
        await _people(store, 1)
        for aid, subject, kind_ in (("100000001", ID.hex(), "individual"), ("100000002", "ab" * 32, "organization"),
                                    ("100000004", "ef" * 32, "organization")):
            sql("INSERT INTO accounts (account_id, name, name_key, category, intro, subject_type, subject_key,"
                " owner_id, credit_score, created_at) VALUES (?, ?, ?, 'culture', '', ?, ?, 'u0', 100, 1)",
                aid, f"Old {aid}", f"old {aid}", kind_, subject)
        await store.close()
        store = await open_at(upgraded=True)
        state = await store.load_state(10, 7)
        assert {aid: a.opener_key for aid, a in state.accounts.items()} == {
            "100000001": ID.hex(), "100000002": ID.hex(), "100000004": ID.hex()}
        with pytest.raises(ContractError) as err:  # the person opened two organisation accounts already
            await store.apply(_account("100000003", "u0", "New Org", subject="cd" * 32))
        assert err.value.code == "create_cap_reached"
    finally:
        await store.close()
        if name is not None:
            await asyncio.to_thread(pgtools.drop_db, name)


async def test_a_comment_on_a_post_gone_since_it_was_read_is_refused_alone(open_store):
    """``comment`` reads the post, may await again (the comment it replies to), then writes: a deletion
    or a removal committed in between must refuse the comment, not store it on a gone post."""
    store = await open_store()
    await _people(store, 1)
    await store.apply(_account("100000001", "u0", "Tea"))
    posts = [int((await store.apply(ch.InsertPost("100000001", "u0", f"t{i}", "b", "[]", (), "open", 10, 0)))[0])
             for i in range(3)]
    deleted, removed, kept = posts
    await store.apply(ch.DeletePost(deleted, 20, "u0"))
    await store.apply(ch.RemovePost(removed, 20, "spam"))
    for post_id in (deleted, removed):
        with pytest.raises(ContractError) as err:
            await store.apply(ch.InsertComment(post_id, "u0", "late", None, 30, "visible", None))
        assert err.value.code == "not_found"
    # in one batch with others, the refused comment fails alone
    results = await asyncio.gather(
        store.apply(ch.InsertComment(kept, "u0", "fine", None, 30, "visible", None)),
        store.apply(ch.InsertComment(deleted, "u0", "late", None, 30, "visible", None)),
        store.apply(ch.InsertComment(kept, "u0", "also fine", None, 31, "held", "ads", "buy")),
        return_exceptions=True)
    assert isinstance(results[1], ContractError) and results[1].code == "not_found"
    assert [len(r) for r in (results[0], results[2])] == [1, 1]
    assert [c.text for c in await store.post_comments(kept, None, 10, "u0", True)] == ["also fine", "fine"]
    assert await store.post_comments(deleted, None, 10, "u0", True) == []


async def test_a_reply_to_a_comment_hidden_since_it_was_read_is_refused(open_store):
    """``comment`` checks the parent from its read; the insert checks it again, so a reply never
    names a comment its author no longer sees (hidden or deleted by the managers, rejected)."""
    store = await open_store()
    await _people(store, 1)
    await store.apply(_account("100000001", "u0", "Tea"))
    [p1] = await store.apply(ch.InsertPost("100000001", "u0", "one", "b", "[]", (), "open", 10, 0))
    [c1] = await store.apply(ch.InsertComment(p1, "u0", "hi", None, 11, "visible", None))
    [mine] = await store.apply(ch.InsertComment(p1, "u9", "mine, held", None, 12, "held", None))
    assert await store.apply(ch.InsertComment(p1, "u9", "to mine", mine, 13, "visible", None))  # their own held one
    await store.apply(ch.ModerateComment(c1, "hidden", "u0", 14))
    for parent, replier in ((c1, "u9"), (mine, "u8")):  # hidden since; someone else's held one
        with pytest.raises(ContractError) as err:
            await store.apply(ch.InsertComment(p1, replier, "late reply", parent, 15, "visible", None))
        assert err.value.code == "not_found"
    assert [r.comment_id for r in await store.post_comments(p1, None, 10, "u0", True)] == sorted(
        [c1, mine, mine + 1], reverse=True)


async def test_editors_set_by_two_writers_at_once_stop_at_the_cap(open_store):
    """``SetEditor`` with ``max_editors`` counts the account's editors in its transaction (on
    PostgreSQL under a lock on the account, two writers at once): memory can count one too few
    while an editor's refused cancellation puts them back."""
    a = await open_store()
    await _people(a, 7)
    b = await open_store() if "Postgres" in type(a).__name__ else a
    await a.apply(_account("100000001", "u0", "Tea"))
    await a.apply(ch.SetEditor("100000001", "u1", True, 2, max_editors=3))
    ups = [(a if i % 2 else b).apply(ch.SetEditor("100000001", f"u{i}", True, 3, max_editors=3)) for i in range(2, 7)]
    results = await asyncio.gather(*ups, return_exceptions=True)
    assert sum(isinstance(r, list) for r in results) == 2
    assert {r.code for r in results if not isinstance(r, list)} == {"conflict"}
    state = await a.load_state(10, 7)
    assert len(state.accounts["100000001"].editors) == 3
    [editor] = sorted(state.accounts["100000001"].editors)[:1]
    await a.apply(ch.SetEditor("100000001", editor, True, 4, max_editors=3))  # one of the three already


async def test_accounts_closed_refuses_while_one_of_them_is_live(open_store):
    """A blacklisting's check that the accounts it passed over (memory showed them closed) are closed
    in the store too: ``conflict`` while one is live, nothing once all are closed."""
    store = await open_store()
    await _people(store, 1)
    await store.apply(_account("100000001", "u0", "One"))
    await store.apply(_account("100000002", "u0", "Two"))
    await store.apply(ch.SetAccountFields("100000001", {"closed_at": 5, "closed_reason": "x"}))
    with pytest.raises(ContractError) as refused:
        await store.apply(ch.AccountsClosed(("100000001", "100000002")))
    assert refused.value.code == "conflict"
    await store.apply(ch.AccountsClosed(("100000001",)))
    await store.apply(ch.SetAccountFields("100000002", {"closed_at": 6, "closed_reason": "x"}))
    await store.apply(ch.AccountsClosed(("100000001", "100000002")))


@pytest.fixture(params=["sqlite", "postgresql"])
async def before_carrying(request: pytest.FixtureRequest, tmp_path):
    """A database at the schema before carried suspensions (SQLite 34, PostgreSQL 31)."""
    from tests.server.upgrade_backend import backend

    async for opened in backend(request, tmp_path, (34, 31)):
        yield opened


async def test_the_upgrade_marks_the_freezes_sanctions_taken_before_it(before_carrying) -> None:
    """A freeze's sanctions taken before ``sanctions.cause`` existed would be carried into a new
    account of the subject in another category (a reviewer of the upgrade): the upgrade marks those
    of each freeze (named with their category in the record) and of the freeze upkeep (by
    ``system``), not a measure on the account itself."""
    db = before_carrying
    store = await db.open(upgraded=False)
    await store.close()
    db.stores.remove(store)
    rows = [("suspend_account", "100000001", "op"), ("suspend_account", "100000001", "op"),
            ("suspend_account", "100000002", "system"), ("suspend_group", "5000000001", "op")]
    for kind, target, actor in rows:
        db.sql("INSERT INTO sanctions (kind, target_type, target_id, reason, actor, starts_at, expires_at)"
               " VALUES (?, ?, ?, 'r', ?, 1, 99999999999999)",
               kind, "group" if kind == "suspend_group" else "account", target, actor)
    [(first,), (frozen,), _, (group,)] = db.sql("SELECT id FROM sanctions ORDER BY id")
    for n, (action, detail) in enumerate((("suspend_account", f'{{"seconds": 60, "sanction_id": {first}}}'),
                                          ("suspend_account", f'{{"category": "news", "sanction_id": {frozen}}}'),
                                          ("suspend_group", f'{{"category": "news", "sanction_id": {group}}}')), 1):
        db.sql("INSERT INTO audit (id, ts, actor_type, action, detail, prev_hash, hash) VALUES (?, 1, 'operator',"
               " ?, ?, '', '')", n, action, detail)
    await db.open(upgraded=True)
    assert db.sql("SELECT actor, cause FROM sanctions ORDER BY id") == [
        ("op", None), ("op", "freeze"), ("system", "freeze"), ("op", "freeze")]


@pytest.fixture(params=["sqlite", "postgresql"])
async def before_withdrawing(request: pytest.FixtureRequest, tmp_path):
    """A database at the schema before a held post's deletion settled its review item (SQLite 35,
    PostgreSQL 32)."""
    from tests.server.upgrade_backend import backend

    async for opened in backend(request, tmp_path, (35, 32)):
        yield opened


async def test_the_upgrade_settles_the_review_items_of_held_posts_deleted_before_it(before_withdrawing) -> None:
    """Held posts their account deleted before the deletion settled their item kept it open, and a
    rejection then charged the author for a post nobody saw (a diff reviewer): the upgrade settles
    them, as ``withdrawn``, and leaves the item of a post still held open."""
    db = before_withdrawing
    store = await db.open(upgraded=False)
    await _people(store, 1)
    account_before_upgrade(store, name="One")  # (today's InsertAccount holds readings it has no table for)
    [gone] = await store.apply(ch.InsertPost("100000001", "u0", "gone", "b", "[]", (), "open", 10, 1, "rumour", "x"))
    [waiting] = await store.apply(ch.InsertPost("100000001", "u0", "wait", "b", "[]", (), "open", 11, 1, "rumour", "x"))
    await store.close()
    db.stores.remove(store)
    db.sql("UPDATE posts SET deleted_at = 20, deleted_by = 'u0' WHERE post_id = ?", gone)  # as the old deletion did
    await db.open(upgraded=True)
    assert db.sql("SELECT post_id, status, decision, decided_at FROM review_queue ORDER BY post_id") == [
        (gone, "decided", "withdrawn", 20), (waiting, "open", None, None)]


async def test_deleting_a_held_post_takes_the_locks_in_a_decisions_order(open_store) -> None:
    """The diff review's deadlock: the deletion locked the post, then its review item, while a
    decision (DecideReview, then DecideHeldPost) locks the item, then the post. Here another
    connection plays the decision: it holds the item, the deletion starts, then it takes the post."""
    store = await open_store()
    if "Postgres" not in type(store).__name__:
        pytest.skip("one writer on SQLite: no two transactions hold locks at once")
    import asyncpg

    await _people(store, 1)
    await store.apply(_account("100000001", "u0", "One"))
    [post] = await store.apply(ch.InsertPost("100000001", "u0", "p", "b", "[]", (), "open", 10, 1, "rumour", "x"))
    decision = await asyncpg.connect(store.url)
    try:
        tx = decision.transaction()
        await tx.start()
        await decision.execute("UPDATE review_queue SET note = 'deciding' WHERE post_id = $1", post)
        deleting = asyncio.ensure_future(store.apply(ch.DeletePost(post, 20, "u0")))
        await asyncio.sleep(0.3)  # the deletion waits for the item (in the wrong order: holding the post)
        await decision.execute("UPDATE posts SET held = 0 WHERE post_id = $1", post)  # a release, as decide's
        await decision.execute("UPDATE review_queue SET status = 'decided', decision = 'release'"
                               " WHERE post_id = $1", post)
        await tx.commit()
    finally:
        await decision.close()
    await deleting  # deleted after the release: no deadlock, and nothing left to withdraw
    assert (await store.post(post)).gone
    assert pgtools.query(store.url, "SELECT status, decision FROM review_queue WHERE post_id = ?", post) == [
        ("decided", "release")]


async def test_two_writers_commenting_on_one_post_wait_for_each_other_without_deadlock(open_store) -> None:
    """The diff review's deadlock: a comment locked its post FOR SHARE, and the trigger that counts a
    visible comment (PostgreSQL 42) then updates the post's row; two writers each holding SHARE on it
    waited for each other. The post is locked strongly enough at once: the second writer waits."""
    first = await open_store()
    if "Postgres" not in type(first).__name__:
        pytest.skip("one writer on SQLite: no two transactions hold locks at once")
    from server.storage.postgres_changes import apply_change

    second = await open_store()  # (another node's writer on the same database)
    await _people(first, 2)
    await first.apply(_account("100000001", "u0", "One"))
    [post] = await first.apply(ch.InsertPost("100000001", "u0", "p", "b", "[]", (), "open", 10, 0, None, ""))
    began = asyncio.Event()

    async def held_then_visible(db) -> None:
        await apply_change(db, ch.InsertComment(post, "u1", "held", None, 11, "held", None))
        began.set()
        await asyncio.sleep(0.3)  # (the other writer's comment comes meanwhile)
        await apply_change(db, ch.InsertComment(post, "u1", "shown", None, 12, "visible", None))

    one = first.run_in_batch(held_then_visible)
    await began.wait()
    other = asyncio.ensure_future(second.apply(ch.InsertComment(post, "u0", "also shown", None, 13, "visible", None)))
    await asyncio.wait_for(asyncio.gather(one, other), 10)  # (FOR SHARE: DeadlockDetectedError on one)
    assert pgtools.query(first.url, "SELECT visible_comments FROM posts WHERE post_id = ?", post) == [(2,)]


@pytest.fixture(params=["sqlite", "postgresql"])
async def before_readings(request: pytest.FixtureRequest, tmp_path):
    """A database at the schema before the names' lookalike readings were kept (SQLite 59, PostgreSQL 57)."""
    from tests.server.upgrade_backend import backend

    async for opened in backend(request, tmp_path, (59, 57)):
        yield opened


async def test_the_upgrade_gives_each_reading_to_the_oldest_account_and_keeps_every_name(before_readings) -> None:
    """Accounts already named alike when the readings came (``Apple``, then ``Аpple`` with a Cyrillic А,
    then ``AppIe`` with a capital I) do not stop the upgrade: each reading goes to the oldest account
    whose name has it, every account keeps its name, and no new name can read as any of them. The
    later one keeps its own name when restated, and cannot be renamed to another form of the older's."""
    db = before_readings
    store = await db.open(upgraded=False)
    await _people(store, 1)
    await store.close()
    db.stores.remove(store)
    for aid, name, created in (("100000002", "\u0410pple", 2), ("100000001", "Apple", 1), ("100000003", "AppIe", 3),
                               ("100000004", "Pear", 4)):
        db.sql("INSERT INTO accounts (account_id, name, name_key, category, subject_type, subject_key, owner_id,"
               " credit_score, created_at, opener_key) VALUES (?, ?, ?, 'culture', 'individual', ?, 'u0', 100, ?, ?)",
               aid, name, name.lower(), ID.hex(), created, ID.hex())
    store = await db.open(upgraded=True)
    assert sorted(db.sql("SELECT reading, account_id FROM account_name_readings")) == [
        ("appie", "100000003"), ("apple", "100000001"), ("pear", "100000004")]
    state = await store.load_state(10, 7)
    assert {aid: a.name for aid, a in state.accounts.items()} == {
        "100000001": "Apple", "100000002": "\u0410pple", "100000003": "AppIe", "100000004": "Pear"}
    for name in ("\u0391pple", "App\u0456e", "App\u04cfe"):  # Greek Α; Cyrillic і, as the third; a palochka
        with pytest.raises(ContractError) as err:
            await store.apply(_account("100000005", "u0", name, cap=9))
        assert (err.value.code, err.value.reason) == ("conflict", READING_TAKEN), ascii(name)
    await store.apply(ch.SetAccountFields("100000002", {"name": "\u0410pple", "intro": "restated"}))
    with pytest.raises(ContractError) as err:
        await store.apply(ch.SetAccountFields("100000002", {"name": "\u0410PPLE"}))
    assert err.value.code == "conflict"
    await store.apply(ch.SetAccountFields("100000002", {"name": "Plum", "name_key": "plum"}))
    assert sorted(db.sql("SELECT reading, account_id FROM account_name_readings WHERE account_id = '100000002'")) == [
        ("plum", "100000002")]


def test_the_upgrade_fills_the_readings_oldest_first() -> None:
    assert first_readings([("1", "Apple"), ("2", "\u0410pple"), ("3", "AppIe"), ("4", "Appie")]) == [
        ("apple", "1"), ("appie", "3")]
