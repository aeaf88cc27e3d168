"""`rotate-key` on a cluster: the home re-seals the identity data under the new key; a gateway
still runs with the old key only (its config not updated yet). If that gateway becomes the home,
it must not serve with a key ring that cannot open the data, any more than it would start with
it (``IdentityVault.bind`` refuses): it would seal new phones and names under the retired key,
the one an operator rotates away from when it leaked, and fail on every value sealed under the new."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable

from tests.cluster.harness import Cluster


async def test_a_gateway_without_the_rotated_key_does_not_become_the_home(
        make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(size=2)
    old = c.home()
    [gw] = c.gateways()
    user = await gw.user()  # a phone sealed under key 1
    new_key = c.root / "identity-2.key"
    new_key.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    code, out, err = await old.admin("rotate-key", "--new-key-file", str(new_key))
    assert code == 0, (out, err)
    assert c.db_rows("SELECT DISTINCT get_byte(phone_enc, 0) FROM users") == [(2,)]
    await asyncio.to_thread(old.kill9)

    deadline = time.monotonic() + 4 * c.lease_seconds + 5
    while time.monotonic() < deadline and gw.alive and c.home_now() is not gw:
        await asyncio.sleep(0.2)
    assert c.home_now() is not gw, "a node without the current identity key became the home"
    await asyncio.to_thread(gw.proc.wait, 10)  # type: ignore[union-attr]
    assert "identity data is sealed with key id 2, which no configured key has" in gw.log(), gw.log()[-3000:]
    await user.close()
