"""The enforcement record cannot be quietly rewritten (Art. 11, G11): keyed chain and checkpoints.

Each test tampers with the database (SQLite file or PostgreSQL) the way someone with write access to
the database (but not to the identity key file) could, then runs
``qunguan admin verify-audit`` as the operator would.
"""

from __future__ import annotations

import asyncio
import json
import re

from governance.audit import GENESIS, entry_hash, entry_mac
from server import record
from tests.e2e.harness import open_group
from tests.e2e.ops_helpers import job_last_run, until_job_ran

FAST_CHECKPOINTS = "\n[audit]\ncheckpoint_interval_seconds = 1\n"
COLS = ("id", "ts", "actor_type", "actor_id", "action", "group_id", "target_id", "reason", "detail",
        "prev_hash", "hash", "mac")


async def some_record(srv, n: int = 4) -> str:
    owner = await srv.user()
    member = await srv.user()
    gid = await open_group(owner)
    await member.request("join_group", group_id=gid)
    for i in range(n):
        await owner.request("set_announcement", group_id=gid, text=f"rules v{i}")
    return gid


def entries(srv) -> list[dict]:
    return [dict(zip(COLS, r, strict=True)) for r in srv.db_rows(f"SELECT {', '.join(COLS)} FROM audit ORDER BY id")]


async def verify(srv, *extra: str) -> tuple[int, str]:
    rc, out, err = await srv.admin("verify-audit", *extra)
    return rc, out + err


async def wait_for_checkpoint(srv, count: int) -> None:
    path = srv.dir / "audit-checkpoints.jsonl"
    for _ in range(100):
        if path.exists():
            lines = path.read_text().splitlines()
            if lines and json.loads(lines[-1])["count"] >= count:
                return
        await asyncio.sleep(0.1)
    raise AssertionError("no checkpoint was written")


async def test_an_edited_entry_is_named(make_server):
    srv = make_server()
    await some_record(srv)
    assert (await verify(srv))[0] == 0
    srv.db_rows("UPDATE audit SET reason = 'nothing happened' WHERE id = 2")
    rc, out = await verify(srv)
    assert rc == 1 and "entry 2" in out


async def test_a_deleted_entry_in_the_middle_is_named(make_server):
    srv = make_server()
    await some_record(srv)
    srv.db_rows("DELETE FROM audit WHERE id = 3")
    rc, out = await verify(srv)
    assert rc == 1 and "entry 3" in out and "missing" in out


async def test_two_entries_swapped_are_named(make_server):
    """Re-ordering the record (entry 2's whole row moved to id 3 and back) is caught at the first moved one."""
    srv = make_server()
    await some_record(srv)
    rows = {e["id"]: e for e in entries(srv)}
    for eid, other in ((2, 3), (3, 2)):
        e = rows[other]
        srv.db_rows("UPDATE audit SET ts = ?, actor_type = ?, actor_id = ?, action = ?, group_id = ?, target_id = ?,"
                    " reason = ?, detail = ?, prev_hash = ?, hash = ?, mac = ? WHERE id = ?",
                    *(e[k] for k in COLS[1:]), eid)
    rc, out = await verify(srv)
    assert rc == 1 and "entry 2" in out


async def test_a_chain_recomputed_without_the_key_is_detected(make_server):
    """Edit an entry, then rewrite every link after it: the unkeyed hashes are perfect, the macs are not."""
    srv = make_server()
    await some_record(srv)
    srv.db_rows("UPDATE audit SET reason = 'rewritten' WHERE id = 2")
    prev_hash, prev_mac = GENESIS, GENESIS
    for e in entries(srv):
        e["prev_hash"] = prev_hash
        e["hash"] = entry_hash(prev_hash, e)
        e["mac"] = entry_mac(b"a guess at the key", prev_mac, e)
        srv.db_rows("UPDATE audit SET prev_hash = ?, hash = ?, mac = ? WHERE id = ?",
                    e["prev_hash"], e["hash"], e["mac"], e["id"])
        prev_hash, prev_mac = e["hash"], e["mac"]
    rc, out = await verify(srv)
    assert rc == 1 and "entry 1" in out and "key" in out


