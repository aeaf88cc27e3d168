"""Personal data at rest (G6, P9): sealed identity fields, stable lookups, key rotation, no plaintext on disk."""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from governance.identity import id_check_char
from server.security import LEGACY_DEV_KEY, IdentityVault, key_fingerprint, read_key
from server.storage.changes import ResealBatch
from server.storage.sqlite import SqliteStore
from tests.e2e.harness import ROOT, ServerProcess, open_group

# Real-looking identities: common and compound surnames, a Uyghur name with a middle dot,
# ID numbers from five provinces with valid GB 11643 check characters (one ends in X).
NAMES = ["张伟", "王芳", "李娜", "欧阳娜娜", "阿依古丽·买买提"]
PHONES = ["13812345678", "15900001234", "18611112222", "17755556666", "19912345678"]


def id_number(region: str, birth: str, serial: str) -> str:
    first17 = region + birth + serial
    return first17 + id_check_char(first17)


def find_x_id() -> str:
    for serial in range(1000):
        n = id_number("510107", "19880808", f"{serial:03d}")
        if n.endswith("X"):
            return n
    raise AssertionError("no serial gives X")


IDS = [
    id_number("110105", "19900307", "123"),
    id_number("310104", "19851120", "046"),
    id_number("440305", "20000229", "371"),  # born on a 29 February
    find_x_id(),
    id_number("650102", "19760615", "208"),
]


def encodings(text: str) -> list[bytes]:
    forms = {text.encode("utf-8"), text.encode("utf-16-le"), text.encode("utf-16-be")}
    try:
        forms.add(text.encode("gbk"))
    except UnicodeEncodeError:
        pass
    if text.isascii():
        forms.add(text.lower().encode())
    return sorted(forms)


def disk_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith("qunguan.db")]


def scan(folder: Path, secrets_: list[str]) -> list[str]:
    found = []
    for path in disk_files(folder):
        data = path.read_bytes()
        for s in secrets_:
            for form in encodings(s):
                if form in data:
                    found.append(f"{s!r} as {form!r} in {path.name}")
    return found


def keyed_server(folder: Path, key: Path) -> ServerProcess:
    """A server in production mode (no development key) with ``key`` as its identity key."""
    srv = ServerProcess(folder)
    text = srv.config.read_text(encoding="utf-8")
    srv.config.write_text(text.replace("[identity]\n", f'[identity]\ndev_mode = false\nkey_file = "{key}"\n', 1),
                          encoding="utf-8")
    return srv


