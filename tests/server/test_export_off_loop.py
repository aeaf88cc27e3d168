"""An export's rows are made into dicts and shaped (JSON, ISO times, usernames) in a worker thread, not
on the event loop: a reviewer's export of a public account with 42,000 comments held every chat up
for 400 ms (8 µs a row), and a group of a million messages would have for seconds."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from server.app import App
from server.config import parse_config
from server.operator import export
from server.storage import base

GID = "900000001"
MESSAGES = 60


def _app(tmp_path: Path) -> App:
    cfg = parse_config({"server": {"port": 0},
                        "identity": {"sms_provider": "file", "argon2_time_cost": 1, "argon2_memory_kib": 1024}},
                       tmp_path)
    return App(cfg)


async def test_an_exports_rows_are_shaped_in_a_worker_thread(tmp_path: Path, monkeypatch: Any) -> None:
    first = _app(tmp_path)
    await first.start()

    async def fill(db: Any) -> None:
        await db.execute("INSERT INTO groups (group_id, name, category, join_policy, owner_id, created_at, last_seq)"
                         " VALUES (?, 'g', 'work', 'open', 'u1', 1, ?)", (GID, MESSAGES))
        await db.executemany("INSERT INTO messages (group_id, seq, ts, sender_id, sender_role, text)"
                             " VALUES (?, ?, ?, 'u1', 'member', ?)",
                             [(GID, seq, 1_700_000_000_000 + seq, f"m{seq}") for seq in range(1, MESSAGES + 1)])

    await first.store.run_in_batch(fill)
    await first.stop()
    app = _app(tmp_path)  # (the group in its memory, as an export asks)
    await app.start()
    try:
        loop_thread = threading.get_ident()
        shaped_on: list[int] = []
        real_iso = export.iso

        def iso(ms: int | None) -> str | None:
            shaped_on.append(threading.get_ident())
            return real_iso(ms)

        monkeypatch.setattr(export, "iso", iso)
        monkeypatch.setattr(base, "ROWS_SHAPED_ON_LOOP", MESSAGES // 2)
        to_thread, sent_off = asyncio.to_thread, []

        async def counted(fn: Any, *args: Any, **kw: Any) -> Any:
            sent_off.append(fn)
            return await to_thread(fn, *args, **kw)

        monkeypatch.setattr(asyncio, "to_thread", counted)
        lines = await export.export(app, {"group_id": GID, "out": str(tmp_path / "out")})
    finally:
        await app.stop()
    assert any(line.startswith(f"messages.jsonl: {MESSAGES} lines") for line in lines), lines
    on_loop = shaped_on.count(loop_thread)
    assert len(shaped_on) - on_loop >= MESSAGES, (len(shaped_on), on_loop)  # each message's time, off the loop
    assert on_loop <= 6, on_loop  # (the query's two, the group row's three, the manifest's own)
    # (the messages' rows: the only list of the export's past the bound)
    assert [fn.__name__ for fn in sent_off if fn.__module__ == base.__name__] == ["shaped"], sent_off
    text = (tmp_path / "out" / "messages.jsonl").read_text(encoding="utf-8")
    assert text.count('"ts_iso": "2023-11-15T06:') == MESSAGES