async def test_a_removed_tail_is_caught_by_the_checkpoint_file(make_server):
    srv = make_server(FAST_CHECKPOINTS)
    await some_record(srv)
    total = len(entries(srv))
    await wait_for_checkpoint(srv, total)
    srv.db_rows("DELETE FROM audit WHERE id > ?", total - 2)
    rc, out = await verify(srv)
    # "entries from {total - 1} to {total} were removed", or, when a checkpoint written earlier (under
    # load, one may come while the record is made) still agrees, "entries from 2 to {total} were
    # removed, those up to ... written in their place": what that checkpoint did not see is unvouched
    assert rc == 1 and f" to {total} were removed" in out, out


async def test_a_removed_tail_is_caught_by_an_export_manifest(make_server, tmp_path):
    """Even with the checkpoint file gone too, the head in a manifest handed to the authorities still binds."""
    srv = make_server()
    gid = await some_record(srv)
    out_dir = tmp_path / "export"
    rc, _, err = await srv.admin("export", "--group", gid, "--out", str(out_dir))
    assert rc == 0, err
    manifest = json.loads((out_dir / "manifest.json").read_text())
    head = manifest["record_head"]
    assert head["count"] == len(entries(srv)) - 1  # the export's own entry comes after its head
    await srv.stopped()
    (srv.dir / "audit-checkpoints.jsonl").unlink()
    srv.db_rows("DELETE FROM audit WHERE id >= ?", head["last_id"])
    # A thorough hand also moves the database's head row back to the last entry left.
    srv.db_rows("UPDATE audit_head SET last_id = a.id, hash = a.hash, mac = a.mac FROM audit AS a"
                " WHERE a.id = (SELECT MAX(id) FROM audit)")
    srv.start()
    assert (await verify(srv))[0] == 0  # the shortened chain is whole on its own...
    rc, out = await verify(srv, "--manifest", str(out_dir / "manifest.json"))
    assert rc == 1 and "removed" in out  # ...but not against the head the manifest carries


async def keyless_entries(srv, n: int) -> None:
    """``n`` entries appended by the store opened by itself, without the record key (as a database
    from before the keyed chain holds them): the server is stopped."""
    from server.storage import changes as ch

    if srv.backend == "postgresql":
        from server.storage.postgres import PostgresStore

        store = PostgresStore(srv.pg_url)
    else:
        from server.storage.sqlite import SqliteStore

        store = SqliteStore(srv.dir / "qunguan.db")
    await store.open()
    try:
        for i in range(n):
            await store.apply(audit=ch.Audit(1000 + i, "system", None, f"before the key {i}"))
    finally:
        await store.close()


async def test_a_record_from_before_the_key_is_sealed_by_seal_record_never_at_start(make_server):
    """A record from before the keyed chain is not sealed at start (an ERROR names its first entry and
    the command), nor by the checkpoint job; the operator's ``seal-record`` gives it its macs, records
    how many in an entry of its own, and the record verifies. Run again, it has nothing to seal."""
    srv = make_server(FAST_CHECKPOINTS)
    await srv.stopped()
    await keyless_entries(srv, 3)
    assert [e["mac"] for e in entries(srv)] == [None, None, None]
    srv.start()
    assert await srv.logged("enforcement-record entry 1 has no mac and is not sealed")
    assert await srv.logged("qunguan admin seal-record")
    await some_record(srv, n=1)  # appended while the beginning is unsealed: part of it, without a mac
    await until_job_ran(srv, record.JOB, times=2)  # two checkpoint runs since: an unsealed head gets no line
    assert not any(e["mac"] for e in entries(srv))
    assert (await verify(srv))[0] == 1
    unsealed = len(entries(srv))
    rc, out, err = await srv.admin("seal-record", "--reason", "upgraded from before the keyed record")
    assert rc == 0 and f"sealed {unsealed} enforcement-record entries" in out, out + err
    rows = entries(srv)
    assert len(rows) == unsealed + 1 and all(e["mac"] for e in rows)
    assert rows[-1]["action"] == "seal_record" and json.loads(rows[-1]["detail"]) == {"sealed": unsealed}
    assert rows[-1]["reason"] == "upgraded from before the keyed record"
    assert (await verify(srv))[0] == 0
    rc, out, err = await srv.admin("seal-record")
    assert rc == 2 and "nothing to seal" in err, out + err
    await some_record(srv, n=1)
    assert (await verify(srv))[0] == 0


