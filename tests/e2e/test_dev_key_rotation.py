"""`rotate-key` on a development service on PostgreSQL (identity.dev_mode, no key configured).

The first start makes ``identity.key`` in the config file's folder and keeps a copy of the key in
the database (``vault_secrets``, ``dev_identity_key``), so that a node in a folder of its own takes
it at its first start (docs/scale-out.md). From a review: ``rotate-key`` re-sealed every value under
the new key but left that copy holding the old one. A fresh node then took the retired key from the
database and was refused ("identity data is sealed with key id 2, which no configured key has"), as
was the node that made the key, restarted later with its own ``identity.key`` (the old key), and so
every node of the development service at its next start. Now the rotation's switch also replaces the
copy, and a node whose own key file the database has seen rotated away takes the copy as its
current key (its file's key still opens what that key sealed).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from tests import pgtools
from tests.e2e.harness import ServerProcess, new_id_number


@pytest.fixture(params=["postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The copy of the key in the database is PostgreSQL's only (SQLite's key sits beside its file)."""
    reason = pgtools.unavailable()
    if reason is not None:
        pytest.skip(reason)
    return str(request.param)


def another_node(first: ServerProcess, folder: Path) -> ServerProcess:
    """A server in a folder of its own (its own key file, outbox, admin socket) on ``first``'s database."""
    folder.mkdir(parents=True, exist_ok=True)
    node = ServerProcess(folder)  # (writes a config of its own: replaced by the first's just below)
    (folder / "qunguan.db").unlink(missing_ok=True)
    node.config.write_text(first.config.read_text(encoding="utf-8"), encoding="utf-8")
    node.backend, node.pg_url = "postgresql", first.pg_url  # (db_rows: the shared database; cleanup drops nothing)
    return node


def shared_copy(srv: ServerProcess) -> bytes:
    [(raw,)] = srv.db_rows("SELECT value FROM vault_secrets WHERE name = 'dev_identity_key'")
    return bytes(raw)


async def identity_of(srv: ServerProcess, username: str, out: Path) -> tuple[str, str, str]:
    rc, _, err = await srv.admin("export", "--user", username, "--out", str(out))
    assert rc == 0, err
    ident = json.loads((out / "identity.json").read_text(encoding="utf-8"))
    return ident["phone"], ident["legal_name"], ident["id_number"]


async def test_after_rotate_key_a_new_node_and_a_restarted_one_use_the_new_key(tmp_path, started, backend):
    (tmp_path / "a").mkdir()
    first = started(ServerProcess(tmp_path / "a", backend=backend))
    own_key = first.dir / "identity.key"
    old = bytes.fromhex(own_key.read_text(encoding="utf-8").strip())
    assert shared_copy(first) == own_key.read_bytes()
    alice = await first.user("alice")
    alice_id = new_id_number("19800101")
    await alice.request("verify_identity", legal_name="张三", id_number=alice_id)
    await alice.close()

    new_key = tmp_path / "identity-2.key"
    new_key.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    rc, out, err = await first.admin("rotate-key", "--new-key-file", str(new_key))
    assert rc == 0, (out, err)
    assert first.db_rows("SELECT DISTINCT get_byte(id_enc, 0) FROM users WHERE length(id_enc) > 0") == [(2,)]
    await first.stopped()

    # A node joining the development service now, in a folder of its own, starts on the current key.
    fresh = started(another_node(first, tmp_path / "b"))
    assert bytes.fromhex((fresh.dir / "identity.key").read_text().strip()) == bytes.fromhex(
        new_key.read_text().strip())
    assert await identity_of(fresh, "alice", tmp_path / "x1") == (alice.phone, "张三", alice_id)
    bob = await fresh.user("bob", verify_id=True)
    await bob.close()
    assert fresh.db_rows("SELECT DISTINCT get_byte(id_enc, 0) FROM users WHERE length(id_enc) > 0") == [(2,)]
    await fresh.stopped()

    # The node that made the first key, restarted with its own identity.key (the old key), starts too,
    # opens what the rotation sealed, and seals what is new under the current key, never the old one.
    first.start()
    assert own_key.read_bytes() and bytes.fromhex(own_key.read_text().strip()) == old  # (its file: as it was)
    assert await identity_of(first, "alice", tmp_path / "x2") == (alice.phone, "张三", alice_id)
    carol = await first.user("carol", verify_id=True)
    await carol.close()
    assert first.db_rows("SELECT DISTINCT get_byte(phone_enc, 0) FROM users") == [(2,)]
    assert first.db_rows("SELECT DISTINCT get_byte(id_enc, 0) FROM users WHERE length(id_enc) > 0") == [(2,)]
    assert await first.logged("which a rotation replaced; this node uses the development service's current key")
    # The copy the nodes read is the key now current, not the one rotated away.
    assert bytes.fromhex(shared_copy(first).decode().strip()) == bytes.fromhex(new_key.read_text().strip()) != old
    # (and the operator was told so, rather than to configure the key before the next restart)
    assert "the development key kept in the database is this key now" in out, out
