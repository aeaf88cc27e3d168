"""The storage quota as the store decides it (changes.MediaQuota, server/storage/media.py: QUOTA_USE):
each distinct file a user keeps in use counts once, and only while it is in use. Both backends;
on PostgreSQL through two writers at once (two nodes' writers on one database)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from protocol.errors import ContractError
from server.storage import changes as ch
from server.storage import media as m
from server.storage.base import MessageRow

KIB = 1000


def media(media_id: str, content: str, size: int, quota: ch.MediaQuota | None = None,
          uploader: str = "u1") -> ch.InsertMedia:
    return ch.InsertMedia(media_id, content * 64, uploader, "application/pdf", "file", size, None, None, None, 1,
                          quota)


def _stored(results: list[Any]) -> int:
    assert all(r == [None] or (isinstance(r, ContractError) and r.code == "storage_quota_reached")
               for r in results), results
    return sum(r == [None] for r in results)


async def _stored_of(store: Any, *media_ids: str) -> set[str]:
    """Which of ``media_ids`` have a media row."""
    return {i for i in media_ids if await store.media_entry(i) is not None}


async def test_uploads_of_the_same_bytes_from_two_writers_count_once(open_store) -> None:
    """Under a quota of 3 KB with 1 KB of content ``a`` stored: six more uploads of ``a`` and six of
    other bytes (1 KB each), all at once through two writers. Every upload of ``a`` adds nothing and
    is stored; exactly two of the others fit. Without counting content once, only two rows would."""
    a = await open_store()
    b = await open_store() if "Postgres" in type(a).__name__ else a
    quota = ch.MediaQuota(3 * KIB)
    await a.apply(media("first", "a", KIB, quota))
    inserts = [(a if i % 2 else b).apply(media(f"again{i}", "a", KIB, quota)) for i in range(6)]
    inserts += [(b if i % 2 else a).apply(media(f"other{i}", "0123456789ab"[i], KIB, quota)) for i in range(6)]
    results = await asyncio.gather(*inserts, return_exceptions=True)
    assert _stored(results[:6]) == 6 and _stored(results[6:]) == 2, results
    names = ["first", *(f"again{i}" for i in range(6)), *(f"other{i}" for i in range(6))]
    assert len(await _stored_of(a, *names)) == 9 and {f"again{i}" for i in range(6)} <= await _stored_of(a, *names)
    assert await a.media_quota_use("u1", "a" * 64) == (3 * KIB, True)
    assert await a.media_quota_use("u1", "f" * 64) == (3 * KIB, False)
    assert await a.media_quota_use("u2") == (0, False)


async def test_new_bytes_from_two_writers_near_the_quota_and_repeats_when_full(open_store) -> None:
    """Eight uploads of eight new files and eight of one more at once, 2 KB of room: whichever
    come first take it and nothing passes the quota. A user over it (a lower quota now) may still
    store content they keep already: it adds nothing."""
    a = await open_store()
    b = await open_store() if "Postgres" in type(a).__name__ else a
    quota = ch.MediaQuota(2 * KIB)
    inserts = [(a if i % 2 else b).apply(media(f"n{i}", "0123456789abcdef"[i], KIB, quota)) for i in range(8)]
    inserts += [(b if i % 2 else a).apply(media(f"s{i}", "e", KIB, quota)) for i in range(8)]
    results = await asyncio.gather(*inserts, return_exceptions=True)
    new, same = _stored(results[:8]), _stored(results[8:])
    assert same in (0, 8) and new + (same > 0) == 2, results  # the shared file in once, or not at all
    assert (await a.media_quota_use("u1"))[0] == 2 * KIB
    kept = "e" if same else next("0123456789abcdef"[i] for i, r in enumerate(results[:8]) if r == [None])
    await a.apply(media("repeat", kept, KIB, ch.MediaQuota(KIB)))  # over the lower quota: still stored
    with pytest.raises(ContractError, match="2000 of the 2500 bytes") as err:
        await a.apply(media("fresh", "9", KIB, ch.MediaQuota(5 * KIB // 2)))
    assert err.value.code == "storage_quota_reached"


async def _raw(store: Any, sql: str, *args: Any) -> None:
    """One statement in the writer's next transaction (``?`` placeholders, either backend)."""
    pg = "Postgres" in type(store).__name__

    async def run(db: Any) -> None:
        if pg:
            await db.execute(m.numbered(sql), *args)
        else:
            await db.execute(sql, args)

    await store.run_in_batch(run)