async def test_a_stripped_and_edited_record_is_not_sealed_at_start(make_server):
    """The attack on sealing at start: someone with the database but not the key strips every mac (the
    head row's too), edits an entry and recomputes the unkeyed chain, where no checkpoint line exists
    (the file gone, a node whose own file never got one). Before, the next start sealed it all and
    verify-audit said whole. Now a start seals nothing and verify-audit names it; ``seal-record``,
    with a checkpoint that saw the record sealed, refuses (exit 2)."""
    srv = make_server(FAST_CHECKPOINTS)
    await some_record(srv)
    await wait_for_checkpoint(srv, len(entries(srv)))
    await srv.stopped()
    cp_file = srv.dir / "audit-checkpoints.jsonl"
    kept = cp_file.read_bytes()
    cp_file.unlink()
    prev = GENESIS
    for e in entries(srv):
        if e["id"] == 3:
            e["action"] = "forged"
        e["prev_hash"], e["hash"] = prev, entry_hash(prev, e)
        prev = e["hash"]
        srv.db_rows("UPDATE audit SET action = ?, prev_hash = ?, hash = ?, mac = NULL WHERE id = ?",
                    e["action"], e["prev_hash"], e["hash"], e["id"])
    srv.db_rows("UPDATE audit_head SET hash = ?, mac = NULL", prev)
    srv.start()
    assert await srv.logged("enforcement-record entry 1 has no mac and is not sealed")
    assert not any(e["mac"] for e in entries(srv))
    rc, out = await verify(srv)
    assert rc == 1 and "entry 1" in out and "no keyed mac" in out, out
    await srv.stopped()
    cp_file.write_bytes(kept)  # the checkpoints that saw the record sealed, back
    srv.start()
    rc, out, err = await srv.admin("seal-record")
    assert rc == 2 and "saw the record sealed" in err, out + err
    assert not any(e["mac"] for e in entries(srv))
    assert (await verify(srv))[0] == 1


async def test_a_forged_entry_without_a_mac_is_never_sealed(make_server):
    """Someone with the database (not the key) appends an entry whose hash link is right and which
    has no mac, and restarts the server: the seal at start gave it a valid mac, and verify-audit said
    the record was whole. Only the record's unsealed beginning is sealed (entries written before the
    key existed); this one is named by verify-audit, and the server's own entries go on from the last
    entry it appended, with their macs."""
    srv = make_server()
    await some_record(srv)
    rows = entries(srv)
    last = rows[-1]
    forged = {"id": last["id"] + 1, "ts": last["ts"] + 1, "actor_type": "operator", "actor_id": "operator",
              "action": "lift_sanction", "group_id": None, "target_id": "u-someone", "reason": "forged",
              "detail": "{}"}
    forged["prev_hash"], forged["hash"], forged["mac"] = last["hash"], entry_hash(last["hash"], forged), None
    await srv.stopped()
    srv.db_rows(f"INSERT INTO audit ({', '.join(COLS)}) VALUES ({', '.join('?' * len(COLS))})",
                *(forged[k] for k in COLS))
    srv.start()
    assert entries(srv)[-1]["mac"] is None  # not sealed
    assert await srv.logged(f"enforcement-record entry {forged['id']} has no mac and is not sealed")
    rc, out = await verify(srv)
    assert rc == 1 and f"entry {forged['id']}" in out and "no keyed mac" in out, out
    await some_record(srv, n=1)  # the server's next entries: sealed, linked to its own last entry
    after = entries(srv)[len(rows) + 1:]
    assert after and all(e["mac"] for e in after) and after[0]["prev_hash"] == last["hash"]
    # Stripping every mac (the head row's too) does not get the forgery sealed either: a start never
    # seals (and seal-record would refuse: a checkpoint saw the record sealed).
    await srv.stopped()
    srv.db_rows("UPDATE audit SET mac = NULL")
    srv.db_rows("UPDATE audit_head SET mac = NULL")
    srv.start()
    assert not any(e["mac"] for e in entries(srv))
    assert (await verify(srv))[0] == 1


