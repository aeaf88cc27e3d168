"""``qunguan restore`` (server/restore.py, docs/operations.md "Backup"): a backup put back in the
database's place after a crash, with none of the traps of a restore by hand: a ``-wal`` file left
by the crash replayed into the backup, seqs handed out again that clients have seen, and a
checkpoint file that reports the lost record entries as removed for good."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from server.restore import DEFAULT_SEQ_GAP
from server.storage.changes import RESTORE_CLOCK_GAP
from tests.e2e import ops_helpers as ops
from tests.e2e.harness import ROOT, ServerProcess, open_group


async def restore(srv: ServerProcess, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "restore", "--config", str(srv.config), *args,
        cwd=srv.dir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def _integrity(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")]


async def test_a_backup_restored_after_a_crash_is_whole_and_its_seqs_are_new(tmp_path, started):
    srv = started(ops.server(tmp_path))
    alice = await srv.user("alice", verify_id=True)  # identity data sealed with the key
    gid = await open_group(alice)
    for i in range(5):
        await alice.send(gid, f"kept {i}")
    backup = tmp_path / "backup.db"
    rc, _, err = await srv.admin("backup", "--out", str(backup))
    assert rc == 0, err
    lost = [(await alice.send(gid, f"lost {i}"))["seq"] for i in range(30)]
    await alice.request("edit_message", group_id=gid, seq=lost[0], text="lost, edited")  # moves the clock
    await alice.close()
    srv.kill9()  # a crash: the newest writes are in qunguan.db-wal
    db = srv.dir / "qunguan.db"
    assert (srv.dir / "qunguan.db-wal").stat().st_size > 0
    checkpoints = srv.dir / "audit-checkpoints.jsonl"
    checkpoints.write_text(checkpoints.read_text() if checkpoints.exists() else "{}\n")

    rc, out, err = await restore(srv, str(backup))
    assert rc == 0, err
    assert f"restored {db} from {backup}" in out, out
    [replaced] = [p for p in srv.dir.iterdir() if p.name.startswith("qunguan.db.replaced-") and "-" not in p.name[20:]]
    assert Path(f"{replaced}-wal").exists() and not (srv.dir / "qunguan.db-wal").exists()  # kept with its database
    [aside] = [p for p in srv.dir.iterdir() if p.name.startswith("audit-checkpoints.jsonl.before-restore-")]
    assert not checkpoints.exists() and f"--checkpoint-file {aside}" in out
    assert f"1 groups' next seq moved up by {DEFAULT_SEQ_GAP} from the higher of the backup's" in out
    assert "[media] path" in out and "run `qunguan admin purge` once" in out
    assert _integrity(db) == ["ok"] and db.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(db) as conn:  # (indexed past the gap, which holds nothing: no catch-up over it)
        [(last, indexed)] = conn.execute("SELECT g.last_seq, s.indexed_seq FROM groups g JOIN search_groups s"
                                         " ON s.group_id = g.group_id WHERE g.group_id = ?", (gid,)).fetchall()
    assert last == indexed == max(lost) + DEFAULT_SEQ_GAP  # (from the replaced database's last seq, the higher)
    with sqlite3.connect(replaced) as conn:
        [(lost_clock,)] = conn.execute("SELECT rev FROM message_clock").fetchall()
    assert lost_clock > 0
    with sqlite3.connect(db) as conn:  # (the background purge waits for one by hand: server/retention.py)
        assert conn.execute("SELECT last_run > 0 FROM job_runs WHERE name = 'restore'").fetchall() == [(1,)]

    srv.start()
    again = await srv.client()
    await again.login("alice", "password123")
    assert (await again.request("me"))["id_verified"] is True  # the key opens the restored identity data
    # A cursor of message_changes from the lost database is below every change from now on, and is
    # answered reset: what its client shows may hold what the restore lost.
    now = await again.request("message_changes", group_id=gid)
    assert now["cursor"] >= lost_clock + RESTORE_CLOCK_GAP
    stale = await again.request("message_changes", group_id=gid, since=lost_clock)
    assert stale["reset"] is True and stale["messages"] == [] and stale["cursor"] == now["cursor"]
    assert (await again.request("message_changes", group_id=gid, since=now["cursor"]))["reset"] is False
    hist = await again.request("history", group_id=gid)
    assert [m["text"] for m in hist["messages"]] == [f"kept {i}" for i in range(5)]
    # A client that saw the lost messages pages on from the last one it saw, and finds the new one.
    new = (await again.send(gid, "after the restore"))["seq"]
    assert new == max(lost) + DEFAULT_SEQ_GAP + 1
    after = await again.request("history", group_id=gid, after_seq=max(lost))
    assert [m["text"] for m in after["messages"]] == ["after the restore"]
    await again.close()
    rc, out, err = await srv.admin("verify-audit")
    assert rc == 0, (out, err)
    [(actor, reason, detail)] = srv.db_rows(
        "SELECT actor_id, reason, detail FROM audit WHERE action = 'restore_backup'")
    assert (actor, reason, detail) == ("operator", "restored from backup.db",
                                       '{"above_replaced": true, "seq_gap": 1000000}')

    # The service fails again before another backup: the same backup restored a second time hands
    # out no seq and no change clock value that clients saw after the first (a reviewer's case: the
    # first send after it got the first restore's seq again, and history after it showed nothing).
    again = await srv.client()
    await again.login("alice", "password123")
    seen = [(await again.send(gid, f"after the first restore {i}"))["seq"] for i in range(3)]
    await again.request("edit_message", group_id=gid, seq=seen[0], text="edited after the first restore")
    cursor = (await again.request("message_changes", group_id=gid))["cursor"]
    await again.close()
    srv.kill9()
    rc, out, err = await restore(srv, str(backup))
    assert rc == 0, err
    srv.start()
    third = await srv.client()
    await third.login("alice", "password123")
    assert (await third.send(gid, "after the second restore"))["seq"] == max(seen) + DEFAULT_SEQ_GAP + 1
    after = await third.request("history", group_id=gid, after_seq=max(seen))
    assert [m["text"] for m in after["messages"]] == ["after the second restore"]
    assert (await third.request("message_changes", group_id=gid, since=cursor))["reset"] is True
    await third.close()
    await srv.stopped()
    # A gap that would take a seq past the search index's 32 bits is refused, the database untouched.
    rc, out, err = await restore(srv, str(backup), "--seq-gap", str(2**30))
    assert rc == 0, err
    inode = db.stat().st_ino
    for _ in range(3):
        rc, out, err = await restore(srv, str(backup), "--seq-gap", str(2**30))
        if rc != 0:
            break
        inode = db.stat().st_ino
    assert rc == 2 and "past the search index's bound of 4,294,967,295" in err, err
    assert db.stat().st_ino == inode and not [p for p in srv.dir.iterdir() if ".restoring" in p.name]


async def test_a_restore_that_cannot_be_done_leaves_the_database_alone(tmp_path, started):
    srv = started(ops.server(tmp_path))
    alice = await srv.user("alice", verify_id=True)
    gid = await open_group(alice)
    await alice.send(gid, "live")
    await alice.close()
    backup = tmp_path / "backup.db"
    rc, _, err = await srv.admin("backup", "--out", str(backup))
    assert rc == 0, err
    db = srv.dir / "qunguan.db"

    def untouched() -> None:
        assert db.stat().st_ino == inode
        assert not [p for p in srv.dir.iterdir() if ".replaced-" in p.name or ".restoring" in p.name]

    inode = db.stat().st_ino
    rc, _, err = await restore(srv, str(backup))  # the server runs
    assert rc == 2 and "another qunguan server is running" in err, err
    untouched()
    await srv.stopped()

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    newer = tmp_path / "newer.db"
    newer.write_bytes(backup.read_bytes())
    with sqlite3.connect(newer) as conn:
        conn.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)")
    live_copy = tmp_path / "live-copy.db"
    live_copy.write_bytes(backup.read_bytes())
    Path(f"{live_copy}-wal").write_bytes(b"")
    damaged = tmp_path / "damaged.db"
    raw = bytearray(backup.read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 4096] = b"\xff" * 4096
    damaged.write_bytes(bytes(raw))
    partial = tmp_path / ".backup.db.0a1b2c3d4e5f.partial"  # (left by a backup killed half-way)
    partial.write_bytes(backup.read_bytes()[:8192])
    for path, why in ((tmp_path / "missing.db", "no backup file"), (garbage, "not a database"),
                      (partial, "is an incomplete backup"),
                      (other, "is not a qunguan database"), (newer, "newer version"),
                      (live_copy, "lies beside the backup"), (damaged, "damaged"), (db, "the live database itself")):
        rc, out, err = await restore(srv, str(path))
        assert rc == 2 and out == "" and why in err, (path, err)
        assert err.startswith("qunguan restore: nothing restored: ")
        assert len(err.strip().splitlines()) == 1, err
        untouched()
    if os.geteuid() == 0:  # run as another user than the server's: refused (a root-owned database stops it)
        os.chown(srv.dir, 60001, -1)
        rc, _, err = await restore(srv, str(backup))
        os.chown(srv.dir, 0, -1)
        assert rc == 2 and "belongs to uid 60001: run the restore as that user" in err, err
        untouched()
    key = srv.dir / "identity.key"
    key.rename(tmp_path / "identity.key.elsewhere")  # the backup's identity data opens with no key
    rc, _, err = await restore(srv, str(backup))
    assert rc == 2 and "identity key" in err, err
    untouched()
    (tmp_path / "identity.key.elsewhere").rename(key)
    srv.start()
    again = await srv.client()
    await again.login("alice", "password123")
    assert [m["text"] for m in (await again.request("history", group_id=gid))["messages"]] == ["live"]
    await again.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_on_postgresql_it_settles_what_pg_restore_filled(tmp_path, started, backend):
    """pg_restore puts the rows back; ``qunguan restore`` without a file then moves the seqs on
    and records the restore, refused while a node serves the database."""
    srv = started(ops.server(tmp_path, backend=backend))
    alice = await srv.user("alice")
    gid = await open_group(alice)
    quiet = await open_group(alice, name="quiet")  # never a message: no search progress row yet
    await alice.send(gid, "one")
    await alice.request("edit_message", group_id=gid, seq=1, text="one, edited")
    [(clock,)] = srv.db_rows("SELECT rev FROM message_clock")
    assert clock > 0
    rc, _, err = await restore(srv)
    assert rc == 2 and "another qunguan node serves this database" in err, err
    rc, _, err = await restore(srv, "backup.db")
    assert rc == 2 and "pg_restore --clean --if-exists" in err, err
    await alice.close()
    await srv.stopped()
    rc, out, err = await restore(srv, "--seq-gap", "500")
    assert rc == 0 and "settled the restored PostgreSQL database: 2 groups' next seq moved up by 500" in out, err
    for group, moved in ((gid, 501), (quiet, 500)):  # (the quiet one indexed past its gap too, as on SQLite)
        assert srv.db_rows("SELECT g.last_seq, p.indexed_seq FROM groups g JOIN search_progress p"
                           " ON p.group_id = g.group_id WHERE g.group_id = ?", group) == [(moved, moved)]
    assert srv.db_rows("SELECT rev FROM message_clock") == [(clock + RESTORE_CLOCK_GAP,)]
    srv.start()
    again = await srv.client()
    await again.login("alice", "password123")
    assert (await again.send(gid, "two"))["seq"] == 502
    assert (await again.send(quiet, "first words here"))["seq"] == 501
    found = (await again.request("search", group_id=quiet, query="words"))["messages"]  # not rate_limited
    assert [m["seq"] for m in found] == [501]
    await again.close()


async def test_a_backup_restored_on_a_new_machine_serves_its_data(tmp_path, started):
    """No database yet where the config points (a new machine): the backup is put there, nothing set
    aside; with the identity key copied over, its identity data opens."""
    old = started(ops.server(tmp_path, subdir="old"))
    alice = await old.user("alice", verify_id=True)
    gid = await open_group(alice)
    await alice.send(gid, "moved")
    await alice.close()
    backup = tmp_path / "backup.db"
    rc, _, err = await old.admin("backup", "--out", str(backup))
    assert rc == 0, err
    await old.stopped()
    new = ops.server(tmp_path, subdir="new")
    (new.dir / "identity.key").write_bytes((old.dir / "identity.key").read_bytes())
    (new.dir / "qunguan.db").unlink(missing_ok=True)  # (the harness puts a migrated empty one there)
    rc, out, err = await restore(new, str(backup))
    assert rc == 0, err
    assert "the database it replaced" not in out and not [p for p in new.dir.iterdir() if ".replaced-" in p.name]
    started(new)
    again = await new.client()
    await again.login("alice", "password123")
    assert (await again.request("me"))["id_verified"] is True
    assert [m["text"] for m in (await again.request("history", group_id=gid))["messages"]] == ["moved"]
    await again.close()
