"""The wall clock stepped back (NTP, an operator, a new home whose clock is behind): the limits on
sending ran on it, so a member who had used their burst could not send, edit or react until the clock
caught up with the step (an hour for an hour's step, told to retry every second), and slow mode held
a member for the whole step. Now the rates run on the monotonic clock, and a last send later than now
does not count (a reviewer's case, run in-process with the wall clock injected)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from client_demo.client import Client
from server.app import App, wall_ms
from server.config import parse_config

HOUR_MS = 3_600_000


async def _user(app: App, tmp_path: Path, name: str, phone: str) -> Client:
    c = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    await c.request("request_code", phone=phone)
    code = json.loads((tmp_path / "sms.jsonl").read_text().splitlines()[-1])["code"]
    await c.request("register", username=name, password="password123", phone=phone, code=code)
    await c.login(name, "password123")
    return c


async def test_a_clock_stepped_back_stalls_no_sender(tmp_path: Path) -> None:
    step = [0]
    app = App(parse_config({
        "server": {"port": 0},
        "identity": {"sms_provider": "file", "argon2_time_cost": 1, "argon2_memory_kib": 1024,
                     "require_id_to_create": False},
        "rate_limits": {"messages_per_second": 10.0, "message_burst": 2},
    }, tmp_path), clock=lambda: wall_ms() + step[0])
    await app.start()
    try:
        owner = await _user(app, tmp_path, "owner1", "13912345678")
        member = await _user(app, tmp_path, "member1", "13912345679")
        gid = (await owner.request("create_group", name="tea room", category="friends", join_policy="open"))["group_id"]
        await member.request("join_group", group_id=gid)
        for i in range(2):  # the burst used up
            await owner.request("send", group_id=gid, text=f"m{i}")
        assert (await owner.call("send", group_id=gid, text="one too many"))["code"] == "rate_limited"

        await owner.request("set_slow_mode", group_id=gid, seconds=1)
        await member.request("send", group_id=gid, text="before the step")
        step[0] = -HOUR_MS
        await asyncio.sleep(1.1)  # the bucket refilled, the slow-mode second passed
        assert (await owner.call("send", group_id=gid, text="after the step"))["ok"]
        assert (await member.call("send", group_id=gid, text="after the step too"))["ok"]
        refused = await member.call("send", group_id=gid, text="and at once again")  # slow mode goes on
        assert refused["code"] == "rate_limited" and refused["retry_after_ms"] <= 1000
        await owner.close()
        await member.close()
    finally:
        await app.stop()
