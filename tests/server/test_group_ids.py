"""Group ids are unique for all time (Art. 8): a drawn id taken in memory or only in the store is drawn again."""

from __future__ import annotations

import json
import secrets

from client_demo.client import Client
from server.app import App
from server.config import parse_config
from server.storage.changes import CreateGroup

GROUP_ID_RANGE = 9 * 10**9  # new_group_id draws 10-digit ids: 10**9 + randbelow(9 * 10**9)


def config(tmp_path):
    return parse_config({
        "server": {"port": 0},
        "identity": {"sms_provider": "file", "require_id_to_create": False,
                     "argon2_time_cost": 1, "argon2_memory_kib": 1024},
    }, tmp_path)


async def registered(app: App, tmp_path) -> Client:
    c = await Client.connect(f"ws://127.0.0.1:{app.port}/ws", encoding="json")
    await c.request("request_code", phone="13912345678")
    code = json.loads((tmp_path / "sms.jsonl").read_text().splitlines()[-1])["code"]
    await c.request("register", username="owner1", password="password123", phone="13912345678", code=code)
    await c.login("owner1", "password123")
    return c


async def test_a_taken_id_is_drawn_again_whether_memory_or_only_the_store_knows_it(tmp_path):
    app = App(config(tmp_path))
    draws: list[int] = []
    script = iter([11, 11, 22, 33])  # 11 taken in memory, 22 only in the store (another node's), 33 free

    def randbelow(n: int) -> int:
        if n != GROUP_ID_RANGE:
            return secrets.randbelow(n)
        draws.append(next(script))
        return draws[-1]

    app.randbelow = randbelow
    await app.start()
    try:
        c = await registered(app, tmp_path)
        first = (await c.request("create_group", name="a", category="friends", join_policy="open"))["group_id"]
        assert first == str(10**9 + 11)
        # A group this node never loaded: only the database knows its id.
        await app.store.apply(CreateGroup(str(10**9 + 22), "elsewhere", "friends", "open", "u0000000000000000", 1))
        second = (await c.request("create_group", name="b", category="friends", join_policy="open"))["group_id"]
        assert second == str(10**9 + 33)
        assert draws == [11, 11, 22, 33]
        assert str(10**9 + 22) not in app.state.groups  # the refused claim was undone
        mine = {g["group_id"] for g in (await c.request("my_groups"))["groups"]}
        assert mine == {first, second}
        await c.close()
    finally:
        await app.stop()
