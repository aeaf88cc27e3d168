"""``qunguan restore`` (server/restore.py, server/storage/sqlite_backups.py) at its edges, from an
operations review (each test failed on the code it was written against): backup file names that are
not plain, a lost database's ``-wal`` left without it, the copy a failed swap keeps given back to the
restore, and two restores within one second."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from tests.e2e import ops_helpers as ops
from tests.e2e.harness import ROOT, ServerProcess, open_group
from tests.e2e.test_restore import restore


async def restore_within(srv: ServerProcess, seconds: float, *args: str) -> tuple[int | None, str, str]:
    """``qunguan restore`` as test_restore.restore runs it, killed when it runs past ``seconds`` (rc None)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "restore", "--config", str(srv.config), *args,
        cwd=srv.dir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        out, err = await asyncio.wait_for(proc.communicate(), seconds)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None, "", "(still running: killed)"
    return proc.returncode or 0, out.decode(), err.decode()


def _integrity(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")]


@pytest.mark.parametrize("name", ["backup #2.db", "backup?.db", "qunguan-100%25.db"])
async def test_a_backup_file_whose_name_has_uri_characters_restores(tmp_path, started, name):
    """Guards the percent-quoted read-only URI (sqlite_backups.read_only): `qunguan admin backup --out`
    writes any file name, and `qunguan restore` opened it as ``file:PATH?mode=ro``, so a '#', '?' or '%'
    in the name named another file: the backup was refused as "not a qunguan database" and an empty file
    was made beside it under the cut-off name."""
    srv = started(ops.server(tmp_path))
    alice = await srv.user("alice")
    gid = await open_group(alice)
    await alice.send(gid, "kept")
    await alice.close()
    folder = tmp_path / "backups"
    folder.mkdir()
    backup = folder / name
    rc, _, err = await srv.admin("backup", "--out", str(backup))
    assert rc == 0, err
    await srv.stopped()
    rc, out, err = await restore(srv, str(backup))
    strays = sorted(p.name for p in folder.iterdir() if p.name != name)
    assert rc == 0 and strays == [], (rc, err, strays)
    srv.start()
    again = await srv.client()
    await again.login("alice", "password123")
    assert [m["text"] for m in (await again.request("history", group_id=gid))["messages"]] == ["kept"]
    await again.close()



async def test_restore_of_a_backup_named_with_a_hash_does_not_restore_another_file(tmp_path, started):
    """Guards the same quoting where it did the most harm: of two backups, `chat.db` then `chat.db#2`,
    restoring the second one put the first in the database's place (the URI cut the name at '#'), and
    said it restored `chat.db#2`."""
    srv = started(ops.server(tmp_path))
    alice = await srv.user("alice")
    gid = await open_group(alice)
    await alice.send(gid, "first")
    rc, _, err = await srv.admin("backup", "--out", str(tmp_path / "chat.db"))
    assert rc == 0, err
    await alice.send(gid, "second")
    rc, _, err = await srv.admin("backup", "--out", str(tmp_path / "chat.db#2"))
    assert rc == 0, err
    await alice.close()
    await srv.stopped()
    rc, out, err = await restore(srv, str(tmp_path / "chat.db#2"))
    assert rc == 0, err
    srv.start()
    again = await srv.client()
    await again.login("alice", "password123")
    texts = [m["text"] for m in (await again.request("history", group_id=gid))["messages"]]
    await again.close()
    assert texts == ["first", "second"], (out, texts)


async def test_restore_where_only_the_wal_of_the_lost_database_is_left_does_not_replay_it(tmp_path, started):
    """Guards that the live -wal and -shm are moved aside even when the database file is gone: the disk
    lost qunguan.db but the crash's -wal (and -shm) are still there, and left beside the restored copy
    SQLite replays that old WAL into it, undoing the restore without a word (the very trap the restore
    exists to avoid, docs/operations.md "Backup"). They are kept, not deleted: they are evidence."""
    srv = started(ops.server(tmp_path))
    alice = await srv.user("alice")
    gid = await open_group(alice)
    for i in range(5):
        await alice.send(gid, f"kept {i}")
    backup = tmp_path / "backup.db"
    rc, _, err = await srv.admin("backup", "--out", str(backup))
    assert rc == 0, err
    for i in range(40):
        await alice.send(gid, f"lost {i} " + "x" * 500)
    await alice.close()
    srv.kill9()
    db = srv.dir / "qunguan.db"
    wal = srv.dir / "qunguan.db-wal"
    assert wal.stat().st_size > 0
    db.unlink()  # the database file is gone (damaged and removed by the operator); the WAL is still there
    rc, out, err = await restore(srv, str(backup))
    assert rc == 0, err
    leftovers = [p.name for p in srv.dir.iterdir() if p.name in ("qunguan.db-wal", "qunguan.db-shm")]
    srv.start()
    again = await srv.client()
    await again.login("alice", "password123")
    texts = [m["text"] for m in (await again.request("history", group_id=gid))["messages"]]
    await again.close()
    await srv.stopped()
    restored = srv.db_rows("SELECT count(*) FROM audit WHERE action = 'restore_backup'")
    hold = srv.db_rows("SELECT count(*) FROM job_runs WHERE name = 'restore'")
    seq = srv.db_rows("SELECT last_seq FROM groups WHERE group_id = ?", gid)
    assert _integrity(db) == ["ok"], (leftovers, _integrity(db)[:3])
    assert texts == [f"kept {i}" for i in range(5)], (leftovers, len(texts), restored, hold, seq)
    assert leftovers == [] and restored == [(1,)], (leftovers, restored)
    [kept] = [p for p in srv.dir.iterdir() if p.name.startswith("qunguan.db.replaced-") and p.name.endswith("-wal")]
    assert kept.stat().st_size > 0 and f"{kept.name[:-4]}" in out, (kept, out)



async def test_restoring_the_copy_a_failed_swap_left_does_not_destroy_it(tmp_path, started):
    """Guards the refusal of a source that is the restore's own copy (or a live file): a restore whose
    swap failed keeps its copy as qunguan.db.restoring ("rename it by hand"); an operator who gives that
    file to `qunguan restore` instead had it truncated by the copy onto itself, and the restore hung.
    It must be refused (exit 2, one line, the file untouched) or restored, never destroyed."""
    srv = started(ops.server(tmp_path))
    alice = await srv.user("alice")
    gid = await open_group(alice)
    await alice.send(gid, "precious")
    await alice.close()
    backup = tmp_path / "backup.db"
    rc, _, err = await srv.admin("backup", "--out", str(backup))
    assert rc == 0, err
    await srv.stopped()
    db = srv.dir / "qunguan.db"
    left = srv.dir / "qunguan.db.restoring"
    left.write_bytes(backup.read_bytes())  # (what a failed swap leaves, the database moved aside)
    db.rename(srv.dir / "qunguan.db.replaced-20260101T000000Z")
    rc, out, err = await restore_within(srv, 30, str(left))
    size = left.stat().st_size if left.exists() else None
    assert rc is not None, f"the restore still ran after 30 s; {left.name} is now {size} bytes"
    if rc == 0:
        srv.start()
        again = await srv.client()
        await again.login("alice", "password123")
        texts = [m["text"] for m in (await again.request("history", group_id=gid))["messages"]]
        await again.close()
        assert texts == ["precious"], texts
    else:
        assert rc == 2 and left.exists() and left.read_bytes() == backup.read_bytes(), (rc, err)
        assert err.count("\n") == 1 and f"rename it to {db}" in err, err  # (one line, saying what to do)


def test_copy_backup_refuses_to_copy_a_file_onto_itself(tmp_path):
    """Guards copy_backup's own check (whoever calls it): a source that is its destination, or the
    destination's -wal or -shm, is refused before anything is deleted, not emptied and copied onto itself."""
    from server.storage.sqlite_backups import BackupRefused, copy_backup

    db = tmp_path / "a.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
    before = db.read_bytes()
    os.link(db, tmp_path / "b.db-wal")
    for dest in (db, tmp_path / "sub" / ".." / "a.db", tmp_path / "b.db"):
        with pytest.raises(BackupRefused):
            copy_backup(db, dest)
    assert db.read_bytes() == before


async def test_a_second_restore_in_the_same_second_keeps_the_first_replaced_database(tmp_path, started):
    """Guards that a name kept aside is never reused: each restore keeps the database it replaces as
    qunguan.db.replaced-STAMP; a second restore with the same STAMP (one second's resolution: a scripted
    restore run again, a wrong backup corrected at once) renamed its own replaced database over the first
    one, the only copy of what the first restore lost (and the same for FILE.before-restore-STAMP)."""
    from server.config import load_config
    from server.restore import restore as do_restore

    srv = started(ops.server(tmp_path))
    alice = await srv.user("alice")
    gid = await open_group(alice)
    await alice.send(gid, "in the backup")
    backup = tmp_path / "backup.db"
    rc, _, err = await srv.admin("backup", "--out", str(backup))
    assert rc == 0, err
    await alice.send(gid, "only in the live database")
    await alice.close()
    await srv.stopped()
    cfg = load_config(srv.config)
    for n in range(2):
        cfg.audit.checkpoint_file.write_text(f"checkpoints before restore {n}\n")
        await do_restore(cfg, backup, 1000, clock=lambda: 1_780_000_000.0)
    asides = sorted(p.read_text() for p in cfg.audit.checkpoint_file.parent.iterdir() if ".before-restore-" in p.name)
    assert asides == [f"checkpoints before restore {n}\n" for n in range(2)], asides
    kept = [p for p in srv.dir.iterdir() if ".replaced-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    texts = []
    for p in kept:
        with sqlite3.connect(p) as conn:
            texts += [r[0] for r in conn.execute("SELECT text FROM messages")]
    assert "only in the live database" in texts, [p.name for p in kept]
    assert len(kept) == 2, [p.name for p in kept]