async def _send(store: Any, gid: str, seq: int, media_id: str, held: int = 0) -> None:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    att = json.dumps([{"media_id": media_id, "kind": "file", "mime": "application/pdf", "size": 1}])
    row = MessageRow(gid, seq, seq, "u1", "owner", "", None, held, None, None, 0, att)
    store.append_message(row, lambda exc: done.set_exception(exc) if exc else done.set_result(None))
    await done


async def test_a_file_counts_while_it_is_new_or_something_still_shows_it(open_store) -> None:
    """Counted: an upload nothing carried yet (the same bytes once), one carried by a message that is
    delivered or held for review, or by a live post. Not counted, though kept for the record with
    what carries it: one carried only by deleted or rejected messages, messages of a dissolved or
    closed group, posts deleted or removed, posts of a closed account."""
    s = await open_store()
    for gid in ("100000001", "100000002", "100000003"):
        await s.apply(ch.CreateGroup(gid, "g", "work", "open", "u1", 1))
    rows = (("new", "a"), ("new_again", "a"), ("live", "b"), ("deleted", "c"), ("deleted_new", "c"),
            ("rejected", "d"), ("held", "e"), ("dissolved", "f"), ("closed", "1"), ("post", "2"),
            ("post_deleted", "3"), ("post_removed", "4"), ("account_closed", "5"), ("deleted_and_live", "6"))
    size = {content: 1 << n for n, content in enumerate(dict.fromkeys(c for _, c in rows))}  # same bytes, same size
    for media_id, content in rows:
        await s.apply(media(media_id, content, size[content]))
    for seq, media_id, held in ((1, "live", 0), (2, "deleted", 0), (3, "rejected", 2), (4, "held", 1),
                                (5, "deleted_and_live", 0), (6, "deleted_and_live", 0)):
        await _send(s, "100000001", seq, media_id, held)
    await _send(s, "100000002", 1, "dissolved")
    await _send(s, "100000003", 1, "closed")
    for aid, closed in (("200000001", None), ("200000002", 5)):
        await _raw(s, "INSERT INTO accounts (account_id, name, name_key, category, subject_type, subject_key,"
                      " owner_id, credit_score, created_at, closed_at) VALUES (?, ?, ?, 'culture', 'individual',"
                      " 'k', 'u1', 100, 1, ?)", aid, f"acct{aid}", f"acct{aid}", closed)
    for post_id, aid, media_id, deleted, removed in ((1, "200000001", "post", None, None),
                                                     (2, "200000001", "post_deleted", 5, None),
                                                     (3, "200000001", "post_removed", None, 5),
                                                     (4, "200000002", "account_closed", None, None)):
        await _raw(s, "INSERT INTO posts (post_id, account_id, author_id, title, body, comments_mode, ts,"
                      " deleted_at, removed_at) VALUES (?, ?, 'u1', 't', 'b', 'open', 1, ?, ?)",
                   post_id, aid, deleted, removed)
        await _raw(s, "INSERT INTO post_media (post_id, media_id) VALUES (?, ?)", post_id, media_id)

    def counted(*contents: str) -> int:
        return sum(size[c] for c in contents)

    # Rejected from the start; posts deleted, removed or on a closed account: not counted.
    assert await s.media_quota_use("u1", "c" * 64) == (counted("a", "b", "c", "e", "f", "1", "2", "6"), True)
    await s.apply(ch.DeleteMessages((("100000001", 2), ("100000001", 5)), 9, "u1"))
    await s.apply(ch.SetGroupFields("100000002", {"dissolved_at": 9}))
    await s.apply(ch.SetGroupFields("100000003", {"closed_at": 9, "closed_reason": "r"}))
    # "c" still counts by its upload nothing carries yet; "6" by the message still shown.
    assert await s.media_quota_use("u1", "c" * 64) == (counted("a", "b", "c", "e", "2", "6"), True)
    # Nothing of it was removed: the rows stay with what carries them.
    assert await _stored_of(s, *(media_id for media_id, _ in rows)) == {media_id for media_id, _ in rows}
    # The upload of "c" nothing carries goes: "c" no longer counts, though a deleted message still
    # carries the other row of it (which stays).
    assert await s.apply(ch.DeleteMedia(("deleted_new", "deleted"))) == [["deleted_new"]]
    assert await s.media_quota_use("u1", "c" * 64) == (counted("a", "b", "e", "2", "6"), False)