def write_key(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text(secrets.token_hex(32) + "\n")
    return path


async def register_identities(srv: ServerProcess) -> list:
    clients = []
    for i, (name, phone, idn) in enumerate(zip(NAMES, PHONES, IDS, strict=True)):
        c = await srv.client()
        await c.request("request_code", phone=phone)
        await c.request("register", username=f"citizen{i}", password="password123", phone=phone,
                        code=srv.last_code(phone), display_name=f"Citizen {i}")
        await c.login(f"citizen{i}", "password123")
        await c.request("verify_identity", legal_name=name, id_number=idn)
        c.username, c.phone = f"citizen{i}", phone
        clients.append(c)
    return clients


async def test_database_files_hold_no_phone_name_or_id_number_in_plain_text(tmp_path):
    key = write_key(tmp_path, "identity.key")
    srv = keyed_server(tmp_path, key).start()
    try:
        clients = await register_identities(srv)
        gid = await open_group(clients[0])
        await clients[0].send(gid, "canary-明文-消息")
        for c in clients:
            await c.close()
        await asyncio.sleep(0.3)
        files = {p.name for p in disk_files(tmp_path)}
        assert "qunguan.db-wal" in files  # the scan covers the write-ahead log while the server runs
        # The scan does see what is stored in plain text (so a miss below means something).
        assert scan(tmp_path, ["canary-明文-消息"]), "the scanner should find the message text"
        assert scan(tmp_path, NAMES + PHONES + IDS) == []
        # Nor does the server's own log.
        log = "".join(srv.output)
        assert [s for s in NAMES + IDS + PHONES if s in log] == []
    finally:
        await srv.stopped()
    assert scan(tmp_path, NAMES + PHONES + IDS) == []  # after the final checkpoint too


async def test_rotate_key_reencrypts_everything_and_lookups_still_work(tmp_path):
    k1 = write_key(tmp_path, "k1.key")
    srv = keyed_server(tmp_path, k1).start()
    try:
        clients = await register_identities(srv)
        for c in clients:
            await c.close()
        db = tmp_path / "qunguan.db"

        def key_ids() -> set[int]:
            con = sqlite3.connect(db, timeout=10)
            try:
                rows = con.execute("SELECT phone_enc, id_enc, name_enc FROM users").fetchall()
            finally:
                con.close()
            return {b[0] for row in rows for b in row if b}

        assert key_ids() == {1}
        k2 = write_key(tmp_path, "k2.key")
        rc, out, err = await srv.admin("rotate-key", "--new-key-file", "k2.key", "--reason", "annual rotation")
        assert rc == 0, err
        assert "key id 2 is now current" in out and "re-sealed 15 values in 5 accounts" in out, out
        assert "0 accounts still hold" in out
        assert key_ids() == {2}
        # Lookups did not change: the same phone is still taken, the same ID still counted.
        c = await srv.client()
        await c.request("request_code", phone=PHONES[0])
        r = await c.call("register", username="twin", password="password123", phone=PHONES[0],
                         code=srv.last_code(PHONES[0]))
        assert r["code"] == "conflict"
        other = await srv.user()
        assert (await other.call("verify_identity", legal_name="张伟", id_number=IDS[0]))["code"] == "conflict"
        # Running again is harmless: nothing left to re-seal.
        rc, out, _ = await srv.admin("rotate-key", "--new-key-file", str(k2))
        assert rc == 0 and "already registered" in out and "re-sealed 0 values" in out
        rc, _, err = await srv.admin("rotate-key", "--new-key-file", "missing.key")
        assert rc == 2 and len(err.strip().splitlines()) == 1
    finally:
        await srv.stopped()
    # The old key alone no longer opens the database: refused with one line naming the key id.
    done = subprocess.run([sys.executable, "-m", "server", "serve", "--config", str(srv.config)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and "key id 2" in done.stderr, done.stderr
    # With the new key current (old key gone) everything opens; an export decrypts identity.
    srv.config.write_text(srv.config.read_text().replace(str(k1), str(k2)))
    srv.start()
    try:
        c = await srv.client()
        await c.login("citizen1", "password123")
        rc, _, err = await srv.admin("export", "--user", "citizen4", "--out", str(tmp_path / "exp"))
        assert rc == 0, err
        ident = (tmp_path / "exp" / "identity.json").read_text(encoding="utf-8")
        assert NAMES[4] in ident and IDS[4] in ident and PHONES[4] in ident
        actions = sqlite3.connect(tmp_path / "qunguan.db").execute("SELECT action FROM audit").fetchall()
        assert ("rotate_key",) in actions
    finally:
        await srv.stopped()


def test_dev_mode_false_without_a_key_refuses_to_start(tmp_path):
    (tmp_path / "q.toml").write_text("[server]\nport = 0\n[identity]\ndev_mode = false\n")
    done = subprocess.run([sys.executable, "-m", "server", "serve", "--config", str(tmp_path / "q.toml")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    # One line says why; before it, the config's warnings (the development providers in production).
    why = [line for line in done.stderr.strip().splitlines() if " WARNING qunguan config: " not in line]
    assert len(why) == 1 and "identity.dev_mode = false" in why[0], done.stderr


def test_a_start_that_cannot_reach_its_database_leaves_no_key_file_behind(tmp_path):
    """Without a configured key, serve made identity.key first and then failed on an unreachable
    PostgreSQL: a key no database ever used was left behind (and would be taken for the real one).
    The new key is written once the store is open, just before the database registers it."""
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "q.toml").write_text(f'[server]\nport = 0\n[storage]\nurl = "postgresql://postgres@127.0.0.1:{port}/x"\n')
    done = subprocess.run([sys.executable, "-m", "server", "serve", "--config", str(tmp_path / "q.toml")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2, done.stderr
    assert "cannot be used" in done.stderr, done.stderr
    assert not (tmp_path / "identity.key").exists()
    assert "created a new identity key" not in done.stdout + done.stderr


# -- the vault alone ------------------------------------------------------------------------------
async def open_store(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    await store.open()
    return store


async def add_user(store: SqliteStore, vault: IdentityVault, uid: str, phone: str) -> None:
    async def fn(db):
        await db.execute(
            "INSERT INTO users (user_id, username, username_key, password_hash, display_name, phone_hmac,"
            " phone_enc, credit_score, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (uid, uid, uid, "h", uid, vault.lookup("phone", phone), vault.seal(phone), 100, 0))

    await store.run_in_batch(fn)


def test_seal_carries_the_key_id_and_binds_it():
    vault = IdentityVault(read_key(secrets.token_hex(32).encode()))
    blob = vault.seal("张伟")
    assert blob[0] == 1 and vault.open(blob) == "张伟"
    with pytest.raises(InvalidTag):
        vault.open(bytes([1]) + blob[1:-1] + bytes([blob[-1] ^ 1]))  # tampered
    assert vault.seal("张伟") != blob  # fresh nonce each time


def test_from_config(tmp_path, monkeypatch):
    """No built-in key: without one configured, the first start makes a random key file (0600) and reuses it.
    The file is written when the vault is bound to its open store (save_new_key), not before."""
    path = tmp_path / "data" / "identity.key"
    first = IdentityVault.from_config(None, "", default_key_file=path)
    assert not path.exists()
    first.save_new_key()
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(bytes.fromhex(path.read_text().strip())) == 32
    again = IdentityVault.from_config(None, "", default_key_file=path)
    assert again.open(first.seal("张伟")) == "张伟"
    other = IdentityVault.from_config(None, "", default_key_file=tmp_path / "elsewhere.key")
    with pytest.raises(InvalidTag):
        other.open(first.seal("张伟"))
    for vault in (first, other):
        with pytest.raises(InvalidTag):
            IdentityVault(LEGACY_DEV_KEY).open(vault.seal("张伟"))  # never sealed with the published key
    with pytest.raises(ValueError, match="dev_mode"):
        IdentityVault.from_config(None, "", dev_mode=False, default_key_file=tmp_path / "x.key")
    assert not (tmp_path / "x.key").exists()
    monkeypatch.setenv("QG_KEY", secrets.token_hex(32))
    IdentityVault.from_config(None, "QG_KEY", dev_mode=False)


async def test_bind_assigns_ids_keeps_lookups_and_refuses_a_wrong_key(tmp_path):
    db = tmp_path / "v.db"
    k1, k2, stranger = (secrets.token_bytes(32) for _ in range(3))
    store = await open_store(db)
    v = IdentityVault(k1)
    await v.bind(store, 0)
    assert v.key_id == 1
    await add_user(store, v, "u1", "13812345678")
    lookup = v.lookup("phone", "13812345678")
    kid, new = await v.rotate(store, k2, 1)
    assert (kid, new, v.key_id) == (2, True, 2)
    await add_user(store, v, "u2", "13812345679")  # sealed under key 2 while u1 is still under key 1
    assert v.lookup("phone", "13812345678") == lookup
    await store.close()

    # Restart with both keys: everything opens, lookups unchanged.
    store = await open_store(db)
    both = IdentityVault(k2, old_keys=[k1])
    await both.bind(store, 2)
    assert both.key_id == 2 and both.lookup("phone", "13812345678") == lookup
    rows = await store._fetchall("SELECT user_id, phone_enc FROM users ORDER BY user_id")
    assert [(r[0], bytes(r[1])[0], both.open(bytes(r[1]))) for r in rows] == [
        ("u1", 1, "13812345678"), ("u2", 2, "13812345679")]
    await store.close()

    # Only the new key: u1 is still sealed under key 1, so the server must not start.
    store = await open_store(db)
    with pytest.raises(ValueError, match="key id 1"):
        await IdentityVault(k2).bind(store, 3)
    # A key the database has never seen, alone: refused too.
    with pytest.raises(ValueError, match="key id"):
        await IdentityVault(stranger).bind(store, 3)
    fps = {r[0] for r in await store._fetchall("SELECT fingerprint FROM vault_keys")}
    assert key_fingerprint(stranger) not in fps  # a refused start registers nothing
    await store.close()


async def test_a_database_from_before_rotation_keeps_its_lookups(tmp_path):
    """Rows written by the earlier layout (key id 1, lookup key derived from it) stay valid."""
    db = tmp_path / "legacy.db"
    store = await open_store(db)
    legacy = IdentityVault(LEGACY_DEV_KEY, dev=True)  # not bound: the pre-rotation behaviour
    await add_user(store, legacy, "u1", "13900000000")
    before = legacy.lookup("phone", "13900000000")
    bound = IdentityVault(LEGACY_DEV_KEY, dev=True)
    await bound.bind(store, 0)
    assert bound.lookup("phone", "13900000000") == before
    await store.close()
    # A fresh database gets a random lookup key instead of one derived from a (possibly public) key.
    store = await open_store(tmp_path / "fresh.db")
    fresh = IdentityVault(LEGACY_DEV_KEY, dev=True)
    await fresh.bind(store, 0)
    assert fresh.lookup("phone", "13900000000") != before
    await store.close()


async def test_a_wrong_key_for_existing_data_is_refused(tmp_path):
    store = await open_store(tmp_path / "w.db")
    await add_user(store, IdentityVault(secrets.token_bytes(32)), "u1", "13900000001")
    with pytest.raises(ValueError, match="does not open"):
        await IdentityVault(secrets.token_bytes(32)).bind(store, 0)
    await store.close()


async def _sealed_with_the_development_key(tmp_path):
    """A database of an install that ran on the published development key, with one user sealed."""
    db = tmp_path / "dev.db"
    store = await open_store(db)
    old = IdentityVault(LEGACY_DEV_KEY)
    await old.bind(store, 0)
    await add_user(store, old, "u1", "13900000002")
    await store.close()
    return db


async def test_a_database_sealed_with_the_old_development_key_still_opens(tmp_path):
    """Upgrading an install that ran on the published development key: its data opens, new seals use the new key."""
    db = await _sealed_with_the_development_key(tmp_path)
    store = await open_store(db)
    new = IdentityVault(secrets.token_bytes(32))
    await new.bind(store, 1)
    rows = await store._fetchall("SELECT phone_enc FROM users")
    assert new.open(bytes(rows[0][0])) == "13900000002"
    assert new.seal("x")[0] == new.key_id != 1
    await store.close()


async def test_an_install_from_before_key_files_starts_with_a_new_key_and_opens_its_old_data(tmp_path, caplog):
    """An upgrade reviewer's find: a database of an install that sealed with the published
    development key (no key file ever existed) was refused at start, asking to "put the key file
    back". It takes a new key file, as a new database does, and the old key opens what it sealed;
    the warning to run rotate-key lasts only while something is still sealed with the old key."""
    import logging

    db = await _sealed_with_the_development_key(tmp_path)

    key_file = tmp_path / "identity.key"
    store = await open_store(db)
    vault = IdentityVault.from_config(None, "", dev_mode=True, default_key_file=key_file)
    with caplog.at_level(logging.WARNING, "qunguan"):
        await vault.bind(store, 1)  # (refused before)
    assert key_file.exists()
    rows = await store._fetchall("SELECT phone_enc FROM users")
    assert vault.open(bytes(rows[0][0])) == "13900000002"
    assert "still sealed with the published development key" in caplog.text
    await store.close()

    # once nothing is sealed with the old key any more (rotate-key re-sealed it), no warning
    store = await open_store(db)
    await store._w.execute("DELETE FROM users")  # (as after a re-seal: no value under the old key)
    await store._w.commit()
    caplog.clear()
    again = IdentityVault.from_config(key_file, "", dev_mode=True, default_key_file=key_file)
    with caplog.at_level(logging.WARNING, "qunguan"):
        await again.bind(store, 2)
    assert "development key" not in caplog.text
    await store.close()


async def test_a_development_keys_copy_in_the_database_follows_the_current_key(tmp_path):
    """identity.dev_mode with no key configured on PostgreSQL keeps a copy of the key in the database for
    the nodes of a development service (vault_secrets, dev_identity_key). rotate-key left that copy, and
    each node's own identity.key, holding the key it rotated away from: every node then refused to start
    or to become the home. The copy now follows each switch; a node whose own file holds the key rotated
    away takes the copy; a configured key is never copied, and a copy it would leave stale is dropped.
    (The store here is SQLite's, which has the same table; the server shares the key on PostgreSQL only.)"""
    store = await open_store(tmp_path / "dev.db")

    def node(folder: str) -> IdentityVault:
        return IdentityVault.from_config(None, "", dev_mode=True, default_key_file=tmp_path / folder / "identity.key",
                                         share_dev_key=True)

    async def copy() -> bytes | None:
        raw = await store.shared_dev_key()
        return None if raw is None else read_key(raw)

    async def set_copy(key: bytes) -> None:
        async def fn(db):
            await db.execute("UPDATE vault_secrets SET value = ? WHERE name = 'dev_identity_key'",
                             (key.hex().encode(),))
        await store.run_in_batch(fn)

    first = node("a")
    await first.bind(store, 0)
    k1 = read_key((tmp_path / "a" / "identity.key").read_bytes())
    assert await copy() == k1
    await add_user(store, first, "u1", "13800000001")
    k2 = secrets.token_bytes(32)
    assert await first.rotate(store, k2, 1) == (2, True)
    assert await copy() == k2  # in the switch's transaction
    await add_user(store, first, "u2", "13800000002")

    # The node that made k1, started again on its file: k2 is current, k1 still opens what it sealed.
    again = node("a")
    await again.bind(store, 2)
    assert again.key_id == 2 and read_key((tmp_path / "a" / "identity.key").read_bytes()) == k1
    rows = await store._fetchall("SELECT phone_enc FROM users ORDER BY user_id")
    assert [again.open(bytes(r[0])) for r in rows] == ["13800000001", "13800000002"]
    assert bytes(again.seal("x"))[0] == 2
    # A fresh node takes the copy, k2, into its own file; while the rotation has not re-sealed everything
    # it cannot open what k1 still seals (it never had k1): refused, it starts once the rotation is done.
    with pytest.raises(ValueError, match="key id 1"):
        await node("b").bind(store, 3)
    (batch,) = await store.apply(ResealBatch("", 100, first.reseal))
    assert batch[0] is None
    fresh = node("b")
    await fresh.bind(store, 3)
    assert fresh.key_id == 2 and read_key((tmp_path / "b" / "identity.key").read_bytes()) == k2
    # A key file from elsewhere is refused as before, not replaced by the copy.
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "identity.key").write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="key id"):
        await node("c").bind(store, 4)
    assert await copy() == k2

    # A copy left stale by a rotation before the copy followed: the node with the old file cannot know
    # the new key (refused, as before); one whose file holds the current key puts the copy right.
    await set_copy(k1)
    with pytest.raises(ValueError, match="key id 2"):
        await node("a").bind(store, 5)
    await node("b").bind(store, 6)
    assert await copy() == k2
    await node("a").bind(store, 7)

    # A configured key (never copied): binding with the current one leaves the copy; making another
    # current drops it, so that no node starts on a key the service no longer seals with.
    await IdentityVault(k2).bind(store, 8)
    assert await copy() == k2
    k3 = secrets.token_bytes(32)
    await IdentityVault(k3, old_keys=[k2]).bind(store, 9)
    assert await copy() is None
    assert first.shares_dev_key and not IdentityVault(k3).shares_dev_key
    await store.close()
