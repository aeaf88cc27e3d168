"""The network log's purge keeps the rows of the authors of what is kept past the period (a held
group's messages: who wrote them, from where). Which authors those are is read once per purge
(``Store.kept_authors``), not in every batch: in every batch it walked every kept message again, 450 ms
twice a batch for a held group of 300,000 messages on SQLite (1,070 ms a 1,000-row batch, the one
writer held meanwhile; 43 ms read once)."""

from __future__ import annotations

import pytest

from server.storage import changes as ch
from server.storage.sqlite import SqliteStore

OLD, CUTOFF, NOW = 100, 1_000, 2_000


async def _rows(store, sql: str, *rows: tuple) -> None:
    async def fn(db) -> None:
        if isinstance(store, SqliteStore):
            await db.executemany(sql, rows)
        else:
            await db.executemany(sql.replace("?", "${}").format(*range(1, sql.count("?") + 1)), rows)

    await store.run_in_batch(fn)


async def _netlog_users(store) -> list[str]:
    return [r[0] for r in await store._fetchall("SELECT user_id FROM netlog ORDER BY user_id")]


async def test_a_batch_keeps_the_kept_authors_it_is_given_and_refuses_to_run_without_them(open_store):
    store = await open_store()
    await _rows(store, "INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text)"
                       " VALUES (?, ?, ?, ?, ?, ?)", ("900000001", 1, OLD, "writer", "member", "kept by its hold"))
    await _rows(store, "INSERT INTO legal_holds (target_type, target_id, reason, created_at) VALUES (?, ?, ?, ?)",
                ("group", "900000001", "case 12", OLD))
    await _rows(store, "INSERT INTO netlog (ts, kind, user_id, ip) VALUES (?, ?, ?, ?)",
                *[(OLD + i, "auth", uid, "192.0.2.1") for i, uid in enumerate(["writer", "other", "writer", "other"])])
    assert await store.kept_authors(CUTOFF) == ["writer"]
    with pytest.raises(ValueError, match="kept authors"):
        await store.apply(ch.Purge("accounts_erased", NOW, CUTOFF, 100))
    assert await store.apply(ch.PurgeNetlog(NOW, CUTOFF, 100, kept=("writer",))) == [(2, None)]
    assert await _netlog_users(store) == ["writer", "writer"]
    assert await store.apply(ch.PurgeNetlog(NOW, CUTOFF, 100, kept=())) == [(2, None)]  # (none kept: all go)
    assert await _netlog_users(store) == []


async def test_the_walk_goes_on_past_the_rows_it_keeps(open_store):
    """Each batch starts after the last row the one before looked at (a kept row is looked at once),
    stops at the cutoff, and leaves the rows after it."""
    store = await open_store()
    people = ["kept", "gone", "kept", "gone", "gone", "kept", "gone"]
    await _rows(store, "INSERT INTO netlog (ts, kind, user_id, ip) VALUES (?, ?, ?, ?)",
                *[(OLD + i // 2, "auth", uid, "192.0.2.1") for i, uid in enumerate(people)],  # (two rows a ts)
                (CUTOFF, "auth", "gone", "192.0.2.1"))
    ids = [r[0] for r in await store._fetchall("SELECT id FROM netlog ORDER BY ts, id")]
    steps = []
    after = None
    while True:
        [(n, after)] = await store.apply(ch.PurgeNetlog(NOW, CUTOFF, 3, kept=("kept",), after=after))
        steps.append((n, after))
        if after is None:
            break
    assert steps == [(1, (OLD + 1, ids[2])), (2, (OLD + 2, ids[5])), (1, None)]
    assert await _netlog_users(store) == ["gone", "kept", "kept", "kept"]  # (the one at the cutoff stays)


async def test_a_code_request_is_kept_for_a_held_kept_or_held_groups_person_by_its_phone(open_store):
    """A code request is made before login, so it names no user: it stays with the person whose
    phone it was asked for when that person is held, a kept author or a held group's member, and goes
    otherwise (nobody's phone, or a hash that is not hex). PostgreSQL finds each request's person by
    the phone's index rather than reading every user (postgres_reads.PG_CODE_REQUEST_GONE)."""
    store = await open_store()
    people = ["held", "author", "member", "free"]
    for i, uid in enumerate(people):
        await store.apply(ch.InsertUser(uid, uid, uid, "h", uid.upper(), bytes([i + 1]) * 32, b"e", 100, 1))
    await _rows(store, "INSERT INTO legal_holds (target_type, target_id, reason, created_at) VALUES (?, ?, ?, ?)",
                ("user", "held", "case 7", OLD), ("group", "900000002", "case 8", OLD))
    await _rows(store, "INSERT INTO members (group_id, user_id, role, joined_at, joined_seq) VALUES (?, ?, ?, ?, ?)",
                ("900000002", "member", "member", OLD, 0))
    phones = {uid: (bytes([i + 1]) * 32).hex() for i, uid in enumerate(people)}
    phones.update(nobody=(b"\x77" * 32).hex(), garbled="zz")
    await _rows(store, "INSERT INTO netlog (ts, kind, user_id, ip, detail) VALUES (?, ?, ?, ?, ?)",
                *[(OLD + i, "code_request", None, "192.0.2.1", f'{{"phone_hmac": "{phone}", "for": "{who}"}}')
                  for i, (who, phone) in enumerate(phones.items())])
    [(n, _)] = await store.apply(ch.PurgeNetlog(NOW, CUTOFF, 100, kept=("author",)))
    assert n == 3
    left = await store._fetchall("SELECT detail FROM netlog ORDER BY ts")
    assert [d[0].split('"for": "')[1].rstrip('"}') for d in left] == ["held", "author", "member"]
