"""Operator-command and notice helpers shared by the public-account e2e tests."""

from __future__ import annotations

from typing import Any

from client_demo.client import Client
from tests.e2e.harness import ServerProcess

WITHIN = 2.0  # seconds: the contract's bound for a measure's notice to reach the clients concerned


async def admin_ok(srv: ServerProcess, *args: str) -> str:
    """``qunguan admin ARGS`` that must succeed; its standard output."""
    rc, out, err = await srv.admin(*args)
    assert rc == 0, err
    return out


async def admin_refused(srv: ServerProcess, *args: str) -> str:
    """``qunguan admin ARGS`` that must be refused: exit 2, nothing on stdout, one line of reason."""
    rc, out, err = await srv.admin(*args)
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1, (rc, out, err)
    return err


async def notice(client: Client, kind: str) -> dict[str, Any]:
    """The next ``notice`` event of this kind (others are skipped), within WITHIN seconds each."""
    while True:
        ev = await client.next_event("notice", timeout=WITHIN)
        if ev["kind"] == kind:
            return ev