async def test_an_entry_without_a_mac_after_a_sealed_one_is_never_sealed(make_server):
    """Entries appended without the key after the record was sealed (by the store opened by itself,
    or by hand) are not the record's beginning: they stay unsealed and named, even with the
    checkpoint file gone."""
    srv = make_server()
    await some_record(srv, n=1)
    sealed = len(entries(srv))
    await srv.stopped()
    await keyless_entries(srv, 2)
    (srv.dir / "audit-checkpoints.jsonl").unlink()
    srv.start()
    assert [e["mac"] is None for e in entries(srv)][sealed:] == [True, True]
    rc, out = await verify(srv)
    assert rc == 1 and f"entry {sealed + 1}" in out, out


async def test_the_newest_entries_deleted_are_detected_and_their_ids_never_reused(make_server):
    """Deleting the last entries of the record was not detected until a checkpoint (every 60 s) had
    seen them, and the next append linked to whatever was last, reusing the deleted ids and hiding
    the removal for good. The database's head row and the server's memory of its last entry catch it
    at once, and the next entry continues from the last one appended, leaving the gap."""
    srv = make_server("\n[audit]\ncheckpoint_interval_seconds = 3600\n")
    owner = await srv.user()
    gid = await open_group(owner)
    await asyncio.sleep(0.3)  # the first checkpoint (at the start, of an empty record) is behind us
    for reason in ("first", "second"):
        rc, _, err = await srv.admin("warn-group", gid, "--reason", reason)
        assert rc == 0, err
    total = len(entries(srv))
    srv.db_rows("DELETE FROM audit WHERE id = ?", total)
    rc, out = await verify(srv)
    assert rc == 1 and "removed" in out and f"entry {total}" in out, out
    rc, _, err = await srv.admin("warn-group", gid, "--reason", "third")
    assert rc == 0, err
    assert [e["id"] for e in entries(srv)][-2:] == [total - 1, total + 1]  # id 'total' is not used again
    assert await srv.logged("the enforcement record was changed outside the server")
    rc, out = await verify(srv)
    assert rc == 1 and f"entry {total} is missing" in out, out
    # After a restart the database's head row (and the gap) still tell.
    await srv.stopped()
    srv.start()
    assert (await verify(srv))[0] == 1


async def test_a_removed_tail_with_the_head_row_moved_back_is_caught_by_the_running_server(make_server):
    """The tail deleted and the head row moved back to the last entry left, while the server runs and
    before any checkpoint saw the tail: the server remembers the last entry it appended. verify-audit
    says so, the next entry does not reuse the ids, and the checkpoint written at shutdown carries the
    entry the server appended, so the removal outlives a restart too."""
    srv = make_server("\n[audit]\ncheckpoint_interval_seconds = 3600\n")
    owner = await srv.user()
    gid = await open_group(owner)
    await asyncio.sleep(0.3)
    for reason in ("first", "second", "third"):
        rc, _, err = await srv.admin("warn-group", gid, "--reason", reason)
        assert rc == 0, err
    total = len(entries(srv))
    srv.db_rows("DELETE FROM audit WHERE id >= ?", total - 1)
    srv.db_rows("UPDATE audit_head SET last_id = a.id, hash = a.hash, mac = a.mac FROM audit AS a"
                " WHERE a.id = ?", total - 2)
    rc, out = await verify(srv)
    assert rc == 1 and "removed" in out and "the last entry this server appended" in out, out
    await srv.stopped()  # the shutdown checkpoint names the last entry the server appended
    srv.start()
    rc, out = await verify(srv)
    assert rc == 1 and "removed" in out and f"entry {total}" in out, out
    rc, _, err = await srv.admin("warn-group", gid, "--reason", "fourth")
    assert rc == 0, err
    assert (await verify(srv))[0] == 1  # (the checkpoint names an entry that is gone or differs)


async def test_a_reload_that_shortens_the_checkpoint_interval_applies_to_the_wait_under_way(make_server):
    """With an hour between checkpoints, a SIGHUP that sets one second writes the next within seconds,
    not an hour later."""
    import signal

    srv = make_server("\n[audit]\ncheckpoint_interval_seconds = 3600\n")
    await some_record(srv, n=1)
    while not job_last_run(srv, record.JOB):  # the job recorded its start (a first run); the hour's wait began
        await asyncio.sleep(0.02)
    await some_record(srv, n=1)
    total = len(entries(srv))
    text = srv.config.read_text(encoding="utf-8")
    srv.config.write_text(text.replace("checkpoint_interval_seconds = 3600", "checkpoint_interval_seconds = 1"),
                          encoding="utf-8")
    srv.proc.send_signal(signal.SIGHUP)
    await wait_for_checkpoint(srv, total)  # within 10 s


