"""An export's rows are made into dicts and shaped (JSON, ISO times, usernames) in a worker thread, not
on the event loop: a reviewer's export of a public account with 42,000 comments held every chat up
for 400 ms (8 µs a row), and a group of a million messages would have for seconds."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from server.app import App
from server.config import parse_config
from server.operator import export
from server.storage import base

GID, AID = "900000001", "3000000001"
ROWS = 60
TS = 1_700_000_000_000


def _app(tmp_path: Path) -> App:
    cfg = parse_config({"server": {"port": 0},
                        "identity": {"sms_provider": "file", "argon2_time_cost": 1, "argon2_memory_kib": 1024}},
                       tmp_path)
    return App(cfg)


async def _exported(tmp_path: Path, monkeypatch: Any, fill: Callable[[Any], Awaitable[None]],
                    args: dict[str, str]) -> tuple[list[str], int, int, list[str]]:
    """Exports ``args`` of a store ``fill`` wrote (read into memory by a start, as a server has it):
    (the command's lines, ISO times made off the loop, made on it, the row lists made into dicts off it)."""
    first = _app(tmp_path)
    await first.start()
    await first.store.run_in_batch(fill)
    await first.stop()
    app = _app(tmp_path)
    await app.start()
    try:
        loop_thread = threading.get_ident()
        shaped_on: list[int] = []
        real_iso = export.iso

        def iso(ms: int | None) -> str | None:
            shaped_on.append(threading.get_ident())
            return real_iso(ms)

        monkeypatch.setattr(export, "iso", iso)
        monkeypatch.setattr(base, "ROWS_SHAPED_ON_LOOP", ROWS // 2)
        to_thread, sent_off = asyncio.to_thread, []

        async def counted(fn: Any, *a: Any, **kw: Any) -> Any:
            if fn.__module__ == base.__name__:
                sent_off.append(fn.__name__)
            return await to_thread(fn, *a, **kw)

        monkeypatch.setattr(asyncio, "to_thread", counted)
        lines = await export.export(app, {**args, "out": str(tmp_path / "out")})
    finally:
        await app.stop()
    on_loop = shaped_on.count(loop_thread)
    return lines, len(shaped_on) - on_loop, on_loop, sent_off


async def test_a_groups_rows_are_shaped_in_a_worker_thread(tmp_path: Path, monkeypatch: Any) -> None:
    async def fill(db: Any) -> None:
        await db.execute("INSERT INTO groups (group_id, name, category, join_policy, owner_id, created_at, last_seq)"
                         " VALUES (?, 'g', 'work', 'open', 'u1', 1, ?)", (GID, ROWS))
        await db.executemany("INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text)"
                             " VALUES (?, ?, ?, 'u1', 'member', ?)",
                             [(GID, seq, TS + seq, f"m{seq}") for seq in range(1, ROWS + 1)])

    monkeypatch.setattr(export, "LINES_PER_CHUNK", 7)  # (written 7 lines at a time: the file is the same)
    lines, off_loop, on_loop, sent_off = await _exported(tmp_path, monkeypatch, fill, {"group_id": GID})
    assert any(line.startswith(f"messages.jsonl: {ROWS} lines") for line in lines), lines
    data = (tmp_path / "out" / "messages.jsonl").read_bytes()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    [entry] = [f for f in manifest["files"] if f["name"] == "messages.jsonl"]
    assert (entry["sha256"], entry["bytes"], data.count(b"\n")) == (hashlib.sha256(data).hexdigest(), len(data), ROWS)
    assert [json.loads(line)["seq"] for line in data.splitlines()] == list(range(1, ROWS + 1))
    assert off_loop >= ROWS, (off_loop, on_loop)  # each message's time, off the loop
    assert on_loop <= 6, on_loop  # (the query's two, the group row's three, the manifest's own)
    # The messages (the only list of the export's past the bound, read a page at a time: one page here)
    # made dicts, and their senders found (whose network-log rows and usernames the export holds), off
    # the loop.
    assert sent_off == ["shaped", "found"]
    text = (tmp_path / "out" / "messages.jsonl").read_text(encoding="utf-8")
    assert text.count('"ts_iso": "2023-11-15T06:') == ROWS


async def test_a_public_accounts_comments_are_shaped_in_a_worker_thread(tmp_path: Path, monkeypatch: Any) -> None:
    async def fill(db: Any) -> None:
        await db.execute("INSERT INTO accounts (account_id, name, name_key, category, subject_type, subject_key,"
                         " owner_id, credit_score, created_at) VALUES (?, 'a', 'a', 'culture', 'individual', 'k',"
                         " 'u1', 100, 1)", (AID,))
        await db.execute("INSERT INTO posts (post_id, account_id, author_id, title, body, comments_mode, ts)"
                         " VALUES (1, ?, 'u1', 't', 'b', 'open', ?)", (AID, TS))
        await db.executemany("INSERT INTO comments (post_id, user_id, text, ts, status) VALUES (1, 'u2', ?, ?,"
                             " 'visible')", [(f"c{i}", TS + i) for i in range(ROWS)])

    lines, off_loop, on_loop, sent_off = await _exported(tmp_path, monkeypatch, fill, {"account_id": AID})
    assert any(line.startswith(f"comments.jsonl: {ROWS} lines") for line in lines), lines
    assert off_loop >= ROWS, (off_loop, on_loop)
    assert on_loop <= 3, on_loop  # (the query's two, the manifest's own)
    assert sent_off == ["shaped"]  # (the comments)
