"""``export --user`` finds a person's rows by index, not by reading a whole log over the export's
period: every arm of each OR in its reads of the membership log, the network log and the record
has an index (SQLite 40, PostgreSQL 37). Checked on the store's own statements, on both backends,
with tables large enough that the planner would rather scan than look up by a time range."""

from __future__ import annotations

from typing import Any

from server.storage import changes as ch
from server.storage.sqlite import SqliteStore

ROWS = 20_000
LOGS = ("membership_log", "netlog", "audit")

_SERIES = {  # the numbers 1..ROWS, as each backend writes them
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) ",
    "postgresql": "WITH n AS (SELECT generate_series(1, {rows}) AS i) ",
}
_JSON = {"sqlite": "json_object({})", "postgresql": "json_build_object({})::text"}
_FILL = [
    ("INSERT INTO membership_log (group_id, user_id, action, ts, actor_id)"
     " SELECT 'g' || (i % 100), 'u' || (i % 5000), 'join', i, CASE WHEN i % 3 = 0 THEN 'u' || (i % 777) END FROM n"),
    ("INSERT INTO netlog (ts, kind, user_id, ip, detail)"
     " SELECT i, CASE WHEN i % 20 = 0 THEN 'code_request' ELSE 'connect' END, 'u' || (i % 5000), '10.0.0.1',"
     " CASE WHEN i % 20 = 0 THEN {json_phone} ELSE 'port 1' END FROM n"),
    ("INSERT INTO audit (id, ts, actor_type, actor_id, action, target_id, detail, prev_hash, hash)"
     " SELECT 100000 + i, i, 'owner', 'u' || (i % 5000), 'kick', 'u' || (i % 4000), {json_people}, '', '' FROM n"),
]


async def _fill(store: Any, kind: str) -> None:
    for sql in _FILL:
        statement = _SERIES[kind].format(rows=ROWS) + sql.format(
            json_phone=_JSON[kind].format("'phone_hmac', 'p' || (i % 999)"),
            json_people=_JSON[kind].format("'author_id', 'u' || (i % 3000), 'appellant', 'u' || (i % 2000)"))

        async def fn(db: Any, statement: str = statement) -> None:
            await db.execute(statement)
            await db.execute("ANALYZE")

        await store.run_in_batch(fn)


async def test_export_user_reads_the_logs_by_index(open_store) -> None:
    store = await open_store()
    sqlite = isinstance(store, SqliteStore)
    await _fill(store, "sqlite" if sqlite else "postgresql")
    await store.apply(ch.InsertUser("u1", "alice", "alice", "h", "Alice", b"p" * 32, b"e", 100, 1))  # (a phone)
    seen: list[tuple[str, tuple[Any, ...]]] = []
    fetchall = store._fetchall

    async def recording(sql: str, *params: Any) -> list[Any]:
        args = tuple(params[0]) if sqlite and params else params
        seen.append((sql, args))
        return await fetchall(sql, *params)

    store._fetchall = recording
    await store.export_user("u1", 0, 10**15)
    store._fetchall = fetchall
    reads = [(sql, args) for sql, args in seen if any(f"FROM {t} " in sql for t in LOGS)]
    assert {t for t in LOGS for sql, _ in reads if f"FROM {t} " in sql} == set(LOGS)
    for sql, args in reads:
        if sqlite:
            plan = " / ".join(r[3] for r in await fetchall("EXPLAIN QUERY PLAN " + sql, args))
            assert "MULTI-INDEX OR" in plan and "SCAN" not in plan, (sql, plan)
        else:
            assert store.pool is not None
            plan = " / ".join(r[0] for r in await store.pool.fetch("EXPLAIN " + sql, *args))
            assert "BitmapOr" in plan and "Seq Scan" not in plan, (sql, plan)
