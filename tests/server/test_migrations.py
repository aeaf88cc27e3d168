"""The record of applied schema migrations: a database this version would damage is refused
before anything is applied (a newer one, one numbered by another build, one whose recorded script
differs), and rows recorded before checksums get them. The plan is table-driven; the stores on
both backends, and ``qunguan serve`` on SQLite, are run for real."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from server.storage import postgres_schema, schema
from server.storage.migrations import SchemaMismatch, checksum, plan_migrations
from tests import pgtools

ROOT = Path(__file__).resolve().parents[2]
KNOWN = [(1, "CREATE TABLE a (x)"), (2, "CREATE TABLE b (x)"), (3, "CREATE TABLE c (x)")]
SUM = {v: checksum(s) for v, s in KNOWN}


@pytest.mark.parametrize(("recorded", "apply", "stamp"), [
    ({}, [1, 2, 3], []),  # a new database
    ({1: SUM[1]}, [2, 3], []),
    ({1: SUM[1], 2: SUM[2], 3: SUM[3]}, [], []),
    ({1: None, 2: SUM[2]}, [3], [1]),  # recorded by a version before checksums
    ({1: None, 2: None, 3: None}, [], [1, 2, 3]),
])
def test_a_database_that_fits_gets_what_it_lacks(recorded, apply, stamp):
    plan = plan_migrations(recorded, KNOWN, "db")
    assert [v for v, _ in plan.to_apply] == apply
    assert plan.to_stamp == [(v, SUM[v]) for v in stamp]


@pytest.mark.parametrize(("recorded", "says"), [
    ({1: SUM[1], 2: SUM[2], 3: SUM[3], 4: "x"},
     "upgraded by a newer version of qunguan: it records schema migration(s) 4, and this version knows up to 3"),
    ({1: None, 3: None},
     "records schema migration 3 but not 2: it was made by a build whose migrations are numbered differently"),
    ({1: SUM[1], 2: "0" * 64}, "records schema migration(s) 2 with a script that differs"),
])
def test_a_database_this_version_would_damage_is_refused(recorded, says):
    with pytest.raises(SchemaMismatch) as refused:
        plan_migrations(recorded, KNOWN, "the database q.db")
    assert str(refused.value).startswith("the database q.db ") and says in str(refused.value)


def test_a_number_this_version_lacks_below_its_newest_is_refused():
    with pytest.raises(SchemaMismatch, match="records schema migration.s. 2 this version does not have"):
        plan_migrations({1: None, 2: None}, [(1, "x"), (3, "y")], "db")


def test_the_migrations_carried_are_numbered_once_in_order():
    for migrations in (schema.MIGRATIONS, postgres_schema.MIGRATIONS):
        versions = [v for v, _ in migrations]
        assert versions == sorted(set(versions))


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """(kind, where): a fresh database of either backend."""
    if request.param == "sqlite":
        yield "sqlite", tmp_path / "q.db"
        return
    if pgtools.unavailable() is not None:
        pytest.skip(str(pgtools.unavailable()))
    name, url = pgtools.create_db()
    yield "postgresql", url
    pgtools.drop_db(name)


def _store(kind, where):
    if kind == "sqlite":
        from server.storage.sqlite import SqliteStore

        return SqliteStore(where), schema.MIGRATIONS
    from server.storage.postgres import PostgresStore

    return PostgresStore(where), postgres_schema.MIGRATIONS


def _sql(kind, where, statement, *params):
    if kind == "postgresql":
        return pgtools.query(where, statement.replace("?", "$1", 1).replace("?", "$2", 1), *params)
    con = sqlite3.connect(where, isolation_level=None)
    try:
        return [tuple(r) for r in con.execute(statement, params).fetchall()]
    finally:
        con.close()


async def _opened(kind, where):
    store, migrations = _store(kind, where)
    await store.open()
    await store.close()
    return migrations


async def test_every_migration_is_recorded_with_its_checksum(db):
    kind, where = db
    migrations = await _opened(kind, where)
    rows = _sql(kind, where, "SELECT version, checksum FROM schema_migrations ORDER BY version")
    assert rows == [(v, checksum(s)) for v, s in migrations]


async def test_rows_from_before_checksums_get_them_and_a_changed_script_is_then_refused(db):
    kind, where = db
    migrations = await _opened(kind, where)
    _sql(kind, where, "UPDATE schema_migrations SET checksum = NULL")  # as an older version left them
    await _opened(kind, where)
    rows = _sql(kind, where, "SELECT version, checksum FROM schema_migrations ORDER BY version")
    assert rows == [(v, checksum(s)) for v, s in migrations]
    version = migrations[len(migrations) // 2][0]
    _sql(kind, where, "UPDATE schema_migrations SET checksum = ? WHERE version = ?", "0" * 64, version)
    store, _ = _store(kind, where)
    with pytest.raises(SchemaMismatch, match=f"records schema migration.s. {version} with a script that differs"):
        await store.open()
    await store.close()


async def test_a_database_upgraded_by_a_newer_version_is_refused_and_left_as_it_is(db):
    kind, where = db
    migrations = await _opened(kind, where)
    newer = migrations[-1][0] + 1
    _sql(kind, where, "INSERT INTO schema_migrations VALUES (?, 0, NULL)" if kind == "sqlite"
         else "INSERT INTO schema_migrations VALUES ($1, 0, NULL)", newer)
    before = _sql(kind, where, "SELECT version, checksum FROM schema_migrations ORDER BY version")
    store, _ = _store(kind, where)
    newer_said = f"upgraded by a newer version of qunguan: it records schema migration.s. {newer}"
    with pytest.raises(SchemaMismatch, match=newer_said):
        await store.open()
    await store.close()
    assert _sql(kind, where, "SELECT version, checksum FROM schema_migrations ORDER BY version") == before


def _columns(kind, where):
    if kind == "sqlite":
        return [r[1] for r in _sql(kind, where, "PRAGMA table_info(schema_migrations)")]
    return [r[0] for r in _sql(kind, where, "SELECT column_name FROM information_schema.columns"
                                            " WHERE table_name = 'schema_migrations' ORDER BY ordinal_position")]


@pytest.mark.parametrize("before_checksums", [False, True])
async def test_a_database_numbered_by_another_build_is_refused_before_anything_is_applied(db, before_checksums):
    """Refused as it is: nothing applied, and (the diff review) not even the checksum column added
    to a database from before checksums, which an older build then could not write to."""
    kind, where = db
    migrations = await _opened(kind, where)
    if before_checksums:
        _sql(kind, where, "ALTER TABLE schema_migrations DROP COLUMN checksum")
    columns = _columns(kind, where)
    gap = migrations[-3][0]
    _sql(kind, where, "DELETE FROM schema_migrations WHERE version = ?" if kind == "sqlite"
         else "DELETE FROM schema_migrations WHERE version = $1", gap)
    store, _ = _store(kind, where)
    gap_said = f"but not {gap}: it was made by a build whose migrations are numbered differently"
    with pytest.raises(SchemaMismatch, match=gap_said):
        await store.open()
    await store.close()
    assert gap not in {r[0] for r in _sql(kind, where, "SELECT version FROM schema_migrations")}
    assert _columns(kind, where) == columns


def test_serve_on_a_newer_database_says_so_in_one_line_and_exits_2(tmp_path):
    (tmp_path / "q.toml").write_text('[server]\nport = 0\n[storage]\nurl = "sqlite:///q.db"\n')
    con = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
    con.executemany("INSERT INTO schema_migrations VALUES (?, 0)", [(v, ) for v, _ in schema.MIGRATIONS])
    con.execute("INSERT INTO schema_migrations VALUES (?, 0)", (schema.MIGRATIONS[-1][0] + 1,))
    con.close()
    done = subprocess.run([sys.executable, "-m", "server", "serve", "--config", str(tmp_path / "q.toml")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("qunguan: cannot start: the database") and "upgraded by a newer version" in last
    assert "Traceback" not in done.stderr


def test_a_released_migration_is_never_edited():
    """Databases record each migration's checksum and refuse to start on a script that differs, so
    editing a released migration (a comment, a space) would stop every server that applied it. The
    checksums are pinned here: a changed script fails this test first. A new migration adds its
    line to migration_checksums.json (``checksum(script)`` of server/storage/migrations.py)."""
    pinned = json.loads((Path(__file__).with_name("migration_checksums.json")).read_text(encoding="utf-8"))
    for kind, migrations in (("sqlite", schema.MIGRATIONS), ("postgresql", postgres_schema.MIGRATIONS)):
        now = {str(v): checksum(s) for v, s in migrations}
        changed = sorted((v for v in pinned[kind] if now.get(v) != pinned[kind][v]), key=int)
        assert not changed, f"{kind} migration(s) {changed} differ from their released text: add a new migration"
        unpinned = sorted(set(now) - set(pinned[kind]), key=int)
        assert not unpinned, f"{kind} migration(s) {unpinned}: add their checksums to migration_checksums.json"


async def _opened_before(db: tuple[str, Any], monkeypatch: Any, marker: str) -> Callable[[], Awaitable[None]]:
    """The database of ``db`` opened at the schema before the first migration whose script holds
    ``marker``; returns what opens it again with every migration (the upgrade)."""
    kind, where = db
    import server.storage.postgres as pg_module
    import server.storage.sqlite as sqlite_module

    module = sqlite_module if kind == "sqlite" else pg_module
    full = module.MIGRATIONS
    monkeypatch.setattr(module, "MIGRATIONS", full[:next(i for i, (_, sql) in enumerate(full) if marker in sql)])
    await _opened(kind, where)

    async def upgraded() -> None:
        monkeypatch.setattr(module, "MIGRATIONS", full)
        await _opened(kind, where)

    return upgraded


async def test_the_counts_per_day_are_made_from_the_messages_a_database_already_holds(db, monkeypatch):
    # SQLite 39 / PostgreSQL 36 add group_daily (server/storage/activity.py), filled from the messages.
    kind, where = db
    upgraded = await _opened_before(db, monkeypatch, "CREATE TABLE group_daily")
    day = 20_000 * 86_400_000
    for gid, seq, ts in (("g1", 1, day + 5), ("g1", 2, day + 6), ("g1", 3, day + 86_400_000), ("g2", 1, day)):
        _sql(kind, where, "INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text)"
                          f" VALUES (?, ?, {ts}, 'u', 'member', 'x')", gid, seq)
    await upgraded()
    rows = _sql(kind, where, "SELECT day, group_id, messages FROM group_daily ORDER BY day, group_id")
    assert [tuple(int(x) if not isinstance(x, str) else x for x in r) for r in rows] == [
        (20_000, "g1", 2), (20_000, "g2", 1), (20_001, "g1", 1)]


async def test_the_visible_comments_of_each_post_are_counted_from_the_comments_a_database_already_holds(
        db, monkeypatch):
    # SQLite 45 / PostgreSQL 42 keep posts.visible_comments by triggers, counted at the upgrade.
    kind, where = db
    upgraded = await _opened_before(db, monkeypatch, "visible_comments")
    for post_id in (1, 2, 3):
        _sql(kind, where, "INSERT INTO posts (post_id, account_id, author_id, title, body, comments_mode, ts)"
                          " VALUES (?, 'a', 'u', 't', 'b', 'open', 1)", post_id)
    for post_id, status in ((1, "visible"), (1, "visible"), (1, "held"), (2, "hidden"), (2, "visible")):
        _sql(kind, where, "INSERT INTO comments (post_id, user_id, text, ts, status) VALUES (?, 'u', 'c', 1, ?)",
             post_id, status)
    await upgraded()
    rows = _sql(kind, where, "SELECT post_id, visible_comments FROM posts ORDER BY post_id")
    assert [tuple(int(x) for x in r) for r in rows] == [(1, 2), (2, 1), (3, 0)]
    # and kept from then on: a comment coming, shown, hidden or gone moves its post's count
    _sql(kind, where, "INSERT INTO comments (post_id, user_id, text, ts, status) VALUES (3, 'u', 'c', 1, 'visible')")
    _sql(kind, where, "UPDATE comments SET status = 'visible' WHERE status = 'held'")
    _sql(kind, where, "UPDATE comments SET status = 'deleted' WHERE post_id = 2 AND status = 'visible'")
    _sql(kind, where, "UPDATE comments SET status = 'visible' WHERE post_id = 1")  # (no change: counted once)
    _sql(kind, where, "DELETE FROM comments WHERE post_id = 1 AND comment_id = (SELECT MIN(comment_id)"
                      " FROM comments WHERE post_id = 1)")
    rows = _sql(kind, where, "SELECT post_id, visible_comments FROM posts ORDER BY post_id")
    assert [tuple(int(x) for x in r) for r in rows] == [(1, 2), (2, 0), (3, 1)]


def test_an_upgrade_says_which_migrations_it_applies_before_the_first_and_a_new_database_does_not() -> None:
    """An upgrade review's server was silent 13 s while a migration rebuilt the network log's index:
    the operator is told what runs, once, before it does."""
    from server.storage.migrations import MigrationPlan, upgrade_notice

    plan = MigrationPlan(to_apply=[(37, "x"), (38, "y"), (49, "z")], to_stamp=[])
    line = upgrade_notice(plan, True, "the database q.db")
    assert line is not None and "q.db" in line and "37 to 49" in line
    assert "49" in (upgrade_notice(MigrationPlan([(49, "z")], []), True, "d") or "")
    assert upgrade_notice(plan, False, "the database q.db") is None  # (a new database: every migration)
    assert upgrade_notice(MigrationPlan([], []), True, "d") is None  # (nothing to apply)


async def test_sanctions_whose_points_the_record_gave_back_are_marked_so(db, monkeypatch):
    # SQLite 50 / PostgreSQL 48 add sanctions.credit_given_back_at (a give-back once only), set from
    # the record's entries that gave points back before it: the first such entry's time.
    kind, where = db
    upgraded = await _opened_before(db, monkeypatch, "credit_given_back_at")
    for sid in (1, 2, 3):
        _sql(kind, where, "INSERT INTO sanctions (id, kind, target_type, target_id, reason, actor, starts_at)"
                          " VALUES (?, 'mute', 'user', 'u', 'r', 'op', 1)", sid)
    entries = ((10, "lift_sanction", '{"sanction_id": 1, "kind": "mute", "credit_given_back": 20}'),
               (20, "decide_appeal", '{"appeal_id": 7, "sanction_id": 2, "credit_given_back": 5}'),
               (30, "decide_appeal", '{"appeal_id": 8, "sanction_id": 2, "credit_given_back": 5}'),
               (40, "lift_sanction", '{"sanction_id": 3, "kind": "mute"}'),  # kept taken
               (50, "resolve_report", '{"sanction_id": 3, "credit_given_back": 1}'))  # (not a give-back entry)
    for n, (ts, action, detail) in enumerate(entries, 1):
        _sql(kind, where, f"INSERT INTO audit (id, ts, actor_type, action, detail, prev_hash, hash)"
                          f" VALUES ({n}, ?, 'operator', ?, '{detail}', 'p', 'h')", ts, action)
    await upgraded()
    rows = _sql(kind, where, "SELECT id, credit_given_back_at FROM sanctions ORDER BY id")
    assert [(int(i), None if t is None else int(t)) for i, t in rows] == [(1, 10), (2, 20), (3, None)]
