"""The store that can no longer tell what it holds ends the server, which starts again from the store.

SQLite: a COMMIT that fails with an I/O error (status 74). The test lowers the running server's
file size limit (``RLIMIT_FSIZE``, from outside with ``prlimit``): the WAL frames of the next
commit cannot be written, a real ``SQLITE_IOERR_WRITE`` at its COMMIT. Python ignores SIGXFSZ, so
the write fails instead of the process being killed. (A failed fsync, the case that matters most,
cannot be produced without a failing disk; it is answered the same way.)

PostgreSQL: a database that stops answering, its link dropping packets without a reset
(tests/cluster/harness.py: CuttableRelay.stall): the writer waits at most
``storage.command_timeout_seconds``, cannot learn whether the batch committed, and the server
exits with status 75, to load its memory from the database once it can reach it again.
"""

from __future__ import annotations

import asyncio
import resource
import time
from urllib.parse import urlsplit

import pytest

from tests import pgtools
from tests.e2e.harness import ServerProcess, open_group, restart

# Past a WAL's header (32 bytes) and one frame header (24): a commit's first write of page data
# starts at or beyond it, whether it appends to the WAL or starts it over.
FSIZE_LIMIT = 56


@pytest.mark.parametrize("write", ["change", "message"])
async def test_an_io_error_at_commit_ends_the_server_with_status_74(tmp_path, write: str) -> None:
    """Rolled back in the server's memory, a COMMIT that failed may still be in the WAL (a failed
    fsync leaves a whole commit there, which the next open applies), so the server does not go on
    with its memory undone: nothing is acknowledged, it exits with 74, and after the restart its
    memory is what the disk holds. A full disk at COMMIT (``SQLITE_FULL``) still fails alone."""
    srv = ServerProcess(tmp_path, backend="sqlite").start()
    try:
        alice = await srv.user()
        bob = await srv.user()
        gid = await open_group(alice)
        await alice.send(gid, "before")
        assert srv.proc is not None
        await asyncio.sleep(0.3)  # the sends' and logins' batches settled
        _, hard = resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (FSIZE_LIMIT, hard))
        try:
            if write == "change":
                first = await bob.call("join_group", group_id=gid)
            else:
                first = await alice.call("send", group_id=gid, text="once", client_msg_id="c-1")
        except ConnectionError:
            first = None  # the server was gone before its refusal went out
        status = await asyncio.wait_for(asyncio.to_thread(srv.proc.wait), 10)
        assert first is None or (first["ok"] is False and first["code"] == "internal"), first
        assert status == 74, "".join(srv.output)
        assert await srv.logged("COMMIT of a batch on the SQLite database"), "".join(srv.output)
        assert any("CRITICAL" in line and "exits (status 74)" in line for line in srv.output)
        alice, bob = await restart(srv, alice, bob)  # (a new process: no file size limit)
        info = await alice.request("group_info", group_id=gid)
        if write == "change":
            assert info["member_count"] == 1  # not stored, and not in memory after the restart
            await bob.request("join_group", group_id=gid)  # the same change again: it lands
            assert (await alice.request("group_info", group_id=gid))["member_count"] == 2
        else:
            again = await alice.send(gid, "once", client_msg_id="c-1")
            page = (await alice.request("history", group_id=gid, after_seq=0, limit=50))["messages"]
            assert [(m["seq"], m["text"]) for m in page] == [(1, "before"), (again["seq"], "once")]
        await alice.close()
        await bob.close()
    finally:
        await srv.cleaned_up()


@pytest.mark.skipif(pgtools.unavailable() is not None, reason=str(pgtools.unavailable()))
async def test_a_database_that_stops_answering_ends_the_server_with_status_75(tmp_path, monkeypatch) -> None:
    """A send whose batch meets a link to PostgreSQL that drops everything: no answer comes, the
    writer gives up after the command timeout (not never), cannot ask the database what became of
    the batch, and the server exits with status 75, acknowledging nothing. Restarted once the
    database answers again, it serves from what the database holds: the retry with the same
    ``client_msg_id`` is stored once."""
    from tests.cluster.harness import CuttableRelay

    timeout = 2.0
    monkeypatch.setenv("QUNGUAN_STORAGE_COMMAND_TIMEOUT_SECONDS", str(timeout))
    srv = ServerProcess(tmp_path, backend="postgresql")
    parts = urlsplit(srv.pg_url)
    relay = CuttableRelay(parts.hostname or "127.0.0.1", parts.port or 5432)
    relay.open()
    config = srv.config.read_text(encoding="utf-8")
    srv.config.write_text(config.replace(f"@{parts.hostname}:{parts.port}/", f"@127.0.0.1:{relay.port}/"),
                          encoding="utf-8")
    try:
        srv.start()
        assert srv.proc is not None
        alice = await srv.user()
        gid = await open_group(alice)
        await alice.send(gid, "before")
        relay.stall()
        started = time.monotonic()
        try:
            first: dict | None = await alice.call("send", timeout=30, group_id=gid, text="once", client_msg_id="c-1")
        except ConnectionError:
            first = None  # the server was gone before its refusal went out
        status = await asyncio.wait_for(asyncio.to_thread(srv.proc.wait), 30)
        took = time.monotonic() - started
        assert first is None or (first["ok"] is False and first["code"] == "internal"), first
        assert status == 75, "".join(srv.output)
        assert timeout <= took < 4 * timeout + 10, took  # the batch's wait, then the wait to learn its fate
        assert await srv.logged("whether it was stored could not be learned"), "".join(srv.output)
        assert any("CRITICAL" in line and "exits (status 75)" in line for line in srv.output)
        relay.stalled = False  # the database answers again
        await _until_its_sessions_are_gone(srv.pg_url)
        [alice] = await restart(srv, alice)
        again = await alice.send(gid, "once", client_msg_id="c-1")
        page = (await alice.request("history", group_id=gid, after_seq=0, limit=50))["messages"]
        assert [(m["seq"], m["text"]) for m in page] == [(1, "before"), (again["seq"], "once")]
        await alice.close()
    finally:
        await srv.cleaned_up()
        relay.close()


async def _until_its_sessions_are_gone(url: str, within: float = 10.0) -> None:
    """Until the exited server's sessions have ended (its claim on the database among them)."""
    deadline = time.monotonic() + within
    sql = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
           " AND application_name LIKE 'qunguan%'")
    while (await asyncio.to_thread(pgtools.query, url, sql))[0][0]:
        assert time.monotonic() < deadline, "the exited server's sessions are still there"
        await asyncio.sleep(0.1)
