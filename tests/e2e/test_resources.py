"""Running out, under a real server. Open files: an unfinished upload holds none. A full disk (SQLite
on a small filesystem of its own, mounted for the test):
writes are refused with a reason, nothing refused is stored, nothing acknowledged is lost, /readyz
says so, the log says it once rather than with a traceback per write, and all comes back when room
does, without a restart.

A reviewer filled the disk under a running server: /readyz said ready all along (its probe was a
transaction that changed nothing, which commits with no room), writes other than ``send`` were
answered "internal server error" with a traceback each, the log filled with tracebacks, and a
failed upload's partial file kept the disk full for up to 20 minutes."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import ops_helpers as ops
from tests.e2e.conftest import stop
from tests.e2e.harness import ServerProcess, open_group
from tests.small_disk import fill, mounted

NOT_STORED = "the message could not be stored; send it again"
FULL = "the server's storage is full; try again later"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 48 MiB filesystem of its own at ``tmp_path/disk``."""
    with mounted(tmp_path / "disk", "48m") as where:
        yield where


async def until_ready(srv: ServerProcess, ready: bool, timeout: float = 20.0) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        r = await asyncio.to_thread(ops.http_get, srv, "/readyz")
        if (r.status_code == 200) == ready or time.monotonic() > deadline:
            return r.status_code, r.text
        await asyncio.sleep(0.25)


async def test_a_full_disk_refuses_writes_with_a_reason_is_not_ready_and_recovers(small_disk: Path) -> None:
    srv = ops.server(small_disk).start()
    try:
        alice, bob = await srv.user(), await srv.user()
        gid = await open_group(alice)
        await bob.request("join_group", group_id=gid)
        acked = [(await alice.request("send", group_id=gid, text=f"before {i}"))["seq"] for i in range(5)]
        assert await until_ready(srv, True) == (200, "ready\n")

        filler = fill(small_disk)
        # What is left in the write-ahead log's file is used up first; then no send can be stored.
        refused = None
        for i in range(3000):
            reply = await alice.call("send", group_id=gid, text=f"while full {i} " + "x" * 500)
            if reply.get("ok"):
                acked.append(reply["seq"])
                continue
            refused = reply
            break
        assert refused is not None and (refused["code"], refused["reason"]) == ("internal", NOT_STORED), refused
        # Any other write says why, in words a client can show.
        reply = await alice.call("create_group", name="满了", category="friends", join_policy="open")
        assert (reply.get("code"), reply.get("reason")) == ("internal", FULL), reply
        # Reads go on.
        shown = [m["seq"] for m in (await bob.request("history", group_id=gid, limit=100))["messages"]]
        assert set(acked[-50:]) <= set(shown)
        assert await until_ready(srv, False) == (503, "not ready: store not writable\n")
        lines = ops.json_lines(srv)
        assert not [e for e in lines if "exc" in e and "full" in e.get("exc", "")], "a traceback for a full disk"
        assert [e for e in lines if e["msg"].startswith("a batch could not be stored, the disk is full")]

        os.remove(filler)
        assert await until_ready(srv, True) == (200, "ready\n")
        acked.append((await alice.request("send", group_id=gid, text="room again"))["seq"])
        await alice.request("create_group", name="又能建了", category="friends", join_policy="open")
    finally:
        await stop(srv)
    srv.start()  # every message acknowledged is there after a restart; no refused one is
    try:
        c = await srv.client()
        await c.login(bob.username, "password123")
        messages, after = [], 0
        while page := (await c.request("history", group_id=gid, after_seq=after, limit=500))["messages"]:
            messages += page
            after = page[-1]["seq"]
        # every acknowledged message, and no refused one stored after all
        assert [m["seq"] for m in messages] == acked
        assert messages[-1]["text"] == "room again"
    finally:
        await stop(srv)


async def test_an_upload_that_finds_the_disk_full_leaves_no_partial_file(small_disk: Path) -> None:
    srv = ops.server(small_disk).start()
    try:
        alice = await srv.user()
        begun = await alice.request("upload_begin", size=20 * 1024 * 1024, mime="application/pdf", name="a.pdf")
        step = begun["chunk_bytes"]
        filler = small_disk / "filler"
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        with open(filler, "wb", buffering=0) as f:  # leave about 2 MiB, less than the upload
            f.write(b"\0" * max(free - 2 * 1024 * 1024, 0))
        offset, refused = 0, None
        while offset < 20 * 1024 * 1024:
            reply = await alice.call("upload_chunk", upload_id=begun["upload_id"], offset=offset,
                                     data=b"%PDF" + b"\1" * (step - 4) if offset == 0 else b"\1" * step)
            if not reply.get("ok"):
                refused = reply
                break
            offset += step
        assert refused is not None and refused["code"] == "internal", refused
        parts = list((small_disk / "media" / "tmp").glob("*.part")) if (small_disk / "media" / "tmp").exists() else []
        assert parts == [], "the partial file stayed, keeping the disk full"
        os.remove(filler)
    finally:
        await stop(srv)


async def test_unfinished_uploads_hold_no_open_file(tmp_path: Path) -> None:
    """A soak's abandoned uploads each held an open file for up to 20 minutes (thousands, beside the
    connections that need one each): the temp file is now open only while a chunk is written."""
    srv = ops.server(tmp_path).start()
    try:
        alice = await srv.user()
        for _ in range(3):
            begun = await alice.request("upload_begin", size=50_000, mime="image/png")
            await alice.request("upload_chunk", upload_id=begun["upload_id"], offset=0,
                                data=b"\x89PNG\r\n\x1a\n" + b"\0" * 992)
        fds = Path(f"/proc/{srv.proc.pid}/fd")
        open_parts = [p for p in fds.iterdir() if os.readlink(p).endswith(".part")]
        assert open_parts == []
        assert len(list((srv.dir / "media" / "tmp").glob("*.part"))) == 3  # (the uploads go on)
    finally:
        await stop(srv)
