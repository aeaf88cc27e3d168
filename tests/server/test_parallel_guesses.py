"""Failed-login limits hold against guesses made in parallel: each attempt is counted before its
first await (the password hash read, the hashing itself), so many connections of one address firing
at once cannot all pass a limit that each checked before any of them had failed."""

from __future__ import annotations

import asyncio
import json

from client_demo.client import Client
from server.app import App
from server.config import parse_config


async def test_parallel_wrong_passwords_from_one_address_stop_at_the_limit(tmp_path) -> None:
    app = App(parse_config({
        "server": {"port": 0},
        "identity": {"sms_provider": "file", "argon2_time_cost": 1, "argon2_memory_kib": 1024},
        "rate_limits": {"failed_logins_per_ip_per_hour": 3},
    }, tmp_path))
    await app.start()
    try:
        owner = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
        await owner.request("request_code", phone="13912345678")
        code = json.loads((tmp_path / "sms.jsonl").read_text().splitlines()[-1])["code"]
        await owner.request("register", username="owner1", password="password123", phone="13912345678", code=code)
        for _ in range(4):  # right passwords are not failed logins: each is given back
            assert (await owner.call("login", username="owner1", password="password123"))["ok"]
        clients = [await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json") for _ in range(8)]
        replies = await asyncio.gather(*(c.call("login", username="owner1", password=f"wrong{i:04d}")
                                         for i, c in enumerate(clients)))
        codes = sorted(r["code"] for r in replies)
        assert codes.count("unauthenticated") == 3, codes  # the limit: three guesses, however sent
        assert codes.count("rate_limited") == 5, codes
        for c in (owner, *clients):
            await c.close()
    finally:
        await app.stop()
