"""The store's hold on the enforcement record's chain (server/storage/record_chain.py), on both backends:
what a rolled-back op appended is not taken for the last entry appended, and two stores on one
database (two nodes' writers) keep one chain."""

from __future__ import annotations

import asyncio

import pytest

from governance.audit import verify
from protocol.errors import ContractError
from server.storage import changes as ch

KEY = b"k" * 32


async def test_an_entry_of_a_rolled_back_op_is_not_the_last_one_appended(open_store):
    """AddHold appends its entry inside the op; the op's next change fails and the savepoint goes back.
    Had the store taken that entry for its last, the next append would link to an entry that is not
    there (a fork under a valid mac)."""
    store = await open_store()
    await store.apply(audit=ch.Audit(1, "system", None, "first"))
    [e1] = await store.audit_entries()
    assert store.record_head_known() == (1, e1["mac"]) and await store.record_head_row() == (1, e1["mac"])
    hold = ch.AddHold("group", "100000001", "kept", 2, ch.Audit(2, "operator", "op", "legal_hold"))
    with pytest.raises(ContractError):
        await store.apply(hold, ch.ResolveReport(999, "upheld", "x", 2, "op"))
    assert store.record_head_known() == (1, e1["mac"])
    await store.apply(audit=ch.Audit(3, "system", None, "second"))
    entries = await store.audit_entries()
    assert [e["id"] for e in entries] == [1, 2] and verify(entries, KEY).whole
    assert store.record_head_known() == (2, entries[1]["mac"]) == await store.record_head_row()


async def test_two_stores_on_one_database_keep_one_chain(open_store):
    """Two writers appending in turn (PostgreSQL: two nodes; SQLite: one after the other): each one's
    own last entry falls behind the other's, which is no tampering: the chain stays one."""
    a = await open_store()
    b = await open_store() if hasattr(a, "pool") else a
    for i in range(6):
        await (a if i % 2 else b).apply(audit=ch.Audit(i, "system", None, f"act{i}"))
    await asyncio.gather(*((a if i % 2 else b).apply(audit=ch.Audit(i, "system", None, f"at once {i}"))
                           for i in range(10)))
    entries = await a.audit_entries()
    assert [e["id"] for e in entries] == list(range(1, 17)) and verify(entries, KEY).whole
    assert await a.record_head_row() == (16, entries[-1]["mac"])


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request, tmp_path):
    from tests.server.upgrade_backend import backend

    async for opened in backend(request, tmp_path, (28, 26)):
        yield opened


async def test_the_upgrade_takes_the_head_from_the_records_last_entry(db):
    """The migration that adds the head row starts it at the record's last entry (an empty record:
    id 0 at the chain's origin), so the first append after the upgrade continues the chain."""
    from governance.audit import GENESIS, entry_hash, entry_mac

    old = await db.open(upgraded=False)
    prev_hash, prev_mac = GENESIS, GENESIS
    for i in (1, 2, 3):
        e = {"id": i, "ts": i, "actor_type": "system", "actor_id": None, "action": f"old{i}", "group_id": None,
             "target_id": None, "reason": "", "detail": "{}"}
        digest, mac = entry_hash(prev_hash, e), entry_mac(KEY, prev_mac, e)
        db.sql("INSERT INTO audit (id, ts, actor_type, actor_id, action, group_id, target_id, reason, detail,"
               " prev_hash, hash, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               *e.values(), prev_hash, digest, mac)
        prev_hash, prev_mac = digest, mac
    await old.close()
    db.stores.remove(old)
    store = await db.open()
    assert db.sql("SELECT last_id, hash, mac FROM audit_head") == [(3, prev_hash, prev_mac)]
    await store.apply(audit=ch.Audit(4, "system", None, "after the upgrade"))
    entries = await store.audit_entries()
    assert [e["id"] for e in entries] == [1, 2, 3, 4] and verify(entries, KEY).whole


async def test_the_upgrade_of_an_empty_record_starts_at_the_origin(db):
    from governance.audit import GENESIS

    old = await db.open(upgraded=False)
    await old.close()
    db.stores.remove(old)
    await db.open()
    assert db.sql("SELECT last_id, hash, mac FROM audit_head") == [(0, GENESIS, GENESIS)]


async def test_an_entry_appended_while_verify_reads_the_record_is_no_removal(open_store, tmp_path):
    """verify-audit read the record, then the head this server remembers: an entry appended in
    between made that head newer than the entries read, and verify reported them removed. Every
    head is read before the record now."""
    import types

    from server import record

    store = await open_store()
    for i in range(3):
        await store.apply(audit=ch.Audit(i, "system", None, f"act{i}"))
    read = store.audit_entries

    async def read_then_append() -> list:  # the append lands right after the read
        entries = await read()
        await store.apply(audit=ch.Audit(9, "operator", "op", "warn_group"))
        return entries

    store.audit_entries = read_then_append
    ctx = types.SimpleNamespace(store=store, now_ms=lambda: 1, vault=types.SimpleNamespace(record_key=lambda: KEY),
                                cfg=types.SimpleNamespace(audit=types.SimpleNamespace(
                                    checkpoint_file=tmp_path / "checkpoints")))
    found = await record.verify(ctx)
    assert found.whole, found
    store.audit_entries = read
    assert (await record.verify(ctx)).whole
