"""A background job that ends by a bug stops the server (crash-only), which its supervisor starts again.

Each background job (retention, media cleanup, the record's checkpoints, ...) catches the errors it
expects and tries again later; one that ended anyway left the server running without it, and
nothing said so. No job is known to end that way now (the last one found: a checkpoint file that was
not UTF-8, tests/e2e/test_record.py), so the test makes one: the real server, started with its
checkpoint job replaced by one that fails after a second.
"""

from __future__ import annotations

import asyncio
import json

from tests.e2e.harness import ServerProcess, open_group

BROKEN_JOB = """
import asyncio, sys
from server import record

async def broken(ctx):
    await asyncio.sleep(1)
    raise RuntimeError("a bug in the job")

record.run_checkpoints = broken
from server.cli import main
sys.exit(main())
"""


class BrokenJobServer(ServerProcess):
    LAUNCH = ("-c", BROKEN_JOB)


async def test_a_job_that_ends_stops_the_server_with_status_70_after_the_drain(tmp_path, started, backend):
    srv = started(BrokenJobServer(tmp_path, backend=backend))
    alice = await srv.user()
    gid = await open_group(alice)
    await alice.request("set_announcement", group_id=gid, text="rules")  # (an entry of the record)
    assert srv.proc is not None
    status = await asyncio.wait_for(asyncio.to_thread(srv.proc.wait), 15)
    out = "".join(srv.output)
    assert status == 70, out
    assert await srv.logged("the background job record-checkpoints ended with RuntimeError('a bug in the job'): "
                            "the server stops (exit status 70)"), out
    assert "Traceback" in out and "a bug in the job" in out
    assert any("CRITICAL" in line and "qunguan: stopping (exit status 70)" in line for line in srv.output), out
    # The usual stop: the client was closed with 1001, and the record's head is outside the database.
    for _ in range(50):
        if alice.closed:
            break
        await asyncio.sleep(0.1)
    assert alice.closed and alice.ws.close_code == 1001
    [last] = (srv.dir / "audit-checkpoints.jsonl").read_text(encoding="utf-8").splitlines()[-1:]
    assert json.loads(last)["count"] == srv.db_rows("SELECT COUNT(*) FROM audit")[0][0] > 0
