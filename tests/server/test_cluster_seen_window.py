"""A gateway tells a new home which groups' messages it relayed lately (wire.SEEN), so that the
home's catch-up sends a connection only the previous home's last messages it never got. The
gateway forgot groups relayed more than twice the catch-up window before *now*; a takeover that
took longer than the window (a slow state load, this node cut off from NATS) then had the new home
send a message the connection already had. While no home is heard, the window counts from the
last heartbeat of the one that went."""

from __future__ import annotations

import time

from server.app import App
from tests.server.test_cluster_reused_rid import joined


async def test_relayed_groups_are_kept_from_the_last_heartbeat_while_no_home_is_heard(app: App, tmp_path) -> None:
    _, gw, _ = await joined(app, tmp_path)
    window = 2 * gw.catch_up_seconds
    now = time.monotonic()
    gw.relayed = {"quiet": (100, now - window - 20), "recent": (7, now - 1)}
    gw.last_heartbeat = now - 30  # the home went silent half a minute ago...
    gw.home_alive = False
    gw.prune(now)  # ...and a takeover took longer than the window
    assert gw.relayed_groups() == {"quiet": 100, "recent": 7}  # relayed within the window of its last beat
    gw.home_alive = True  # a home heard again: the window counts from now
    gw.prune(now)
    assert gw.relayed_groups() == {"recent": 7}
