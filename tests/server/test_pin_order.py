"""Pins come back in the order they were made after a restart: two pins in the same millisecond, or
one made after the clock stepped back, were stored with times that a load (``ORDER BY pinned_at``)
read back in another order (run in-process with the wall clock injected)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from client_demo.client import Client
from server.app import App, wall_ms
from server.config import parse_config


def _app(tmp_path: Path, clock: Any) -> App:
    return App(parse_config({
        "server": {"port": 0},
        "identity": {"sms_provider": "file", "argon2_time_cost": 1, "argon2_memory_kib": 1024,
                     "require_id_to_create": False},
    }, tmp_path), clock=clock)


async def test_pins_made_in_one_millisecond_or_after_a_clock_step_keep_their_order(tmp_path: Path) -> None:
    frozen = [wall_ms()]
    app = _app(tmp_path, lambda: frozen[0])
    await app.start()
    try:
        c = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
        await c.request("request_code", phone="13912345678")
        code = json.loads((tmp_path / "sms.jsonl").read_text().splitlines()[-1])["code"]
        await c.request("register", username="owner1", password="password123", phone="13912345678", code=code)
        await c.login("owner1", "password123")
        gid = (await c.request("create_group", name="tea room", category="friends", join_policy="open"))["group_id"]
        seqs = [(await c.request("send", group_id=gid, text=f"m{i}"))["seq"] for i in range(4)]
        # Pinned last first, in one millisecond, then one more after the clock stepped back an hour.
        for seq in (seqs[2], seqs[1], seqs[0]):
            await c.request("pin_message", group_id=gid, seq=seq, on=True)
        frozen[0] -= 3_600_000
        await c.request("pin_message", group_id=gid, seq=seqs[3], on=True)
        order = [seqs[2], seqs[1], seqs[0], seqs[3]]
        assert (await c.request("group_info", group_id=gid))["pinned"] == order
        await c.close()
    finally:
        await app.stop()
    again = _app(tmp_path, lambda: frozen[0])
    await again.start()
    try:
        c = await Client.connect(f"ws://127.0.0.1:{again.port}/ws", encoding="json")
        await c.login("owner1", "password123")
        assert (await c.request("group_info", group_id=gid))["pinned"] == order
        await c.close()
    finally:
        await again.stop()
