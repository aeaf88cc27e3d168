"""``qunguan admin backup`` on SQLite: refused, with what is needed, when the database's own disk
cannot hold its copies and the server's writes meanwhile (a reviewer filled a 90 MB disk so: live
sends failed while the copy grew, and the error named the --out file); and a backup killed half-way
leaves a hidden full-size partial file, which the next backup to that name removes."""

from __future__ import annotations

import json
import os
import time

from server.app import App
from server.operator.channel import CURRENT, Operator
from server.storage import sqlite


async def _backup(app: App, out) -> dict:
    CURRENT.set(Operator("op", "admin", 0, False))
    return await app.operator.run(json.dumps({"cmd": "backup", "args": {"out": str(out)}}).encode())


async def test_a_backup_is_refused_when_the_databases_disk_has_no_room_for_it(app: App, tmp_path, monkeypatch):
    db = app.store.path
    size = db.stat().st_size + (db.with_name(db.name + "-wal").stat().st_size
                                if db.with_name(db.name + "-wal").exists() else 0)
    # (the disk's free space as statvfs would report it on a nearly full disk: filling a real one
    # needs a mount this test cannot make)
    monkeypatch.setattr(sqlite, "_free_bytes", lambda path: 2 * size + sqlite.BACKUP_SPARE_BYTES - 1)
    reply = await _backup(app, tmp_path / "b.db")
    assert reply["ok"] is False and "the disk holding the database" in reply["error"], reply
    assert "its copy and the backup" in reply["error"] and "write the backup to another disk" in reply["error"]
    assert not (tmp_path / "b.db").exists()
    assert not [p for p in db.parent.iterdir() if p.name.startswith(".backup-")]
    monkeypatch.setattr(sqlite, "_free_bytes", lambda path: 2 * size + sqlite.BACKUP_SPARE_BYTES + 2**20)
    assert (await _backup(app, tmp_path / "b.db"))["ok"] is True


async def test_a_backup_removes_the_partial_file_an_unfinished_one_left(app: App, tmp_path) -> None:
    out = tmp_path / "backups"
    out.mkdir()
    abandoned, writing = out / ".b.db.0123456789ab.partial", out / ".b.db.ba9876543210.partial"
    other = out / ".c.db.0123456789ab.partial"  # (another name's: not this backup's to judge)
    for p in (abandoned, writing, other):
        p.write_bytes(b"half a database")
    old = time.time() - sqlite.PARTIAL_ABANDONED_S - 60
    os.utime(abandoned, (old, old))
    os.utime(other, (old, old))
    assert (await _backup(app, out / "b.db"))["ok"] is True
    assert sorted(p.name for p in out.iterdir()) == sorted(["b.db", writing.name, other.name])


async def test_a_backup_whose_record_entry_fails_leaves_the_earlier_backup_of_that_name(
        app: App, tmp_path, monkeypatch) -> None:
    """A backup not on the record is not kept; it replaced an earlier backup of the same name first,
    then was removed, and no backup was left under that name (the backup review). The entry is now
    written before the copy takes the name: when it fails, the earlier backup stays as it was."""
    from server.operator import backup as backup_command

    out = tmp_path / "nightly.db"
    assert (await _backup(app, out))["ok"] is True
    earlier = out.read_bytes()

    async def refused(*args, **kwargs):
        raise OSError("the database is not answering")

    monkeypatch.setattr(backup_command, "apply", refused)
    reply = await _backup(app, out)
    assert reply["ok"] is False, reply
    assert out.read_bytes() == earlier
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
