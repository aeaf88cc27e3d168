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
