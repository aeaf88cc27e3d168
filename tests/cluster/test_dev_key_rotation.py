"""`rotate-key` on a development cluster: no key configured (identity.dev_mode), each node with its
own ``identity.key`` beside its config, the key shared through its copy in the database
(docs/scale-out.md). The home re-sealed everything under the new key but left the copy, and every
other node's file, holding the old key: a running gateway then refused to become the home (it binds
the keys again when it takes the lease), and the service had no home once the old one was gone. The
rotation now replaces the copy in its switch's transaction, and a node binding its keys (at a start
or when it takes the lease) takes the copy when its own file's key is the one rotated away from."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

from tests.cluster.harness import Cluster


async def test_a_running_node_takes_the_rotated_development_key_when_it_becomes_the_home(tmp_path: Path) -> None:
    c = Cluster(tmp_path, size=2)
    for n in c.nodes:  # (no key configured: each node makes or takes identity.key in its own folder)
        text = n.config.read_text(encoding="utf-8")
        n.config.write_text(text.replace(f'key_file = "{c.key_file}"\n', "", 1), encoding="utf-8")
        assert "key_file" not in n.config.read_text(encoding="utf-8")
    c.key_file.unlink()
    try:
        c.start()
        old = c.home()
        [gw] = c.gateways()
        assert (old.dir / "identity.key").read_bytes() == (gw.dir / "identity.key").read_bytes()
        alice = await gw.user(verify_id=True)  # sealed under key 1 by the home
        new_key = c.root / "identity-2.key"
        new_key.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
        code, out, err = await old.admin("rotate-key", "--new-key-file", str(new_key))
        assert code == 0, (out, err)
        assert c.db_rows("SELECT DISTINCT get_byte(phone_enc, 0) FROM users") == [(2,)]
        await alice.close()
        await asyncio.to_thread(old.kill9)

        home = await asyncio.to_thread(c.wait_home, 4 * c.lease_seconds + 10, old)
        assert home is gw, gw.log()[-3000:]
        assert "which a rotation replaced; this node uses the development service's current key (id 2)" in gw.log()
        # It opens what the rotation sealed, and seals what is new under the current key.
        rc, _, err = await gw.admin("export", "--user", alice.username, "--out", str(tmp_path / "x"))
        assert rc == 0, err
        ident = json.loads((tmp_path / "x" / "identity.json").read_text(encoding="utf-8"))
        assert ident["phone"] == alice.phone
        bob = await gw.user(verify_id=True)
        await bob.close()
        assert c.db_rows("SELECT DISTINCT get_byte(phone_enc, 0) FROM users") == [(2,)]
        assert c.db_rows("SELECT DISTINCT get_byte(id_enc, 0) FROM users WHERE length(id_enc) > 0") == [(2,)]
        # (and the operator was told so, rather than to configure the key before the next restart)
        assert "the development key kept in the database is this key now" in out, out
    finally:
        c.cleanup()
