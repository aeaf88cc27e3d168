"""After a takeover from a home that was lost rather than handed over, every logged-in connection
that stays connected is told to read its state again (``notice {kind: "resync"}``, docs/scale-out.md,
"What a client sees during a failover"): the previous home may have committed changes in its last
moments whose events never left it, and only its ``message`` events can be caught up. After a
clean hand-over (wire.RELEASED) nothing is owed and nothing is said.

A real home (the ``app`` fixture, SQLite) and a gateway built in this process, joined by hand
instead of NATS (see test_cluster_reused_rid.py)."""

from __future__ import annotations

from typing import Any

from server.app import App
from server.cluster.gateway import previous_lost
from tests.server.test_cluster_catch_up import Listener, _logged_in_after_a_takeover, _user
from tests.server.test_cluster_reused_rid import joined, settle


def _resyncs(listener: Listener) -> list[dict[str, Any]]:
    return [e for e in listener.events if e.get("ev") == "notice" and e.get("kind") == "resync"]


async def test_a_takeover_after_a_lost_home_tells_each_logged_in_connection_to_read_again(
        app: App, tmp_path) -> None:
    user = await _user(app, tmp_path, 1)
    home, gw, _ = await joined(app, tmp_path)
    home.epoch = 3
    listener = _logged_in_after_a_takeover(gw, user)  # (it last heard the home of epoch 2)
    anonymous = Listener()
    gw.opened(anonymous)  # type: ignore[arg-type]
    gw.home_alive = False  # the home of epoch 2 went silent...
    gw.on_heartbeat("n1", 3)  # ...and the next one took over
    await settle()
    [notice] = _resyncs(listener)
    assert "read again" in notice["text"]
    assert anonymous.events == []  # (no events to miss before a login)
    # The same home heard again (a cut from NATS, say) owes nothing more: lost events are the
    # numbering's to find (1013).
    gw.reconnected()
    gw.home_alive = False
    gw.on_heartbeat("n1", 3)
    await settle()
    assert len(_resyncs(listener)) == 1
    await home.close()
    await user.close()


async def test_a_home_that_handed_over_owes_no_resync(app: App, tmp_path) -> None:
    user = await _user(app, tmp_path, 1)
    home, gw, _ = await joined(app, tmp_path)
    home.epoch = 3
    listener = _logged_in_after_a_takeover(gw, user)
    gw.home_alive, gw.home_node = True, "n1"
    assert gw.home_went("n1", 2, released=True)  # its last heartbeat: it gave the lease back
    gw.on_heartbeat("n1", 3)
    await settle()
    assert _resyncs(listener) == []
    await home.close()
    await user.close()


def test_which_takeovers_owe_a_resync() -> None:
    assert previous_lost(2, 3, released=False)  # lost: killed, cut off, or its lease taken
    assert not previous_lost(2, 3, released=True)  # handed over
    assert previous_lost(2, 4, released=True)  # a home in between was never heard: it may have been lost
    assert not previous_lost(0, 1, released=False)  # the first home this node hears
    assert not previous_lost(3, 3, released=False)  # the same home again


async def test_messages_missing_at_a_clean_hand_over_are_a_gap_all_the_same(app: App, tmp_path) -> None:
    """The RELEASED heartbeat carries the home's last counts of what it sent; they were not read, so
    the events of the requests it finished while closing (sent after its last regular heartbeat) were
    never checked: one lost there went unnoticed, the next home's first message counting as whole. The
    counts are checked now, and what is missing is a gap (the connections resume: 1013, history)."""
    from server.cluster.gateway import GAP, WHOLE

    home, gw, _ = await joined(app, tmp_path)
    for owed, verdict in ((3, GAP), (1, WHOLE)):
        gw.home_alive, gw.home_node, gw.home_epoch = True, "n1", 2
        gw.numbering.stream, gw.numbering.received, gw.numbering.owed = None, 0, None
        assert gw.numbering.heard(2, 1, 1) == WHOLE  # one message of the home of epoch 2 heard
        assert gw.home_went("n1", 2, released=True, sent={gw.instance: [1, owed]})
        assert gw.numbering.heard(3, 1, 1) == verdict  # the next home's first
    await home.close()


def test_a_connection_accepted_before_the_node_joined_the_cluster_is_told_to_try_again() -> None:
    """A node listens before it has joined the cluster (NATS, the node-id check): a connection accepted
    then was registered with no gateway, and every request of it answered ``internal`` until its auth
    timer closed it. It is closed at once with 1013 (try again)."""
    from types import SimpleNamespace

    from server.cluster.node import ClusterNode
    from server.session import CLOSE_TRY_AGAIN

    closed: list[tuple[int, str]] = []
    sess = SimpleNamespace(close=lambda code, reason: closed.append((code, reason)))
    joining = SimpleNamespace(is_home=False, gateway=None)
    ClusterNode.opened(joining, sess)  # type: ignore[arg-type]
    assert closed == [(CLOSE_TRY_AGAIN, "this node is still joining the cluster; try again")]
    registered: list[object] = []
    ClusterNode.opened(SimpleNamespace(is_home=False, gateway=SimpleNamespace(opened=registered.append)),  # type: ignore[arg-type]
                       sess)
    assert registered == [sess] and len(closed) == 1