async def test_a_checkpoint_file_with_a_line_that_is_not_utf8_is_read_past(make_server, tmp_path):
    """The job read the file once at its start, outside its guard: one byte that is not UTF-8 ended
    it, silently, and no checkpoint was written again until a restart (which ended it again). The
    damaged line is skipped and logged, by the job and by verify-audit, and checkpoints go on."""
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "audit-checkpoints.jsonl").write_bytes(b"\xff\xfe not a checkpoint\n")
    srv = make_server(FAST_CHECKPOINTS)
    await some_record(srv)
    total = len(entries(srv))
    path = srv.dir / "audit-checkpoints.jsonl"
    for _ in range(100):
        lines = path.read_bytes().splitlines()
        if len(lines) > 1 and json.loads(lines[-1])["count"] >= total:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("no checkpoint was written after the damaged line")
    assert lines[0].startswith(b"\xff")
    assert await srv.logged("audit-checkpoints.jsonl line 1 is not a checkpoint (not UTF-8 text); skipped")
    rc, out = await verify(srv)
    assert rc == 0 and "whole" in out, out


async def test_a_checkpoint_file_that_cannot_be_read_is_a_refusal_with_its_reason(make_server):
    """verify-audit with its checkpoint file unreadable (here a folder in its place) is exit 2 with one
    line saying so, as seal-record answers: it was an internal error (exit 3) with a traceback."""
    srv = make_server()
    await some_record(srv)
    path = srv.dir / "audit-checkpoints.jsonl"
    path.unlink(missing_ok=True)
    path.mkdir()
    rc, out, err = await srv.admin("verify-audit")
    assert rc == 2 and out == "" and "cannot read the checkpoint file" in err and len(err.strip().splitlines()) == 1


