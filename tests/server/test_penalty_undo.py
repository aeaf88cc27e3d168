"""A credit penalty taken in memory for blocked content is given back when its write fails
(``server/handlers/common.py: record_penalized``): memory and the store agree on the score, and a
failed write does not go on lowering the user's caps until a restart."""

from __future__ import annotations

import asyncio
import json
import sqlite3

from client_demo.client import Client
from server.app import App
from server.config import parse_config


async def test_a_blocked_messages_penalty_is_given_back_when_its_record_cannot_be_written(tmp_path) -> None:
    (tmp_path / "gambling.txt").write_text("赌场\n", encoding="utf-8")
    app = App(parse_config({
        "server": {"port": 0},
        "identity": {"sms_provider": "file", "require_id_to_create": False,
                     "argon2_time_cost": 1, "argon2_memory_kib": 1024},
        "content": {"lists": [{"category": "pyramid_gambling", "path": "gambling.txt", "action": "block"}]},
    }, tmp_path))
    await app.start()
    try:
        c = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
        await c.request("request_code", phone="13912345678")
        code = json.loads((tmp_path / "sms.jsonl").read_text().splitlines()[-1])["code"]
        await c.request("register", username="owner1", password="password123", phone="13912345678", code=code)
        await c.login("owner1", "password123")
        gid = (await c.request("create_group", name="g", category="friends", join_policy="open"))["group_id"]
        user = app.state.users[c.user_id or ""]
        before = user.credit_score

        db = sqlite3.connect(tmp_path / "qunguan.db")
        db.execute("CREATE TRIGGER no_record BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk'); END")
        db.commit()
        db.close()
        r = await c.call("send", group_id=gid, text="来赌场")
        assert r["code"] == "content_blocked"
        for _ in range(100):
            if user.credit_score == before:
                break
            await asyncio.sleep(0.02)
        assert user.credit_score == before
        await c.close()
    finally:
        await app.stop()
