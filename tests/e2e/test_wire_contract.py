"""Acceptance tests written as an outside client reads the shared wire contract (its v1 and v2): raw
JSON frames on the ``qunguan.v1+json`` subprotocol against a real server process. Each test quotes
the contract sentence it holds the server to. (From a review of conformance to the contract: these
failed on the code they were written against.)"""

from __future__ import annotations

import json

import httpx
from websockets.asyncio.client import connect

from tests.e2e.harness import close_all, open_group
from tests.e2e.ops_helpers import free_port


class Raw:
    """A bare JSON client: one text frame per request, the reply matched by ``re``, events kept."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.rid = 0
        self.events: list[dict] = []

    @classmethod
    async def open(cls, url: str) -> Raw:
        return cls(await connect(url, subprotocols=["qunguan.v1+json"], max_size=None))

    async def call(self, op: str, **args) -> dict:
        self.rid += 1
        await self.ws.send(json.dumps({"op": op, "rid": self.rid, **args}))
        while True:
            frame = json.loads(await self.ws.recv())
            if "ev" in frame:
                self.events.append(frame)
            elif frame.get("re") == self.rid:
                return frame

    async def close(self) -> None:
        await self.ws.close()


async def signed_in(srv) -> tuple[Raw, str]:
    """A registered user signed in on a raw JSON connection (the harness registers it)."""
    c = await srv.user(encoding="json")
    raw = await Raw.open(srv.url)
    r = await raw.call("auth", token=c.token)
    assert r["ok"], r
    await c.close()
    return raw, r["user_id"]


# -- v2, "Messages, richer": `unban` | owner, admin | group_id, user_id | — ------------------------
async def test_an_admin_may_unban_whoever_the_owner_banned(server):
    """PROTOCOL.md v2 "Messages, richer", op table: "`unban` | owner, admin | `group_id`, `user_id`
    | —" and "`ban` | owner; admin on members only". An admin lifting a ban is what the contract
    allows, whoever made the ban; the server refuses an admin's unban of the owner's ban."""
    owner = await server.user(encoding="json")
    gid = await open_group(owner)
    admin, admin_id = await signed_in(server)
    member, member_id = await signed_in(server)
    assert (await admin.call("join_group", group_id=gid))["ok"]
    assert (await member.call("join_group", group_id=gid))["ok"]
    assert (await owner.call("set_role", group_id=gid, user_id=admin_id, role="admin"))["ok"]

    assert (await owner.call("ban", group_id=gid, user_id=member_id, reason="spam"))["ok"]
    r = await admin.call("unban", group_id=gid, user_id=member_id)
    assert r["ok"], f"an admin's unban was refused: {r}"
    assert (await member.call("join_group", group_id=gid))["ok"]
    await close_all(owner)
    await admin.close()
    await member.close()


# -- v2, "Accounts, transport and operations": metrics names --------------------------------------
async def test_every_metric_on_the_metrics_page_is_prefixed_qunguan(make_server):
    """PROTOCOL.md v2 "Accounts, transport and operations": "`[metrics] host, port`: when set,
    Prometheus metrics (names prefixed `qunguan_`) on that address at `/metrics`". The page also
    carries the Prometheus client's unprefixed ``process_*`` series."""
    port = free_port()
    srv = make_server(f'[metrics]\nhost = "127.0.0.1"\nport = {port}\n')
    page = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    names = {line.split("{")[0].split(" ")[0] for line in page.splitlines() if line and not line.startswith("#")}
    assert names, page
    unprefixed = sorted(n for n in names if not n.startswith("qunguan_"))
    assert unprefixed == [], f"metrics not prefixed qunguan_: {unprefixed}"
    assert srv.url


# -- Transport: "times are integer milliseconds since the Unix epoch" -----------------------------
async def test_a_ban_until_unbanned_lists_its_until_as_an_integer_time(server):
    """PROTOCOL.md "Transport": "Integers are 64-bit; IDs are strings; times are integer
    milliseconds since the Unix epoch", and v2: "`bans` | owner, admin | `group_id` | `bans`: list
    of `{user_id, until, by, reason}`" (`ban`: "`seconds`? (absent or 0 = until unbanned)"). A
    typed client reads `until` as an int64 time (as `member_muted.until`, where 0 means none); the
    server sends `null` for a ban with no end."""
    owner = await server.user(encoding="json")
    gid = await open_group(owner)
    member, member_id = await signed_in(server)
    assert (await member.call("join_group", group_id=gid))["ok"]
    assert (await owner.call("ban", group_id=gid, user_id=member_id))["ok"]
    (entry,) = (await owner.call("bans", group_id=gid))["bans"]
    assert type(entry["until"]) is int, f"bans[0].until is {entry['until']!r}: {entry}"
    await close_all(owner)
    await member.close()
