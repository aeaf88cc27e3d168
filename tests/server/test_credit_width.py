"""Credit scores are 64-bit on both backends (PostgreSQL migration 46): past 2^31 a user's or an
account's credit change failed on PostgreSQL with "integer out of range", as internal, where SQLite
stored it (a review of the two backends)."""

from __future__ import annotations

from server.storage import changes as ch
from tests.server.raw_sql import rows_of, run_sql

BEYOND_32_BITS = 3_000_000_000


async def test_a_credit_score_past_32_bits_is_stored_on_both_backends(open_store) -> None:
    store = await open_store()
    await run_sql(store, "INSERT INTO users (user_id, username, username_key, password_hash, display_name,"
                         " phone_hmac, phone_enc, credit_score, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  ("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"sealed", 100, 0))
    await store.apply(ch.AddCredit("u1", BEYOND_32_BITS))
    await store.apply(ch.AddCredit("u1", -2 * BEYOND_32_BITS))
    assert await rows_of(store, "SELECT credit_score FROM users WHERE user_id = ?", "u1") == [
        (100 - BEYOND_32_BITS,)]
