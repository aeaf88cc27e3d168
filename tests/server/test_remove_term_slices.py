"""``remove-term`` hides its message hits in slices, each its own transaction: a term found in a
million messages was one write that could run past ``storage.command_timeout_seconds``, and on
PostgreSQL a batch that does fails every other write in it. Each slice carries its groups' own
record entries; the command's entry, with the total, comes with the last."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.operator import platform
from tests.e2e.test_retention import count, insert, make_app, ms


@pytest.fixture
async def started(tmp_path: Any) -> Any:
    clock = [ms("2026-01-01 00:00", "UTC")]
    app = make_app(tmp_path, clock)
    await app.start()
    yield app, clock
    await app.stop()


async def test_hits_are_hidden_in_slices_with_each_groups_entries(started: Any, monkeypatch: Any) -> None:
    app, clock = started
    monkeypatch.setattr(platform, "REMOVE_TERM_BATCH", 3)
    now = clock[0]
    await insert(app, "INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text) VALUES (?,?,?,?,?,?)",
                 *[("800000001", seq, now, "u-a", "member", f"谣言 {seq}") for seq in range(1, 6)],
                 *[("800000002", seq, now, "u-b", "member", f"谣言 {seq}") for seq in range(1, 3)])
    result = await platform.remove_term(app, {"term": "谣言", "reason": "辟谣"})
    assert "removed 7 messages" in result.lines[0]
    assert await count(app, "SELECT COUNT(*) FROM messages WHERE deleted_at IS NULL") == 0
    rows = await app.store._fetchall("SELECT group_id, detail FROM audit WHERE action = 'remove_term' ORDER BY id")
    entries = [(gid, json.loads(detail)) for gid, detail in rows]
    # slices of 3: (1,2,3 of the first group), (4,5 of the first, 1 of the second), (2 of the second)
    assert [(gid, d.get("seqs")) for gid, d in entries if gid is not None] == [
        ("800000001", [1, 2, 3]), ("800000001", [4, 5]), ("800000002", [1]), ("800000002", [2])]
    [(command,)] = [(d,) for gid, d in entries if gid is None]
    assert command["removed"] == 7
    assert entries[-1][0] is None  # the command's own entry with the last slice
