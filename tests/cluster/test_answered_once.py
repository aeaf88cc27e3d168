"""A request forwarded by a gateway is answered exactly once: when the gateway has answered it
`internal` (no answer in time), the home's late answer is not written to the client as well."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import connect

from protocol.codec import SUBPROTOCOL_JSON
from tests.cluster.harness import Cluster, wait_stopped
from tests.e2e.harness import open_group


async def _frames_until(ws: Any, seconds: float) -> list[dict[str, Any]]:
    """Every frame the connection receives within ``seconds``."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
        except TimeoutError:
            break
    return frames


async def test_a_late_answer_after_internal_is_not_written_too(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(size=2, request_timeout_seconds=1.0)
    home, [gw] = c.home(), c.gateways()
    owner = await gw.user()
    gid = await open_group(owner)
    assert owner.token is not None
    async with connect(gw.url, subprotocols=[SUBPROTOCOL_JSON]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"op": "auth", "rid": 1, "token": owner.token}))
        assert json.loads(await ws.recv())["ok"]

        # The home stops for less than a lease (the gateway keeps it as the home) but longer than
        # the request timeout: the gateway answers the send `internal`; then the home runs it.
        assert home.proc is not None
        home.proc.send_signal(signal.SIGSTOP)
        await asyncio.to_thread(wait_stopped, home.proc.pid)
        try:
            await ws.send(json.dumps({"op": "send", "rid": 2, "group_id": gid, "text": "late",
                                      "client_msg_id": "late-1"}))
            first = json.loads(await asyncio.wait_for(ws.recv(), 3.0))
        finally:
            home.proc.send_signal(signal.SIGCONT)
        assert first["re"] == 2 and first["code"] == "internal", first
        later = await _frames_until(ws, 3.0)

        answers = [f for f in later if f.get("re") == 2]
        assert answers == [], f"request 2 was answered twice: {first} then {answers}"
        # The home did store it (internal means "not known to have happened"): a retry with the
        # same client_msg_id gets the stored copy's seq, once.
        await ws.send(json.dumps({"op": "send", "rid": 3, "group_id": gid, "text": "late",
                                  "client_msg_id": "late-1"}))
        retried = [f for f in await _frames_until(ws, 3.0) if f.get("re") == 3]
        assert len(retried) == 1 and retried[0]["ok"], retried