async def test_a_restored_backup_verifies_once_the_checkpoint_file_is_moved_aside(tmp_path, started):
    """docs/operations.md "Backup": a restore loses the entries written after the backup, and the
    checkpoint file (kept apart from the database, as it should be) still names them, so verify-audit
    reports them removed for good, just like tampering. The documented steps after a legitimate restore:
    move the checkpoint file aside (kept: it is the evidence of what the restore lost, checked with
    ``verify-audit --checkpoint-file``) and start; the server writes a new file from the restored head."""
    import shutil
    import sqlite3
    from contextlib import closing

    from tests.e2e.harness import ServerProcess

    (tmp_path / "srv").mkdir()
    srv = started(ServerProcess(tmp_path / "srv", FAST_CHECKPOINTS))
    gid = await some_record(srv, n=1)
    backup = tmp_path / "backup.db"
    rc, _, err = await srv.admin("backup", "--out", str(backup))
    assert rc == 0, err
    with closing(sqlite3.connect(backup)) as con:
        [(restored,)] = con.execute("SELECT COUNT(*) FROM audit").fetchall()
    rc, _, err = await srv.admin("warn-group", gid, "--reason", "after the backup")
    assert rc == 0, err
    lost = len(entries(srv))
    assert lost > restored
    await wait_for_checkpoint(srv, lost)  # the checkpoint file saw the entry the restore will lose
    await srv.stopped()
    for suffix in ("", "-wal", "-shm"):
        (srv.dir / f"qunguan.db{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, srv.dir / "qunguan.db")

    srv.start()  # without the steps: the loss is reported (rightly), and stays
    rc, out = await verify(srv)
    assert rc == 1 and f"entries from {restored + 1} to {lost} were removed" in out, out
    # ... and the log says so, and what to do, when the next checkpoint finds the file ahead of the record
    assert await srv.logged(f"names entry {lost}, but the record ends at entry {restored}")
    await srv.stopped()

    kept = srv.dir / "audit-checkpoints.before-restore.jsonl"
    (srv.dir / "audit-checkpoints.jsonl").rename(kept)  # the documented step
    srv.start()
    rc, out = await verify(srv)
    assert rc == 0 and f"whole: {restored} entries" in out, out
    await wait_for_checkpoint(srv, restored)  # a new file, from the restored head
    rc, _, err = await srv.admin("warn-group", gid, "--reason", "after the restore")
    assert rc == 0, err
    await wait_for_checkpoint(srv, restored + 1)
    rc, out = await verify(srv)
    assert rc == 0 and f"whole: {restored + 1} entries" in out, out
    # The file kept aside still says what the restore lost: the backup's own record entry (written
    # once the copy was made, so never in it) and the warning after it, which the one entry written
    # since does not make up for.
    assert lost == restored + 2
    rc, out = await verify(srv, "--checkpoint-file", str(kept))
    # (which entry it names first depends on whether a checkpoint fell between the two)
    broken = re.search(r"broken at entry (\d+)", out)
    assert rc == 1 and broken is not None and restored < int(broken.group(1)) <= lost, out


async def test_a_checkpoint_file_of_months_is_verified_in_full(make_server, tmp_path):
    """``verify-audit --checkpoint-file`` sent every line of the file in one request: the file is never
    pruned, and past about 35,000 lines (weeks of activity) the socket refused it ("over 4 MiB"; a
    cluster's gateway could not forward it at all). 60,000 distinct heads (6 MiB) are all checked now,
    the last line too, and the finding is the one a single request would give. The batches but the last
    are sent ahead, and the record is read and checked once against all of them (it was read once a batch:
    the one reply counts every head)."""
    srv = make_server()
    await some_record(srv)
    record = entries(srv)
    lines = [json.dumps({"ts": 1_700_000_000_000 + i, "count": 100 + i, "last_id": e["id"], "mac": e["mac"]})
             for i in range(60_000) for e in [record[i % len(record)]]]
    kept = tmp_path / "kept.jsonl"
    kept.write_text("\n".join(lines) + "\n")
    assert kept.stat().st_size > 6 * 1024 * 1024
    rc, out = await verify(srv, "--checkpoint-file", str(kept))
    assert rc == 0 and f"whole: {len(record)} entries; 60000 record heads given checked" in out, out
    # A line that no longer holds, at the file's very end, is still found.
    last = record[-1]
    with kept.open("a") as f:
        f.write(json.dumps({"ts": 1_800_000_000_000, "count": 5, "last_id": last["id"], "mac": "0" * 64}) + "\n")
    rc, out = await verify(srv, "--checkpoint-file", str(kept))
    assert rc == 1 and f"broken at entry {last['id']}" in out and "(1800000000000)" in out, out


async def test_the_server_and_the_cli_read_a_checkpoint_file_by_one_rule(make_server, tmp_path):
    """The server read its checkpoint file with int() on each field (``"ts": "5"``, ``1.0``, even
    ``1.5`` were heads), ``verify-audit --checkpoint-file`` with the socket's rule (whole numbers
    only): the same file gave two findings. Both read it by one rule now: such a line is skipped and
    named, by the server in its log and by the CLI on stderr, and the findings agree."""
    (tmp_path / "srv").mkdir()
    own = tmp_path / "srv" / "audit-checkpoints.jsonl"
    odd = [{"ts": "5", "count": 1, "last_id": 1, "mac": "0" * 64},
           {"ts": 1.0, "count": 1, "last_id": 1, "mac": "0" * 64},
           {"ts": 1, "count": 1.5, "last_id": 1, "mac": "0" * 64}]
    own.write_text("".join(json.dumps(d) + "\n" for d in odd))
    srv = make_server()
    await some_record(srv)
    rc, out = await verify(srv)
    assert rc == 0 and "whole" in out, out
    for n in (1, 2, 3):
        assert await srv.logged(f"audit-checkpoints.jsonl line {n} is not a checkpoint (the head ")
    kept = tmp_path / "kept.jsonl"
    kept.write_text(own.read_text().splitlines(keepends=True)[0] * 2 + "".join(
        json.dumps(d) + "\n" for d in odd[1:]))
    rc, out = await verify(srv, "--checkpoint-file", str(kept))
    assert rc == 2 and "no line in it is a checkpoint" in out and "line 4 is not a checkpoint" in out, out
