"""``export --address IP`` (Art. 13): who was on one IP address when, from the network log.

The authorities' usual question is an address and a time. The clients here reach the server through a
trusted proxy (``X-Forwarded-For``), so each has the address the test gives it.
"""

from __future__ import annotations

import json

import pytest

from client_demo.client import Client
from tests.e2e import ops_helpers as ops
from tests.e2e.harness import ServerProcess, new_id_number, new_phone
from tests.e2e.test_retention import check_manifest, disconnected, read_jsonl

ALICE_AT, SHARED = "203.0.113.7", "198.51.100.9"


async def _from(srv: ServerProcess, ip: str) -> Client:
    return await Client.connect(srv.url, additional_headers={"X-Forwarded-For": ip})


async def _registered_from(srv: ServerProcess, ip: str, name: str) -> Client:
    c = await _from(srv, ip)
    c.phone = new_phone()  # type: ignore[attr-defined]
    await c.request("request_code", phone=c.phone)  # type: ignore[attr-defined]
    await c.request("register", username=name, password="password123", phone=c.phone,  # type: ignore[attr-defined]
                    code=srv.last_code(c.phone), display_name=name.title())  # type: ignore[attr-defined]
    await c.login(name, "password123")
    return c


@pytest.fixture
def srv(tmp_path, started, backend) -> ServerProcess:
    return started(ops.server(tmp_path, 'trusted_proxies = ["127.0.0.1/32"]', backend=backend))


async def test_an_address_export_lists_its_rows_and_who_they_name_without_identity(srv, tmp_path):
    alice = await _registered_from(srv, ALICE_AT, "alice")
    id_number = new_id_number("19880808")
    await alice.request("verify_identity", legal_name="李雪梅", id_number=id_number)
    bob = await _registered_from(srv, SHARED, "bob")
    alice_again = await _from(srv, SHARED)  # her second device, behind the shared address
    await alice_again.login("alice", "password123")
    carol = await _registered_from(srv, "192.0.2.44", "carol")  # elsewhere: in neither export
    for c in (alice, bob, alice_again, carol):
        await c.close()
    await disconnected(srv, alice.user_id, bob.user_id, carol.user_id)

    rc, out, err = await srv.admin("export", "--address", ALICE_AT, "--out", str(tmp_path / "a"))
    assert rc == 0, err
    assert out.splitlines()[0] == f"exported address {ALICE_AT} to {tmp_path / 'a'}"
    manifest = check_manifest(tmp_path / "a")
    assert manifest["query"]["target"] == {"type": "address", "address": ALICE_AT}
    assert sorted(e["name"] for e in manifest["files"]) == ["netlog.jsonl", "users.jsonl"]
    rows = read_jsonl(tmp_path / "a" / "netlog.jsonl")
    assert {r["ip"] for r in rows} == {ALICE_AT}
    kinds = {r["kind"] for r in rows}
    assert {"code_request", "register", "login_ok", "connect", "disconnect"} <= kinds, kinds
    assert {r["user_id"] for r in rows} == {alice.user_id, None}  # (the code request names no user)
    assert all(isinstance(r["detail"], dict) and r["ts_iso"] for r in rows)
    [person] = read_jsonl(tmp_path / "a" / "users.jsonl")
    assert (person["user_id"], person["username"], person["display_name"]) == (alice.user_id, "alice", "Alice")
    hers = [r["ts"] for r in rows if r["user_id"] == alice.user_id]
    assert (person["first_ts"], person["last_ts"], person["rows"]) == (min(hers), max(hers), len(hers))
    # An address may be shared by many people: no one's identity is in it.
    written = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "a").iterdir())
    for secret in (alice.phone, id_number, "李雪梅"):  # type: ignore[attr-defined]
        assert secret not in written

    # The shared address names both who used it, and nobody from elsewhere.
    rc, _, err = await srv.admin("export", "--address", SHARED, "--out", str(tmp_path / "s"))
    assert rc == 0, err
    assert {p["username"] for p in read_jsonl(tmp_path / "s" / "users.jsonl")} == {"alice", "bob"}
    assert {r["ip"] for r in read_jsonl(tmp_path / "s" / "netlog.jsonl")} == {SHARED}

    # The range holds: after the last row, nothing.
    last = max(r["ts"] for r in rows)
    rc, _, err = await srv.admin("export", "--address", ALICE_AT, "--since", _iso(last + 1),
                                 "--out", str(tmp_path / "later"))
    assert rc == 0, err
    assert read_jsonl(tmp_path / "later" / "netlog.jsonl") == []
    assert read_jsonl(tmp_path / "later" / "users.jsonl") == []

    # The export is on the record, naming the address.
    [(target, detail)] = srv.db_rows("SELECT target_id, detail FROM audit WHERE action = 'export'"
                                     " AND target_id = ?", ALICE_AT)[:1]
    assert target == ALICE_AT
    assert json.loads(detail)["query"]["target"]["type"] == "address"


async def test_an_address_is_matched_however_it_was_written(srv, tmp_path):
    """An IPv4 address given inside IPv6 (as a listener on both versions sees it) is the same address,
    and the network log writes it as IPv4; an IPv6 address is matched in its short form."""
    c = await _registered_from(srv, "2001:db8:0:0:0:0:0:17", "dora")
    await c.close()
    d = await _registered_from(srv, "::ffff:203.0.113.80", "emil")
    await d.close()
    for given, who, sub in (("2001:db8::17", "dora", "six"), ("2001:0db8::0017", "dora", "long"),
                            ("::ffff:203.0.113.80", "emil", "mapped"), ("203.0.113.80", "emil", "four")):
        rc, _, err = await srv.admin("export", "--address", given, "--out", str(tmp_path / sub))
        assert rc == 0, err
        assert [p["username"] for p in read_jsonl(tmp_path / sub / "users.jsonl")] == [who], given


@pytest.mark.parametrize("args, says", [
    (["--address", "203.0.113"], "--address must be one IP address"),
    (["--address", "203.0.113.0/24"], "--address must be one IP address"),
    (["--address", "example.com"], "--address must be one IP address"),
    (["--address", "203.0.113.7", "--user", "alice"], "exactly one of --group, --user, --account or --address"),
])
async def test_an_address_export_refuses_what_is_not_one_address(srv, tmp_path, args, says):
    rc, out, err = await srv.admin("export", *args, "--out", str(tmp_path / "x"))
    assert rc == 2 and says in err and "Traceback" not in err, (rc, out, err)
    assert not (tmp_path / "x").exists()


def _iso(ms: int) -> str:
    from server.operator.export import iso

    text = iso(ms)
    assert text is not None
    return text
