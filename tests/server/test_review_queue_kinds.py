"""One content-review queue for messages, posts and comments (issue 12), in the store on both backends:
the upgrade keeps the message items queued before it, held posts and comments are queued in the same
transaction that stores them, their decisions re-check their state, and open post items neither keep
messages from the retention purge nor lose their post to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from protocol.errors import ContractError
from server.storage import changes as ch
from tests.server.upgrade_backend import Backend, backend

OLD = 1_000  # long before the cutoff used below
NOW = 10**12


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Backend]:
    """Not upgraded: the schema before the one review queue (SQLite 15, PostgreSQL 9)."""
    async for opened in backend(request, tmp_path, (15, 9)):
        yield opened


async def _account(store: Any) -> None:
    await store.apply(ch.InsertUser("u0", "n0", "n0", "h", "N", b"\x00" * 32, b"e", 100, 1))
    await store.apply(ch.VerifyIdentity("u0", b"I" * 32, b"x", b"y", 5, 99))
    await store.apply(ch.InsertAccount("100000001", "Tea", "tea", "culture", "", "individual", None, None,
                                       None, "u0", 100, 1, 2))


async def _post(store: Any, held: int = 0, review: str | None = None, mode: str = "open") -> int:
    [post_id] = await store.apply(ch.InsertPost("100000001", "u0", "title", "body", "[]", (), mode, OLD, held,
                                                review, "term" if review else ""))
    return int(post_id)


async def test_the_upgrade_keeps_queued_message_items(db: Backend) -> None:
    store = await db.open(upgraded=False)
    db.sql("INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text) VALUES (?,?,?,?,?,?)",
           "800000001", 7, OLD, "u1", "member", "held text")
    db.sql("INSERT INTO review_queue (group_id, seq, sender_id, action, category, term, created_at)"
           " VALUES (?, ?, 'u1', 'review', 'fraud', 't', ?)", "800000001", 7, OLD)
    await store.close()
    db.stores.remove(store)
    store = await db.open()
    [item] = await store.review_items(open_only=True)
    assert item == {"item_id": item["item_id"], "kind": "message", "group_id": "800000001", "seq": 7,
                    "sender_id": "u1", "action": "review", "category": "fraud", "term": "t", "created_at": OLD,
                    "status": "open", "decision": None, "note": None, "decided_at": None, "text": "held text"}
    full = await store.review_item(item["item_id"])
    assert (full["ts"], full["sender_role"], full["post_id"]) == (OLD, "member", None)


async def test_held_posts_and_comments_are_queued_and_decided_once(db: Backend) -> None:
    store = await db.open()
    await _account(store)
    plain = await _post(store)
    held = await _post(store, held=1, review="rumour")
    [c_open] = await store.apply(ch.InsertComment(plain, "u9", "hello", None, OLD, "held", "rumour", "集会"))
    review_mode = await _post(store, mode="review")
    [c_review] = await store.apply(ch.InsertComment(review_mode, "u9", "hi", None, OLD, "held", "rumour", "集会"))
    [c_mode_only] = await store.apply(ch.InsertComment(review_mode, "u9", "ok", None, OLD, "held", None))
    items = await store.review_items(open_only=True)
    assert [(i["kind"], i.get("post_id"), i.get("comment_id"), i["text"]) for i in items] == [
        ("post", held, None, "body"), ("comment", plain, c_open, "hello"), ("comment", review_mode, c_review, "hi")]
    assert items[0]["title"] == "title" and items[0]["account_id"] == "100000001" and "comment_id" not in items[0]
    assert items[1]["term"] == "集会" and items[1]["title"] == "title" and "group_id" not in items[1]
    assert c_mode_only not in [i.get("comment_id") for i in items]  # held by the post's mode: the account's to approve

    assert await store.apply(ch.DecideHeldPost(held, True, NOW, "fine")) == [True]
    with pytest.raises(ContractError) as err:
        await store.apply(ch.DecideHeldPost(held, False, NOW, "again"))
    assert err.value.code == "conflict"
    assert (await store.post(held)).held == 0
    assert await store.apply(ch.DecideHeldComment(c_open, True, "op", NOW)) == ["visible"]
    assert await store.apply(ch.DecideHeldComment(c_review, True, "op", NOW)) == ["held"]  # the account approves next
    await store.apply(ch.ModerateComment(c_review, "visible", "u0", NOW))
    with pytest.raises(ContractError):
        await store.apply(ch.DecideHeldComment(c_review, False, "op", NOW))

    rejected = await _post(store, held=1, review="rumour")
    assert await store.apply(ch.DecideHeldPost(rejected, False, NOW, "rumour")) == [False]
    row = await store.post(rejected)
    assert (row.held, row.gone) == (2, True)
    assert rejected not in [p.post_id for p in await store.account_posts("100000001", None, 50, True)]
    [bad] = await store.apply(ch.InsertComment(plain, "u9", "x", None, OLD, "held", "rumour", "集会"))
    assert await store.apply(ch.DecideHeldComment(bad, False, "op", NOW)) == ["rejected"]
    with pytest.raises(ContractError) as err:
        await store.apply(ch.ModerateComment(bad, "visible", "u0", NOW))  # gone for the account too
    assert err.value.code == "not_found"
    seen = await store.post_comments(plain, None, 50, "u9", manager=True)
    assert bad not in [c.comment_id for c in seen]


async def test_open_post_items_keep_their_post_and_do_not_block_the_message_purge(db: Backend) -> None:
    store = await db.open()
    await _account(store)
    held = await _post(store, held=1, review="rumour")
    db.sql("INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text) VALUES (?,?,?,?,?,?)",
           "800000001", 1, OLD, "u1", "member", "old")
    [(gone, walked_on)] = await store.apply(ch.PurgeMessages(NOW, NOW - 1, 100))
    assert (gone, walked_on) == (1, None)
    [kept] = await store.apply(ch.Purge("posts", NOW, NOW - 1, 100))
    assert kept == 0 and await store.post(held) is not None
    [item] = await store.review_items(open_only=True)
    await store.apply(ch.DecideReview(item["item_id"], "reject", "x", OLD), ch.DecideHeldPost(held, False, OLD, "x"))
    [purged_items] = await store.apply(ch.Purge("review_queue", NOW, NOW - 1, 100))
    [purged_posts] = await store.apply(ch.Purge("posts", NOW, NOW - 1, 100))
    assert (purged_items, purged_posts) == (1, 1)



async def test_names_and_announcements_are_queued_with_their_text_and_decided_by_compare_and_set(db: Backend) -> None:
    """Items of kind group_name, announcement and display_name carry their own text (nothing else stores a
    held one) and the value the field must still show; SetShownText changes the field only then."""
    store = await db.open()
    await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "alice", b"\x01" * 32, b"e", 100, 1))
    await store.apply(ch.CreateGroup("500000001", "tea", "friends", "open", "u1", 1))
    await store.apply(ch.QueueShownText("group_name", "500000001", "u1", "review", "rumour", "t", "held name", "tea",
                                        OLD),
                      ch.QueueShownText("announcement", "500000001", "u1", "flag", "porn", "v", "vpn", "vpn", OLD),
                      ch.QueueShownText("display_name", None, "u1", "flag", "porn", "v", "vpn girl", "vpn girl", OLD))
    items = await store.review_items(open_only=True)
    assert [(i["kind"], i.get("group_id"), i.get("user_id"), i["text"]) for i in items] == [
        ("group_name", "500000001", None, "held name"), ("announcement", "500000001", None, "vpn"),
        ("display_name", None, "u1", "vpn girl")]
    assert {"seq", "post_id", "account_id", "expect_text"}.isdisjoint(items[0])
    full = await store.review_item(items[0]["item_id"])
    assert (full["expect_text"], full["ts"]) == ("tea", OLD)

    # the name is still "tea": released, it is applied; a second write over "tea" finds "held name"
    await store.apply(ch.DecideReview(items[0]["item_id"], "release", "ok", NOW),
                      ch.SetShownText("group_name", "500000001", "held name", "tea"))
    with pytest.raises(ContractError) as err:
        await store.apply(ch.DecideReview(items[1]["item_id"], "remove", "x", NOW),
                          ch.SetShownText("group_name", "500000001", "", "tea"))
    assert err.value.code == "conflict"
    assert [i["item_id"] for i in await store.review_items(open_only=True)][0] == items[1]["item_id"]  # undone
    assert db.sql("SELECT name FROM groups WHERE group_id = ?", "500000001") == [("held name",)]
    await store.apply(ch.SetShownText("display_name", "u1", "alice", "alice"))  # compare-and-set on users too
    with pytest.raises(ContractError):
        await store.apply(ch.SetShownText("display_name", "u1", "x", "vpn girl"))
    # a dissolved group's name is not changed any more
    await store.apply(ch.SetGroupFields("500000001", {"dissolved_at": 5}))
    with pytest.raises(ContractError):
        await store.apply(ch.SetShownText("group_name", "500000001", "x", "held name"))


async def test_an_accounts_name_and_intro_are_queued_with_the_account_and_set_with_the_name_key(db: Backend) -> None:
    """Items of kind account_name and account_intro name their account; SetShownText sets an account's
    name with its unique name_key, compare-and-set like the others, and refuses a key another account took."""
    store = await db.open()
    await _account(store)
    await store.apply(ch.InsertAccount("100000002", "Other", "other", "culture", "", "individual", None, None,
                                       None, "u0", 100, 1, 2))
    await store.apply(ch.QueueShownText("account_name", None, "u0", "review", "r", "t", "Held Name", "Tea", OLD,
                                        "100000001"),
                      ch.QueueShownText("account_intro", None, "u0", "review", "r", "t", "held intro", "", OLD,
                                        "100000001"))
    items = await store.review_items(open_only=True)
    assert [(i["kind"], i["account_id"], i["text"]) for i in items] == [
        ("account_name", "100000001", "Held Name"), ("account_intro", "100000001", "held intro")]
    assert {"group_id", "seq", "post_id", "comment_id", "title", "user_id"}.isdisjoint(items[0])
    assert [(h["kind"], h["account_id"]) for h in await store.held_texts_by("u0", None, 10)] == [
        ("account_intro", "100000001"), ("account_name", "100000001")]
    with pytest.raises(ContractError) as err:  # the name another account has
        await store.apply(ch.SetShownText("account_name", "100000001", "OTHER", "Tea", name_key="other"))
    assert err.value.code == "conflict"
    await store.apply(ch.SetShownText("account_name", "100000001", "Held Name", "Tea", name_key="heldname"),
                      ch.SetShownText("account_intro", "100000001", "held intro", ""))
    assert db.sql("SELECT name, name_key, intro FROM accounts WHERE account_id = ?", "100000001") == [
        ("Held Name", "heldname", "held intro")]
    with pytest.raises(ContractError):  # no longer "Tea"
        await store.apply(ch.SetShownText("account_name", "100000001", "x", "Tea", name_key="x"))
    await store.apply(ch.SetAccountFields("100000001", {"closed_at": 5}))
    with pytest.raises(ContractError):  # a closed account's name is not changed any more
        await store.apply(ch.SetShownText("account_intro", "100000001", "", "held intro"))


async def test_a_held_text_is_listed_for_its_author_alone_and_withdrawn_or_decided_once(db: Backend) -> None:
    """``held_texts_by`` lists one author's held (``review``) names, announcements and display names still
    open, newest first (not flagged ones, not someone else's); ``WithdrawHeldText`` closes one only while
    it is open and the author's, and a decision after it (or before it) is the one that counts."""
    store = await db.open()
    await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "alice", b"\x01" * 32, b"e", 100, 1))
    await store.apply(ch.InsertUser("u2", "bob", "bob", "h", "bob", b"\x02" * 32, b"f", 100, 1))
    await store.apply(ch.CreateGroup("500000002", "tea", "friends", "open", "u1", 1))
    await store.apply(ch.QueueShownText("group_name", "500000002", "u1", "review", "r", "t", "name one", "tea", 10),
                      ch.QueueShownText("announcement", "500000002", "u2", "review", "r", "t", "bob's", "", 11),
                      ch.QueueShownText("display_name", None, "u1", "flag", "r", "t", "shown", "shown", 12),
                      ch.QueueShownText("display_name", None, "u1", "review", "r", "t", "held nick", "alice", 13))
    mine = await store.held_texts_by("u1", None, 10)
    assert [(h["kind"], h["group_id"], h["text"], h["created_at"]) for h in mine] == [
        ("display_name", None, "held nick", 13), ("group_name", "500000002", "name one", 10)]
    assert [h["text"] for h in await store.held_texts_by("u1", mine[0]["item_id"], 10)] == ["name one"]
    assert [h["text"] for h in await store.held_texts_by("u1", None, 1)] == ["held nick"]
    [bobs] = await store.held_texts_by("u2", None, 10)
    flagged = [i for i in await store.review_items(open_only=True) if i["action"] == "flag"][0]
    nick, name = mine[0]["item_id"], mine[1]["item_id"]

    for item_id, who in ((bobs["item_id"], "u1"), (flagged["item_id"], "u1"), (999_999, "u1")):
        with pytest.raises(ContractError) as err:  # someone else's, not held, or none: the same answer
            await store.apply(ch.WithdrawHeldText(item_id, who, NOW))
        assert err.value.code == "not_found"
    await store.apply(ch.WithdrawHeldText(nick, "u1", NOW))
    with pytest.raises(ContractError) as err:  # a decision after the withdrawal changes nothing
        await store.apply(ch.DecideReview(nick, "release", "late", NOW),
                          ch.SetShownText("display_name", "u1", "held nick", "alice"))
    assert err.value.code == "conflict"
    assert db.sql("SELECT display_name FROM users WHERE user_id = ?", "u1") == [("alice",)]
    await store.apply(ch.DecideReview(name, "reject", "no", NOW))
    with pytest.raises(ContractError) as err:  # nor a withdrawal after the decision
        await store.apply(ch.WithdrawHeldText(name, "u1", NOW))
    assert err.value.code == "not_found"
    assert await store.held_texts_by("u1", None, 10) == []
    assert (await store.review_item(nick))["status"] == "withdrawn"
