"""A public-account post's id is never given to another post. On SQLite ``posts.post_id`` was an
INTEGER PRIMARY KEY without AUTOINCREMENT: once the newest post was purged (deleted by its account
or not), the next post took its id, and the read markers of the old post's readers, kept until the
read-log purge, counted as reads of the new one (schema 29 rebuilds the table with AUTOINCREMENT;
PostgreSQL's ids come from an identity sequence)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from server.storage import changes as ch
from tests.server.test_store_public_accounts import _account, _people
from tests.server.upgrade_backend import Backend, account_before_upgrade, backend

OLD, YOUNG = 10, 10**12  # post times: the purge below (cutoff 11) takes the old ones only


def _post(title: str, ts: int) -> ch.InsertPost:
    return ch.InsertPost("100000001", "u0", title, "b", "[]", (), "open", ts, 0)


@pytest.mark.parametrize("deleted_first", [False, True])
async def test_a_purged_newest_posts_id_is_not_given_again_nor_its_reads(open_store: Any, deleted_first: bool) -> None:
    store = await open_store()
    await _people(store, 2)
    await store.apply(_account("100000001", "u0", "Tea"))
    [kept] = await store.apply(_post("kept", YOUNG))
    [newest] = await store.apply(_post("newest", OLD))
    assert await store.apply(ch.ReadPost(newest, "u1", 12)) == [True]
    if deleted_first:
        await store.apply(ch.DeletePost(newest, 12, "u0"))
    assert await store.apply(ch.Purge("posts", 13, 11, 1000)) == [1]  # the newest goes, its read stays
    assert await store.post(newest) is None
    [fresh] = await store.apply(_post("fresh", YOUNG))
    assert fresh > newest > kept
    # The old reader has not read the new post: their read counts now, once.
    assert await store.apply(ch.ReadPost(fresh, "u1", 14), ch.ReadPost(fresh, "u1", 15)) == [True, False]
    row = await store.post(fresh)
    assert row is not None and (row.title, row.reads) == ("fresh", 1)


@pytest.fixture
async def sqlite_db(tmp_path: Any) -> AsyncIterator[Backend]:
    """SQLite before schema 29 (PostgreSQL has nothing to upgrade: its ids were never reused)."""

    class Param:
        param = "sqlite"

    async for opened in backend(Param(), tmp_path, (29, 10**9)):  # type: ignore[arg-type]
        yield opened


async def test_the_upgrade_keeps_every_post_and_never_gives_an_id_purged_before_it(sqlite_db: Backend) -> None:
    """Schema 29 keeps each post with its id, reads and indexes, and starts new ids above every id a
    row still names, also that of a newest post purged before the upgrade."""
    store = await sqlite_db.open(upgraded=False)
    await _people(store, 2)
    account_before_upgrade(store)
    [kept] = await store.apply(_post("kept", YOUNG))
    [newest] = await store.apply(_post("newest", OLD))
    await store.apply(ch.ReadPost(kept, "u1", 12), ch.ReadPost(newest, "u1", 12))
    assert await store.apply(ch.Purge("posts", 13, 11, 1000)) == [1]
    await store.close()
    sqlite_db.stores.remove(store)
    before = sqlite_db.sql("SELECT * FROM posts ORDER BY post_id")
    store = await sqlite_db.open(upgraded=True)
    after = sqlite_db.sql("SELECT * FROM posts ORDER BY post_id")
    assert [row[:len(before[0])] for row in after] == before  # (a later schema adds columns: 45's count)
    [(sql,)] = sqlite_db.sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'posts'")
    assert "AUTOINCREMENT" in sql
    assert {r[0] for r in sqlite_db.sql("SELECT name FROM sqlite_master WHERE tbl_name = 'posts'"
                                         " AND type IN ('index', 'trigger')")} == {
        "posts_account", "posts_ts", "post_media_with_post", "gone_posts_note"}
    [fresh] = await store.apply(_post("fresh", YOUNG))
    assert fresh > newest
    assert await store.apply(ch.ReadPost(fresh, "u1", 14), ch.ReadPost(kept, "u1", 14)) == [True, False]
    # the triggers still work on the rebuilt table: a purged post is noted gone
    assert await store.apply(ch.Purge("posts", YOUNG + 1, YOUNG + 1, 1000)) == [2]
    assert {r[0] for r in sqlite_db.sql("SELECT post_id FROM gone_posts")} == {kept, newest, fresh}
