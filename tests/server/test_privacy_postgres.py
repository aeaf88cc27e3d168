"""The PostgreSQL equivalent of scanning the SQLite files: no phone, legal name or ID number in
plain text in any text or bytea column of any table (Art. 6; privacy.md)."""

from __future__ import annotations

import asyncio

import pytest

from tests import pgtools
from tests.e2e.harness import ServerProcess, open_group
from tests.server.test_privacy import IDS, NAMES, PHONES, encodings, register_identities, write_key

pytestmark = pytest.mark.skipif(pgtools.unavailable() is not None, reason=str(pgtools.unavailable()))


def scan_database(srv: ServerProcess, secrets_: list[str]) -> list[str]:
    columns = srv.db_rows(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'public' AND data_type IN ('text', 'bytea', 'character varying')"
        " ORDER BY table_name, column_name")
    assert {t for t, _, _ in columns} >= {"users", "messages", "netlog", "audit", "tokens", "vault_secrets"}
    found = []
    for table, column, kind in columns:
        for (value,) in srv.db_rows(f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'):
            data = bytes(value) if kind == "bytea" else str(value).encode("utf-8")
            for s in secrets_:
                if any(form in data for form in encodings(s)):
                    found.append(f"{s!r} in {table}.{column}")
    return found


async def test_postgresql_columns_hold_no_phone_name_or_id_number_in_plain_text(tmp_path):
    key = write_key(tmp_path, "identity.key")
    srv = ServerProcess(tmp_path, backend="postgresql")
    text = srv.config.read_text(encoding="utf-8")
    srv.config.write_text(text.replace("[identity]\n", f'[identity]\ndev_mode = false\nkey_file = "{key}"\n', 1),
                          encoding="utf-8")
    srv.start()
    try:
        clients = await register_identities(srv)
        gid = await open_group(clients[0])
        await clients[0].send(gid, "canary-明文-消息")
        await clients[1].request("join_group", group_id=gid)
        for c in clients:
            await c.close()
        await asyncio.sleep(0.3)
        # The scan does see what is stored in plain text (so a miss below means something).
        assert scan_database(srv, ["canary-明文-消息"]), "the scanner should find the message text"
        assert scan_database(srv, NAMES + PHONES + IDS) == []
        assert [s for s in NAMES + IDS + PHONES if s in "".join(srv.output)] == []
    finally:
        await srv.cleaned_up()
