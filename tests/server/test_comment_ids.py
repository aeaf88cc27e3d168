"""A public-account comment's id is never given to another comment. On SQLite ``comments.comment_id``
was an INTEGER PRIMARY KEY without AUTOINCREMENT: once the newest comment was purged, the next
comment took its id, and the rows still naming the old one (a decided review item, a resolved
report, the enforcement record) named the new one: the review item, left out of the review list
once its comment was purged, came back showing the new comment's text (schema 30 rebuilds the
table with AUTOINCREMENT; PostgreSQL's ids come from an identity sequence)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from server.storage import changes as ch
from tests.server.test_store_public_accounts import _account, _people
from tests.server.upgrade_backend import Backend, account_before_upgrade, backend

OLD, YOUNG = 10, 10**12  # comment times: the purge below (cutoff 13) takes the old ones only (their
# release or hide at 12 included: a comment is kept a period after either, as after its own time)


def _comment(post_id: int, text: str, ts: int, held: bool = False, reply_to: int | None = None) -> ch.InsertComment:
    if held:  # the word lists held it: queued for the platform's review in the same write
        return ch.InsertComment(post_id, "u1", text, reply_to, ts, "held", "rumour", "集会")
    return ch.InsertComment(post_id, "u1", text, reply_to, ts, "visible", None)


async def _post(store: Any, old: bool = False) -> int:
    """A post of an account of u0's (on a database at an ``old`` schema, the account written raw)."""
    await _people(store, 2)
    if old:
        account_before_upgrade(store)
    else:
        await store.apply(_account("100000001", "u0", "Tea"))
    [post_id] = await store.apply(ch.InsertPost("100000001", "u0", "p", "b", "[]", (), "open", YOUNG, 0))
    return int(post_id)


async def _review_decided(store: Any, comment_id: int) -> None:
    """The platform released the held comment ``comment_id``: its review item is decided (kept)."""
    [item] = [i for i in await store.review_items(open_only=True) if i.get("comment_id") == comment_id]
    await store.apply(ch.DecideReview(item["item_id"], "release", "ok", 12),
                      ch.DecideHeldComment(comment_id, True, "op", 12))


def _named(items: list[dict[str, Any]], comment_id: int) -> list[str]:
    return [i["text"] for i in items if i.get("comment_id") == comment_id]


async def test_a_purged_newest_comments_id_is_not_given_again(open_store: Any) -> None:
    store = await open_store()
    post_id = await _post(store)
    [kept] = await store.apply(_comment(post_id, "kept", YOUNG))
    [newest] = await store.apply(_comment(post_id, "newest", OLD, held=True))
    await _review_decided(store, newest)
    assert _named(await store.review_items(open_only=False), newest) == ["newest"]
    assert await store.apply(ch.Purge("comments", 14, 13, 1000)) == [1]  # the newest goes, its review item stays
    assert await store.comment(newest) is None
    assert _named(await store.review_items(open_only=False), newest) == []  # its content is gone: left out
    [fresh] = await store.apply(_comment(post_id, "fresh", YOUNG))
    assert fresh > newest > kept
    # The old review item still names nothing: it does not show the new comment as the one reviewed.
    assert _named(await store.review_items(open_only=False), newest) == []
    row = await store.comment(fresh)
    assert row is not None and row.text == "fresh"


@pytest.fixture
async def sqlite_db(tmp_path: Any) -> AsyncIterator[Backend]:
    """SQLite before schema 30 (PostgreSQL has nothing to upgrade: its ids were never reused)."""

    class Param:
        param = "sqlite"

    async for opened in backend(Param(), tmp_path, (30, 10**9)):  # type: ignore[arg-type]
        yield opened


async def test_the_upgrade_keeps_every_comment_and_never_gives_an_id_purged_before_it(sqlite_db: Backend) -> None:
    """Schema 30 keeps each comment with its id, status and indexes, and starts new ids above every
    id a row still names, also that of a newest comment purged before the upgrade."""
    store = await sqlite_db.open(upgraded=False)
    post_id = await _post(store, old=True)
    [kept] = await store.apply(_comment(post_id, "kept", YOUNG))
    [reply] = await store.apply(_comment(post_id, "reply", YOUNG, reply_to=kept))
    await store.apply(ch.ModerateComment(reply, "hidden", "u0", YOUNG + 1))
    [newest] = await store.apply(_comment(post_id, "newest", OLD, held=True))
    await _review_decided(store, newest)
    assert await store.apply(ch.Purge("comments", 14, 13, 1000)) == [1]
    await store.close()
    sqlite_db.stores.remove(store)
    before = sqlite_db.sql("SELECT * FROM comments ORDER BY comment_id")
    store = await sqlite_db.open(upgraded=True)
    assert sqlite_db.sql("SELECT * FROM comments ORDER BY comment_id") == before
    [(sql,)] = sqlite_db.sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'comments'")
    assert "AUTOINCREMENT" in sql
    assert {r[0] for r in sqlite_db.sql("SELECT name FROM sqlite_master WHERE tbl_name = 'comments'"
                                         " AND type IN ('index', 'trigger')")} == {
        "comments_post", "comments_ts",  # (and, from schema 45, what counts each post's visible comments)
        "comments_visible_insert", "comments_visible_delete", "comments_visible_update"}
    [fresh] = await store.apply(_comment(post_id, "fresh", YOUNG, reply_to=kept))
    assert fresh > newest > reply
    assert _named(await store.review_items(open_only=False), newest) == []
    assert [(c.comment_id, c.status) for c in await store.post_comments(post_id, None, 10, "u0", True)] == [
        (fresh, "visible"), (reply, "hidden"), (kept, "visible")]


async def test_the_upgrade_starts_above_a_comment_id_only_the_record_names(sqlite_db: Backend) -> None:
    """A comment id the enforcement record alone still names (the newest comment, hidden by the
    account and purged before the upgrade): new comments start above it too."""
    store = await sqlite_db.open(upgraded=False)
    post_id = await _post(store, old=True)
    [kept] = await store.apply(_comment(post_id, "kept", YOUNG))
    [gone] = await store.apply(_comment(post_id, "gone", OLD))
    await store.apply(ch.ModerateComment(gone, "hidden", "u0", 12), audit=ch.Audit(
        12, "user", "u0", "moderate_comment", None, "100000001",
        detail={"post_id": str(post_id), "comment_id": str(gone), "action": "hide"}))
    assert await store.apply(ch.Purge("comments", 14, 13, 1000)) == [1]
    await store.close()
    sqlite_db.stores.remove(store)
    store = await sqlite_db.open(upgraded=True)
    [fresh] = await store.apply(_comment(post_id, "fresh", YOUNG))
    assert fresh > gone > kept
